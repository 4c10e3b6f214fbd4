/**
 * `HookedModel`: a transformer compiled to ONNX Runtime graphs on demand, one
 * per (hooks cached, interventions, logits mode, KV cache) and cached (one
 * session serving them all for quantized weights: planServer.ts), with
 * TransformerLens-style `run`/`runWithCache` and KV-cached `generate`.
 */
import type { FeatureEncoder, Intervention } from '../hooks/interventions.ts';
import { hookPoints, type HookPoint } from '../hooks/points.ts';
import { resolveHooks } from '../hooks/resolve.ts';
import type { WeightSource } from '../io/weights.ts';
import { Session, type Feed, type RuntimeOptions } from '../runtime/session.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';
import type { ArchAdapter, CanonicalWeight } from './adapters/adapter.ts';
import { BuildCtx, type GraphPlan } from './graph/context.ts';
import { buildTransformer } from './graph/transformer.ts';
import { batchInputs, validateTokens } from './inputs.ts';
import { interventionFeeds } from './interventionFeeds.ts';
import type { ModelSpec } from './spec.ts';
import { WeightResolver } from './weightRefs.ts';
import { numel } from '../tensor/tensor.ts';
import type { ChatTemplate } from '../tokenizer/chatTemplate.ts';
import { generateBatch } from './generateBatch.ts';
import { generate, type GenerateOptions, type GenerateResult } from './generate.ts';
import { WeightStore, type WeightStoreStats } from './weightStore.ts';
import { QuantCache, type LinearToQuantize, type QuantCacheOptions } from './quant/quantCache.ts';
import type { QuantSource } from './quant/quantSource.ts';
import { blockSizeFor, type QuantBits } from './quant/blockQuant.ts';
import { PlanServer } from './planServer.ts';

/**
 * How the weights are held: float32 (default, exact), or block-quantized
 * linear layers. `int8` and `int4` compute against 8-bit activations (ONNX
 * Runtime's fast kernels, which repack the weights with each block's scale and
 * sum: 1.4-1.6x the quantized file in memory); `int4-f32` computes the same
 * 4-bit weights against float32 activations, holding them as stored (about
 * 1.2x the file) and closer to f32, decoding one row at about 65% of
 * `int4`'s speed but a few rows at once far slower (its kernel then
 * dequantizes every block at each step: 2 rows at 17 against 62 tokens/s on
 * Llama-3.2-1B's shapes).
 */
export type WeightMode = (typeof WEIGHT_MODES)[number];

/** Every weight mode. */
export const WEIGHT_MODES = ['f32', 'int8', 'int4', 'int4-f32'] as const;

/** Bits per linear-layer weight in each mode. */
export const WEIGHT_BITS: Readonly<Record<WeightMode, 32 | QuantBits>> = { f32: 32, int8: 8, int4: 4, 'int4-f32': 4 };

/** `v` as a weight mode, or an error naming `what` and every mode. */
export function checkWeightMode(v: unknown, what: string): WeightMode {
  if (!(WEIGHT_MODES as readonly unknown[]).includes(v)) throw new Error(`${what} must be one of ${WEIGHT_MODES.join(', ')}, got '${String(v)}'`);
  return v as WeightMode;
}

/** Model-level options beyond the ORT runtime. */
export interface ModelOptions extends QuantCacheOptions {
  /** Weight precision (default `'f32'`). */
  readonly weights?: WeightMode;
  /** Compiled sessions kept at most (least recently used ones are released; default 12). */
  readonly maxSessions?: number;
  /** The model's HF hub id, when known (written as SAELens's model_name). */
  readonly hfId?: string;
  /** The instruct model's chat template, when its folder has one. */
  readonly chatTemplate?: ChatTemplate;
  /** Quantized weights already at hand (a static site's), instead of the on-disk cache. */
  readonly quant?: QuantSource;
}

/** What `info()` reports. */
export interface ModelInfo {
  readonly name: string;
  readonly modelType: string;
  /** Parameters in the checkpoint (tied tensors counted once). */
  readonly parameters: number;
  /** Stored element types and their tensor counts, e.g. `{BF16: 146}`. */
  readonly storedDtypes: Readonly<Record<string, number>>;
  readonly weightMode: WeightMode;
  /** float32 weights read into memory so far. */
  readonly weights: WeightStoreStats;
  /** Bytes of the quantized cache file, in int8/int4 modes, once opened. */
  readonly quantizedBytes?: number;
  /** Compiled sessions alive, by plan. */
  readonly sessions: readonly string[];
}

const LINEAR_WEIGHTS: readonly CanonicalWeight[] = ['W_Q', 'W_K', 'W_V', 'W_qkv', 'W_O', 'W_gate', 'W_in', 'W_out'];

/** What to run on: one text, several texts, one token sequence, or several. */
export type ModelInput = string | readonly string[] | readonly number[] | readonly (readonly number[])[];

/** Options of `run`. */
export interface RunOptions {
  /** Hook names or globs whose activations to return. */
  readonly cache?: readonly string[];
  /** Interventions applied during this call only. */
  readonly interventions?: readonly Intervention[];
  /**
   * Logits for every position (default), the last only, or none. With
   * `'none'` the pass stops at the last cached hook (SAELens's stop_at_layer).
   */
  readonly logits?: 'all' | 'last' | 'none';
  /** Prepend BOS to texts (default true, as the model expects). */
  readonly prependBos?: boolean;
}

/** What `run` returns. */
export interface RunResult {
  /** Logits [batch, pos, dVocab] ([batch, 1, dVocab] with `logits: 'last'`); absent with `'none'`. */
  readonly logits?: Tensor<'float32'>;
  /** Cached activations by hook name, each [batch, pos, ...] as the hook documents. */
  readonly cache: Readonly<Record<string, Tensor<'float32'>>>;
  /** The token ids that ran, per sequence (unpadded). */
  readonly tokens: readonly (readonly number[])[];
  /** Real length of each sequence; positions past it are padding. */
  readonly lengths: readonly number[];
}

/** A loaded model ready to run. */
export class HookedModel {
  /** Every hook point, in forward order. */
  readonly hooks: readonly HookPoint[];
  private readonly sessions = new Map<string, Promise<Session>>();
  private readonly resolver: WeightResolver;
  private readonly store: WeightStore;
  private quant?: QuantSource;
  private readonly server?: PlanServer;
  /** Weight precision of this model's graphs. */
  readonly weightMode: WeightMode;

  constructor(
    /** Model name (folder, HF id or file). */
    readonly name: string,
    /** Architecture hyper-parameters. */
    readonly spec: ModelSpec,
    private readonly adapter: ArchAdapter,
    private readonly weights: WeightSource,
    /** The model's tokenizer, when it has one. */
    readonly tokenizer: TextTokenizer | undefined,
    private readonly runtime: RuntimeOptions = {},
    private readonly options: ModelOptions = {},
  ) {
    this.weightMode = options.weights ?? 'f32';
    checkWeightMode(this.weightMode, 'weights');
    this.resolver = new WeightResolver(adapter, weights, name);
    this.store = new WeightStore(weights, name);
    this.checkWeights();
    this.hooks = hookPoints({
      nLayers: spec.nLayers,
      learnedPositions: spec.positions === 'learned',
      parallelResidual: spec.parallelResidual,
      gatedMlp: spec.gatedMlp,
      postNorms: spec.postNorms,
    });
    if (this.weightMode !== 'f32') this.server = new PlanServer(spec, this.hooks, (plan, encoders) => this.compile(plan, encoders, true));
  }

  /**
   * Token ids of `text` as one user turn with the assistant's turn opened
   * (what HF's apply_chat_template(add_generation_prompt=True) tokenizes);
   * throws when the model has no chat template.
   */
  chatPrompt(text: string, system?: string): number[] {
    const t = this.options.chatTemplate;
    if (!t) throw new Error(`${this.name} has no chat template (no chat_template in tokenizer_config.json, no chat_template.jinja): --chat needs an instruct model's template`);
    if (!this.tokenizer) throw new Error(`${this.name} has no tokenizer`);
    const messages = system ? [{ role: 'system', content: system }, { role: 'user', content: text }] : [{ role: 'user', content: text }];
    return this.tokenizer.encode(t.render(messages, true), { bos: false });
  }

  /** Whether `chatPrompt` can wrap prompts (the model has a chat template). */
  get hasChatTemplate(): boolean {
    return this.options.chatTemplate !== undefined;
  }

  /** The model's HF hub id, when it was loaded by id or its config.json names one. */
  get hfId(): string | undefined {
    return this.options.hfId;
  }

  /** Resolves hook names and globs (throws listing valid hooks on an unknown one). */
  resolveHooks(patterns: readonly string[]): HookPoint[] {
    return resolveHooks(patterns, this.hooks);
  }

  /** Token ids of texts or sequences, validated against vocabulary and context. */
  toTokens(input: ModelInput, prependBos = true): number[][] {
    let seqs: number[][];
    if (typeof input === 'string') seqs = [this.encode(input, prependBos)];
    else if (input.length > 0 && typeof input[0] === 'string') seqs = (input as string[]).map((t) => this.encode(t, prependBos));
    else if (input.length > 0 && typeof input[0] === 'number') seqs = [[...(input as number[])]];
    else seqs = (input as number[][]).map((s) => [...s]);
    validateTokens(seqs, this.spec);
    return seqs;
  }

  /** Runs a forward pass, returning logits and the requested hooks. */
  async run(input: ModelInput, opts: RunOptions = {}): Promise<RunResult> {
    const tokens = this.toTokens(input, opts.prependBos ?? true);
    const batch = batchInputs(tokens);
    const T = batch.input_ids.shape[1];
    const iv = interventionFeeds(opts.interventions ?? [], this.hooks, this.spec, tokens.length, T);
    const cache = this.resolveHooks(opts.cache ?? []).map((h) => h.name);
    const logits = opts.logits ?? 'all';
    const plan = this.plan({ cache, add: iv.add, replace: iv.replace, clamp: iv.clamp, logits, kvCache: false });
    const out = await this.runPlan(plan, { input_ids: batch.input_ids, position_ids: batch.position_ids, attn_bias: batch.attn_bias, ...iv.feeds }, iv.encoders);
    const cached: Record<string, Tensor<'float32'>> = {};
    for (const h of cache) cached[h] = out[h];
    return { logits: out.logits, cache: cached, tokens, lengths: batch.lengths };
  }

  /** `run` with `cache` required: TransformerLens's name for it. */
  runWithCache(input: ModelInput, opts: RunOptions & { cache: readonly string[] }): Promise<RunResult> {
    return this.run(input, opts);
  }

  /** Generates from a prompt with the KV cache (see `GenerateOptions`). */
  generate(prompt: string | readonly number[], opts?: GenerateOptions): Promise<GenerateResult>;
  /**
   * Generates for several prompts at once (one batch, one KV cache): `opts`
   * applies to every row and `perRow[i]` adds or overrides row i's settings
   * (interventions, sampling, seed, stops). Greedy rows give the tokens they
   * give alone. Results in prompt order.
   */
  generate(prompts: readonly (string | readonly number[])[], opts?: GenerateOptions & { readonly perRow?: readonly Omit<GenerateOptions, 'onToken' | 'kvCache'>[]; readonly maxBatch?: number }): Promise<GenerateResult[]>;
  generate(prompt: string | readonly number[] | readonly (string | readonly number[])[], opts: GenerateOptions & { readonly perRow?: readonly Omit<GenerateOptions, 'onToken' | 'kvCache'>[]; readonly maxBatch?: number } = {}): Promise<GenerateResult | GenerateResult[]> {
    if (typeof prompt !== 'string' && (prompt.length === 0 || typeof prompt[0] !== 'number')) {
      const prompts = prompt as readonly (string | readonly number[])[];
      if (opts.perRow && opts.perRow.length !== prompts.length) throw new Error(`perRow has ${opts.perRow.length} entries for ${prompts.length} prompts`);
      if (opts.kvCache === false) throw new Error('batched generation always uses the KV cache');
      const { perRow, maxBatch, onToken, ...shared } = opts;
      return generateBatch(this, prompts.map((p, i) => ({ ...shared, ...perRow?.[i], prompt: p })), { maxBatch, onToken: onToken ? (_row, id, text) => onToken(id, text) : undefined });
    }
    return generate(this, prompt as string | readonly number[], opts);
  }

  /**
   * A compiled session for a plan (cached per model, least recently used
   * released past `maxSessions`); clamps need their encoders. Quantized
   * models run plans through `runPlan`, which serves them all from one session.
   */
  session(plan: GraphPlan, encoders: ReadonlyMap<string, FeatureEncoder> = new Map()): Promise<Session> {
    const key = JSON.stringify(plan);
    let s = this.sessions.get(key);
    if (s) {
      this.sessions.delete(key);
      this.sessions.set(key, s);
      return s;
    }
    s = this.compile(plan, encoders);
    this.sessions.set(key, s);
    s.catch(() => this.sessions.delete(key));
    const max = this.options.maxSessions ?? 12;
    while (this.sessions.size > max) {
      const [oldKey, old] = this.sessions.entries().next().value as [string, Promise<Session>];
      this.sessions.delete(oldKey);
      // Released once its in-flight runs have had their turn.
      void old.then((o) => setTimeout(() => void o.release(), 0)).catch(() => undefined);
    }
    return s;
  }

  /** A normalized plan: with no logits, stops after the last hook it needs. */
  plan(p: Omit<GraphPlan, 'stopAfter'>): GraphPlan {
    const sorted = { ...p, cache: [...p.cache].sort(), add: [...p.add].sort(), replace: [...p.replace].sort(), clamp: p.clamp?.length ? p.clamp : undefined };
    if (p.logits !== 'none') return sorted;
    const needed = this.hooks.filter((h) => sorted.cache.includes(h.name));
    if (needed.length === 0 && !p.kvCache) throw new Error("run with logits: 'none' needs at least one cached hook");
    const last = needed.reduce<HookPoint | undefined>((a, h) => (!a || h.order > a.order ? h : a), undefined);
    return p.kvCache || !last ? sorted : { ...sorted, stopAfter: last.name };
  }

  /**
   * Runs a plan on raw feeds (for generation and advanced callers). f32
   * models compile a session per plan (their weights are one shared copy fed
   * to each); quantized ones serve every plan from one session, since each
   * session would prepack its own copy of the quantized weights.
   */
  async runPlan(plan: GraphPlan, feeds: Record<string, Feed>, encoders?: ReadonlyMap<string, FeatureEncoder>, into?: Record<string, Tensor<'float32'>>): Promise<Record<string, Tensor<'float32'>>> {
    if (this.server) return this.server.run(plan, feeds, encoders, into);
    return (await this.session(plan, encoders)).run(feeds, undefined, into);
  }

  /**
   * The unembedding as stored: `[dVocab, dModel]` when `vocabFirst` (HF's
   * lm_head layout), else `[dModel, dVocab]`. Logits are h @ W_U (+ b_U).
   */
  unembedding(): { weight: Tensor<'float32'>; vocabFirst: boolean } {
    const r = this.resolver.get('W_U');
    return { weight: this.store.f32(r.name), vocabFirst: r.transpose };
  }

  /** Parameters, storage, memory held and compiled sessions. */
  info(): ModelInfo {
    const names = this.weights.names();
    const storedDtypes: Record<string, number> = {};
    let parameters = 0;
    for (const n of names) {
      storedDtypes[this.weights.dtype(n)] = (storedDtypes[this.weights.dtype(n)] ?? 0) + 1;
      parameters += this.weights.shape(n).reduce((a, b) => a * b, 1);
    }
    return {
      name: this.name,
      modelType: this.spec.modelType,
      parameters,
      storedDtypes,
      weightMode: this.weightMode,
      weights: this.store.stats(),
      quantizedBytes: this.quant?.bytes,
      sessions: this.server ? (this.server.plan ? [JSON.stringify(this.server.plan)] : []) : [...this.sessions.keys()],
    };
  }

  /** Frees every compiled session and the weights held for them. */
  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).release();
    await this.server?.release();
    this.store.clear();
  }

  private async compile(plan: GraphPlan, encoders: ReadonlyMap<string, FeatureEncoder>, served = false): Promise<Session> {
    const quant = this.weightMode === 'f32' ? undefined : this.quantCache();
    const ctx = new BuildCtx(this.spec, this.adapter.qkv, plan, this.resolver, { f32: (n) => this.store.f32(n), quant, f32Activations: this.weightMode === 'int4-f32' }, this.hooks, encoders);
    const bytes = buildTransformer(ctx);
    // A KV-cache session sees a new past length at every step: ORT's memory patterns, cached per input shape,
    // would keep one arena plan per length (gigabytes over a batched sweep), so they are off there. The arena
    // stays on in the session serving a quantized model's every plan: without it, measured on Llama-3.2-1B's
    // shapes in int4, a 4 x 128 forward (last logits) peaked 640 MB higher (2258 against 1620 MiB) and 8 rows of 256 new
    // tokens 950 MB higher (3057 against 2103 MiB), freed blocks scattered in the C heap. f32 KV sessions keep
    // it off: on GPT-2 small, 32 rows of 32 new tokens peaked 110 MB lower without it (1094 against 1207 MiB).
    const runtime = !plan.kvCache ? this.runtime : { ...this.runtime, memPattern: false, memArena: served };
    return Session.create(bytes, runtime, { boundFeeds: ctx.boundFeeds(), externalData: ctx.externalData });
  }

  /** The quantized weights (int8/int4 modes): given, or the on-disk cache, opened (built on first use). */
  quantized(): QuantSource {
    if (this.weightMode === 'f32') throw new Error(`${this.name}: loaded with f32 weights; load with weights int8 or int4 for quantized ones`);
    return this.quantCache();
  }

  /** Opens (building on first use) the quantized weights of this checkpoint. */
  private quantCache(): QuantSource {
    if (this.quant) return this.quant;
    if (this.options.quant) return (this.quant = this.options.quant);
    const r = this.resolver;
    const linears = new Map<string, LinearToQuantize>();
    const add = (w: CanonicalWeight, L: number) => {
      const ref = r.declares(w) ? r.find(w, L) : undefined;
      if (ref) linears.set(ref.name, { name: ref.name, outFirst: ref.transpose });
    };
    for (let L = 0; L < this.spec.nLayers; L++) for (const w of LINEAR_WEIGHTS) add(w, L);
    add('W_U', -1);
    const embed = r.get('W_E').name;
    this.quant = QuantCache.open(this.weights, {
      bits: WEIGHT_BITS[this.weightMode] as QuantBits,
      blockSize: 32,
      linears: [...linears.values()],
      embeddings: [{ name: embed, blockSize: blockSizeFor(this.spec.dModel) }],
    }, this.options);
    return this.quant;
  }

  /** Fails at load, naming the tensor, when a required weight is missing or misshapen. */
  /**
   * Checks the config's sizes, then every block's tensors against them
   * (element counts, so either orientation passes), so a config that lies
   * about the checkpoint fails fast, naming the field or the tensor.
   */
  private checkWeights(): void {
    const { spec } = this;
    const where = `${this.name}: config`;
    const bounded = (name: string, v: number, max: number) => {
      if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`${where}: ${name} must be an integer in [1, ${max}], got ${v}`);
    };
    bounded('num_hidden_layers', spec.nLayers, 4096);
    bounded('hidden_size', spec.dModel, 1 << 16);
    bounded('num_attention_heads', spec.nHeads, 1024);
    bounded('num_key_value_heads', spec.nKvHeads, spec.nHeads);
    if (spec.nHeads % spec.nKvHeads !== 0) throw new Error(`${where}: num_attention_heads ${spec.nHeads} is not a multiple of num_key_value_heads ${spec.nKvHeads}`);
    if (!Number.isInteger(spec.dHead) || spec.dHead < 1) throw new Error(`${where}: head width ${spec.dHead} is not a positive integer (hidden_size / num_attention_heads, or head_dim)`);
    bounded('intermediate_size', spec.dMlp, 1 << 20);
    bounded('vocab_size', spec.dVocab, 1 << 24);
    bounded('max_position_embeddings', spec.nCtx, 1 << 24);
    const r = this.resolver;
    const expectRows = (w: 'W_E' | 'W_U') => {
      const ref = r.get(w);
      const shape = this.weights.shape(ref.name);
      if (shape.length !== 2 || shape[0] !== spec.dVocab || shape[1] !== spec.dModel) {
        throw new Error(`${this.name}: tensor '${ref.name}' has shape [${shape.join(', ')}], expected [${spec.dVocab}, ${spec.dModel}]`);
      }
    };
    expectRows('W_E');
    expectRows('W_U');
    const { dModel: d, nHeads: H, nKvHeads: KV, dHead: hd, dMlp: F } = spec;
    const sizes: Partial<Record<CanonicalWeight, number>> = {
      'ln1.w': d, 'ln2.w': d, 'ln1_post.w': d, 'ln2_post.w': d, 'q_norm.w': hd, 'k_norm.w': hd,
      W_Q: d * H * hd, W_K: d * KV * hd, W_V: d * KV * hd, W_qkv: d * (H + 2 * KV) * hd, W_O: H * hd * d,
      W_gate: d * F, W_in: d * F, W_out: F * d,
    };
    // The last block first: a config with too many layers fails at once.
    for (const L of [spec.nLayers - 1, ...Array.from({ length: spec.nLayers - 1 }, (_, i) => i)]) {
      for (const [w, n] of Object.entries(sizes) as [CanonicalWeight, number][]) {
        if (!r.declares(w)) continue;
        const ref = r.find(w, L);
        if (!ref) continue;
        const shape = this.weights.shape(ref.name);
        if (numel(shape) !== n) throw new Error(`${this.name}: tensor '${ref.name}' has shape [${shape.join(', ')}] (${numel(shape)} values), but config.json implies ${n} for ${w}`);
      }
    }
    if (r.present('ln1.w', spec.nLayers)) {
      throw new Error(`${where}: num_hidden_layers is ${spec.nLayers} but the checkpoint has more blocks`);
    }
    r.get('ln_final.w');
  }

  private encode(text: string, bos: boolean): number[] {
    if (!this.tokenizer) throw new Error(`${this.name}: has no tokenizer; pass token ids instead of text`);
    return this.tokenizer.encode(text, { bos });
  }
}

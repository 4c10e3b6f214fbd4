/**
 * `HookedModel`: a transformer compiled to ONNX Runtime graphs on demand, one
 * per (hooks cached, interventions, logits mode, KV cache) and cached, with
 * TransformerLens-style `run`/`runWithCache` and KV-cached `generate`.
 */
import type { FeatureEncoder, Intervention } from '../hooks/interventions.ts';
import { hookPoints, type HookPoint } from '../hooks/points.ts';
import { resolveHooks } from '../hooks/resolve.ts';
import type { WeightSource } from '../io/weights.ts';
import { Session, type Feed, type RuntimeOptions } from '../runtime/session.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';
import type { ArchAdapter } from './adapters/adapter.ts';
import { BuildCtx, type GraphPlan } from './graph/context.ts';
import { buildTransformer } from './graph/transformer.ts';
import { batchInputs, validateTokens } from './inputs.ts';
import { interventionFeeds } from './interventionFeeds.ts';
import type { ModelSpec } from './spec.ts';
import { WeightResolver } from './weightRefs.ts';
import { generate, type GenerateOptions, type GenerateResult } from './generate.ts';

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
  ) {
    this.resolver = new WeightResolver(adapter, weights, name);
    this.hooks = hookPoints({
      nLayers: spec.nLayers,
      learnedPositions: spec.positions === 'learned',
      parallelResidual: spec.parallelResidual,
      gatedMlp: spec.gatedMlp,
    });
    this.checkWeights();
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
    const session = await this.session(plan, iv.encoders);
    const out = await session.run({ input_ids: batch.input_ids, position_ids: batch.position_ids, attn_bias: batch.attn_bias, ...iv.feeds });
    const cached: Record<string, Tensor<'float32'>> = {};
    for (const h of cache) cached[h] = out[h];
    return { logits: out.logits, cache: cached, tokens, lengths: batch.lengths };
  }

  /** `run` with `cache` required: TransformerLens's name for it. */
  runWithCache(input: ModelInput, opts: RunOptions & { cache: readonly string[] }): Promise<RunResult> {
    return this.run(input, opts);
  }

  /** Generates from a prompt with the KV cache (see `GenerateOptions`). */
  generate(prompt: string | readonly number[], opts: GenerateOptions = {}): Promise<GenerateResult> {
    return generate(this, prompt, opts);
  }

  /** A compiled session for a plan (cached per model); clamps need their encoders. */
  session(plan: GraphPlan, encoders: ReadonlyMap<string, FeatureEncoder> = new Map()): Promise<Session> {
    const key = JSON.stringify(plan);
    let s = this.sessions.get(key);
    if (!s) {
      s = this.compile(plan, encoders);
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
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

  /** Runs a plan's session on raw feeds (for generation and advanced callers). */
  async runPlan(plan: GraphPlan, feeds: Record<string, Feed>, encoders?: ReadonlyMap<string, FeatureEncoder>): Promise<Record<string, Tensor<'float32'>>> {
    return (await this.session(plan, encoders)).run(feeds);
  }

  /**
   * The unembedding as stored: `[dVocab, dModel]` when `vocabFirst` (HF's
   * lm_head layout), else `[dModel, dVocab]`. Logits are h @ W_U (+ b_U).
   */
  unembedding(): { weight: Tensor<'float32'>; vocabFirst: boolean } {
    const r = this.resolver.get('W_U');
    return { weight: this.weights.get(r.name), vocabFirst: r.transpose };
  }

  /** Frees every compiled session. */
  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).release();
  }

  private async compile(plan: GraphPlan, encoders: ReadonlyMap<string, FeatureEncoder>): Promise<Session> {
    const ctx = new BuildCtx(this.spec, this.adapter.qkv, plan, this.resolver, (n) => this.weight(n), this.hooks, encoders);
    return Session.create(buildTransformer(ctx), this.runtime);
  }

  /**
   * Reads a weight for a graph being compiled. No JS copy is kept: ORT holds
   * its own, and a later plan re-reads from the (OS-cached) file.
   */
  private weight(name: string): Tensor<'float32'> {
    const t = this.weights.get(name);
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i])) throw new Error(`${this.name}: tensor '${name}' contains ${d[i]} at element ${i}`);
    }
    return t;
  }

  /** Fails at load, naming the tensor, when a required weight is missing or misshapen. */
  private checkWeights(): void {
    const { spec } = this;
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
    for (let L = 0; L < spec.nLayers; L++) {
      for (const w of ['ln1.w', 'ln2.w', 'W_O', 'W_in', 'W_out', 'W_qkv', 'W_Q', 'W_K', 'W_V', 'W_gate'] as const) {
        if (r.declares(w)) r.get(w, L);
      }
    }
    r.get('ln_final.w');
  }

  private encode(text: string, bos: boolean): number[] {
    if (!this.tokenizer) throw new Error(`${this.name}: has no tokenizer; pass token ids instead of text`);
    return this.tokenizer.encode(text, { bos });
  }
}

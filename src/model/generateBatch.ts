/**
 * Generation over a batch of prompts with one KV cache: prompts of different
 * lengths are left-padded (pad keys hidden by the attention mask, positions
 * counted from each row's first real token), and every row carries its own
 * interventions (steering vectors, clamps, positions), sampling settings,
 * seed and stop conditions. A row that finishes leaves the batch (its keys
 * and values are dropped), so it stops costing work. Rows whose prompts are
 * equal and whose interventions leave the prompt alone share one prefill.
 *
 * Decoding one token is memory-bound (every weight is read for one row of
 * work), so a batch of rows costs little more than one: this is what makes a
 * sweep of thousands of steered generations practical.
 */
import { interventionInput, type AddIntervention, type ClampIntervention, type ClampPlan, type FeatureEncoder } from '../hooks/interventions.ts';
import { requireHook } from '../hooks/resolve.ts';
import type { Feed } from '../runtime/session.ts';
import { Rng } from '../tensor/random.ts';
import { numel, type Tensor } from '../tensor/tensor.ts';
import { decodeNew, firstStop, type GenerateOptions, type GenerateResult } from './generate.ts';
import type { HookedModel } from './hookedModel.ts';
import { validateTokens } from './inputs.ts';
import { hookInnerDims } from './interventionFeeds.ts';
import { sampleToken } from './sampling.ts';
import { KvCache } from './kvCache.ts';

/** One row of a batch: its prompt and its own settings (interventions, sampling, seed, stops). */
export interface BatchRow extends Omit<GenerateOptions, 'kvCache' | 'onToken'> {
  readonly prompt: string | readonly number[];
  /**
   * Teacher forcing: instead of sampling, this row feeds the tokens row
   * `follow` chooses (same prompt), in step with it, and one step more after
   * it ends so its last token is fed too. A clean twin of a steered row reads the steered text this way: its
   * logits are the unsteered next-token distributions along the steered
   * output, and its cached hooks the unsteered activations of each token.
   */
  readonly follow?: number;
}

/** Options of `generateBatch`. */
export interface BatchOptions {
  /** Most rows decoded together (default 32): larger batches use more memory for the KV cache. */
  readonly maxBatch?: number;
  /** Called with each row's new token as it is chosen (row index into `rows`). */
  readonly onToken?: (row: number, id: number, textSoFar: string) => void;
  /** Awaited between decoding steps (a server lets waiting requests run there). */
  readonly between?: () => Promise<void>;
  /** Called when a row is done (after its last token). */
  readonly onRowDone?: (row: number) => void;
  /**
   * Called for each row at each step with the logits the next token is
   * chosen from and the token chosen (a following row's is its leader's;
   * -1 when the row ends without one). Leaders are called before followers.
   */
  readonly observe?: (row: number, logits: Float32Array, token: number) => void;
  /** Hooks to read at every decoding step, for `onCache`. */
  readonly cache?: readonly string[];
  /** The cached hooks' values [rows.length, ...] for the token each row was fed at `positions` (one per row). */
  readonly onCache?: (rows: readonly number[], positions: readonly number[], values: Readonly<Record<string, Tensor<'float32'>>>) => void;
}

type Iv = AddIntervention | ClampIntervention;

const IN_NODE = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

interface RowState {
  readonly index: number;
  readonly promptIds: number[];
  readonly o: BatchRow;
  readonly rng: Rng;
  readonly maxNew: number;
  readonly eos?: number;
  readonly promptText: string;
  readonly ids: number[];
  readonly logits: Float32Array[];
  text: string;
  stopReason?: GenerateResult['stopReason'];
}

/**
 * Generates every row; results in the order of `rows`. Greedy rows give the
 * tokens they give alone (`model.generate`), with and without steering.
 */
export async function generateBatch(model: HookedModel, rows: readonly BatchRow[], o: BatchOptions = {}): Promise<GenerateResult[]> {
  const maxBatch = o.maxBatch ?? 32;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`maxBatch must be a positive integer, got ${maxBatch}`);
  const states: RowState[] = rows.map((r, index) => {
    const promptIds = typeof r.prompt === 'string' ? model.toTokens(r.prompt, r.prependBos ?? true)[0] : [...r.prompt];
    validateTokens([promptIds], model.spec);
    const maxNew = r.maxNewTokens ?? 32;
    if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`row ${index}: maxNewTokens must be a non-negative integer, got ${maxNew}`);
    if (!((r.temperature ?? 1) >= 0)) throw new Error(`row ${index}: temperature must be >= 0, got ${r.temperature}`);
    return {
      index, promptIds, o: r, rng: new Rng(r.seed ?? 0), maxNew, eos: r.stopAtEos === false ? undefined : (model.tokenizer?.eosId ?? model.spec.eosTokenId),
      promptText: model.tokenizer?.decode(promptIds) ?? '', ids: [], logits: [], text: '',
    };
  });
  // A leader and its followers decode together (a family).
  const families = new Map<number, RowState[]>();
  for (const s of states) {
    const f = s.o.follow;
    if (f === undefined) continue;
    if (!Number.isInteger(f) || f < 0 || f >= states.length || f === s.index || states[f].o.follow !== undefined) throw new Error(`row ${s.index}: follow must name another row that does not follow one, got ${f}`);
    if (states[f].promptIds.join(',') !== s.promptIds.join(',')) throw new Error(`row ${s.index} follows row ${f} but their prompts differ`);
  }
  for (const s of states) if (s.o.follow === undefined) families.set(s.index, [s]);
  for (const s of states) if (s.o.follow !== undefined) families.get(s.o.follow)!.push(s);
  // Rows that clamp different features at a hook cannot share a graph: each such group runs on its own.
  const groups = new Map<string, RowState[][]>();
  for (const fam of families.values()) {
    const sigs = [...new Set(fam.map((s) => clampSignature(s.o.interventions ?? [])).filter((k) => k !== '[]'))];
    if (sigs.length > 1) throw new Error(`row ${fam[0].index} and its followers clamp different features: give them the same clamps, or none`);
    const key = sigs[0] ?? '[]';
    groups.set(key, [...(groups.get(key) ?? []), fam]);
  }
  // One logits buffer for every step of this call (a fresh one per step is work for the collector).
  const logitsBuf = new LogitsBuffer();
  for (const fams of groups.values()) {
    let batch: RowState[] = [];
    for (const fam of fams) {
      if (fam.length > maxBatch) throw new Error(`row ${fam[0].index} has ${fam.length - 1} followers: more than maxBatch ${maxBatch} rows together`);
      if (batch.length + fam.length > maxBatch) {
        await runBatch(model, batch, o, logitsBuf);
        batch = [];
      }
      batch.push(...fam);
    }
    if (batch.length) await runBatch(model, batch, o, logitsBuf);
  }
  return states.map((s) => ({ promptIds: s.promptIds, ids: s.ids, text: s.text, stopReason: s.stopReason ?? 'length', logits: s.o.returnLogits ? s.logits : undefined }));
}

/** The clamps a row's interventions apply (hook, encoder, features): rows in one graph must agree on them. */
function clampSignature(list: readonly Iv[]): string {
  return JSON.stringify(list.filter((iv): iv is ClampIntervention => iv.kind === 'clamp').map((c) => [c.hook, c.encoder.id, c.features]).sort());
}

/** Whether an intervention can change the prompt's keys and values (it acts at some prompt position). */
function touchesPrompt(iv: Iv, promptLength: number): boolean {
  return iv.positions === undefined || iv.positions.some((p) => p < promptLength);
}

async function runBatch(model: HookedModel, rows: RowState[], o: BatchOptions, logitsBuf: LogitsBuffer): Promise<void> {
  const { spec } = model;
  // Rows with nothing to generate, or no room for it, end before any work.
  let active = rows.filter((s) => {
    if (s.maxNew === 0) s.stopReason = 'length';
    else if (s.promptIds.length >= spec.nCtx) s.stopReason = 'context';
    if (s.stopReason !== undefined) finish(s, o);
    return s.stopReason === undefined;
  });
  if (!active.length) return;
  // Shared prefills: one per distinct prompt among rows whose interventions leave the prompt alone.
  const prefillKey = (s: RowState) => {
    const ivs = s.o.interventions ?? [];
    return ivs.some((iv) => touchesPrompt(iv, s.promptIds.length)) ? `row:${s.index}` : `prompt:${s.promptIds.join(',')}`;
  };
  const uniq = new Map<string, RowState>();
  for (const s of active) if (!uniq.has(prefillKey(s))) uniq.set(prefillKey(s), s);
  const firsts = [...uniq.values()];
  const P = Math.max(...firsts.map((s) => s.promptIds.length));
  // The longest a row gets: its prompt padded to P, its new tokens, and one more step for a follower to read the last one.
  const longest = P + Math.max(...active.map((s) => Math.min(s.maxNew, spec.nCtx - s.promptIds.length))) + 1;
  const prefill = KvCache.of(spec, firsts.length, longest);
  const pre = await step(model, firsts.map((s) => ({ s, ids: s.promptIds, pad: P - s.promptIds.length, start: 0 })), prefill, P, false, logitsBuf);
  // Every active row's cache: its prefill's rows, copied out; padded to the longest prompt.
  const source = active.map((s) => firsts.indexOf(uniq.get(prefillKey(s))!));
  const kv = source.length === firsts.length && source.every((r, i) => r === i) ? prefill : prefill.gather(source, longest);
  let logits = source.map((r) => pre.logits[r]);
  let pads = active.map((s) => P - s.promptIds.length);
  // A follower takes each token its leader chooses in the same step; after the leader ends it runs one more step
  // (draining) to be fed the last one.
  const draining = new Set<RowState>();
  for (;;) {
    // Choose each row's next token (leaders first); finished rows leave the batch.
    const chosen = new Map<RowState, number>();
    const order = active.map((s, r) => ({ s, r })).sort((a, b) => Number(a.s.o.follow !== undefined) - Number(b.s.o.follow !== undefined));
    const nextFed = new Array<number>(active.length);
    const stays = new Array<boolean>(active.length).fill(false);
    for (const { s, r } of order) {
      if (draining.has(s)) {
        s.stopReason ??= 'length';
        finish(s, o);
        continue;
      }
      const lead = s.o.follow === undefined ? undefined : rows.find((x) => x.index === s.o.follow);
      let next: number;
      if (lead) {
        const t = chosen.get(lead);
        next = t ?? -1;
      } else {
        next = sampleToken(logits[r], { temperature: s.o.temperature ?? 1, topK: s.o.topK, topP: s.o.topP }, s.rng);
        if (next === s.eos) next = -1;
      }
      if (s.o.returnLogits) s.logits.push(Float32Array.from(logits[r]));
      o.observe?.(s.index, logits[r], next);
      if (!lead && next === -1) {
        s.stopReason = 'eos';
        chosen.set(s, -1);
        finish(s, o);
        continue;
      }
      if (lead && next === -1) {
        // The leader ended without a token (EOS): nothing more to feed.
        s.stopReason = lead.stopReason;
        finish(s, o);
        continue;
      }
      chosen.set(s, next);
      s.ids.push(next);
      s.text = decodeNew(model, s.promptIds, s.promptText, s.ids);
      if (lead) {
        // Fed once more (to read the token's activations), then done with its leader.
        if (lead.stopReason !== undefined) {
          s.text = lead.text;
          s.stopReason = lead.stopReason;
          draining.add(s);
        }
      } else {
        const cut = firstStop(s.text, s.o.stop);
        if (cut >= 0) {
          s.text = s.text.slice(0, cut);
          s.stopReason = 'stop';
        } else if (s.ids.length >= s.maxNew) s.stopReason = 'length';
        else if (s.promptIds.length + s.ids.length >= spec.nCtx) s.stopReason = 'context';
        o.onToken?.(s.index, next, s.text);
      }
      if (s.stopReason === undefined || draining.has(s)) stays[r] = true;
      else finish(s, o);
      nextFed[r] = next;
    }
    const keep = active.map((_, r) => r).filter((r) => stays[r]);
    if (!keep.length) return;
    const fed = keep.map((r) => nextFed[r]);
    if (keep.length < active.length) {
      kv.compact(keep);
      pads = keep.map((r) => pads[r]);
      active = keep.map((r) => active[r]);
    }
    await o.between?.();
    const starts = active.map((s) => s.promptIds.length + s.ids.length - 1);
    const out = await step(model, active.map((s, r) => ({ s, ids: [fed[r]], pad: pads[r], start: starts[r] })), kv, 1, true, logitsBuf, o.cache ?? []);
    logits = out.logits;
    if (o.onCache && o.cache?.length) o.onCache(active.map((s) => s.index), starts, out.cached);
  }
}

/** Reports a row done (each row reaches this once). */
function finish(s: RowState, o: BatchOptions): void {
  o.onRowDone?.(s.index);
}

/** One row of a step: its new tokens, its left padding and the absolute position of its first new token. */
interface StepRow {
  readonly s: RowState;
  readonly ids: readonly number[];
  readonly pad: number;
  readonly start: number;
}

/**
 * One forward over the batch, after the cached keys and values: the prefill
 * (each row's prompt left-padded to `T` tokens) or, with `decode`, one new
 * token per row at its position `start`; the step's keys and values are
 * appended to `kv`.
 */
async function step(model: HookedModel, rows: readonly StepRow[], kv: KvCache, T: number, decode: boolean, logitsBuf: LogitsBuffer, cache: readonly string[] = []): Promise<{ logits: Float32Array[]; cached: Record<string, Tensor<'float32'>> }> {
  const { spec } = model;
  const B = rows.length;
  const ids = new BigInt64Array(B * T);
  const pos = new BigInt64Array(B * T);
  // Cache index i of a row holds absolute position i - pad; indices below pad are padding.
  const posOf = (r: StepRow, t: number) => (decode ? r.start : t - r.pad);
  rows.forEach((r, b) => {
    for (let t = 0; t < T; t++) {
      const p = posOf(r, t);
      ids[b * T + t] = BigInt(decode ? r.ids[0] : p >= 0 ? r.ids[p] : 0);
      pos[b * T + t] = BigInt(Math.max(p, 0));
    }
  });
  const iv = rowFeeds(model, rows, T, posOf);
  const plan = model.plan({ cache: [...cache], add: iv.add, replace: [], clamp: iv.clamp, logits: 'last', kvCache: true });
  const feeds: Record<string, Feed> = {
    input_ids: { dtype: 'int64', shape: [B, T], data: ids },
    position_ids: { dtype: 'int64', shape: [B, T], data: pos },
    attn_bias: kv.attnBias(T, (b) => rows[b].pad, (b, j) => kv.filled + j < rows[b].pad),
    ...kv.feeds(), ...iv.feeds,
  };
  const into: Record<string, Tensor<'float32'>> = { logits: logitsBuf.get(B, spec.dVocab) };
  // Pre-allocated outputs are for ONNX Runtime in Node; in the browser (onnxruntime-web) outputs come back as its own.
  const out = await model.runPlan(plan, feeds, iv.encoders, IN_NODE ? into : undefined);
  kv.append(out, T);
  const V = spec.dVocab;
  const cached: Record<string, Tensor<'float32'>> = {};
  for (const h of cache) cached[h] = out[h];
  // Views into the logits buffer: valid until the next step (a row that keeps them copies them).
  return { logits: rows.map((_, b) => out.logits.data.subarray(b * V, (b + 1) * V)), cached };
}

/**
 * Per-row intervention feeds: additive deltas [B, T, ...] (zero for rows
 * without them) and clamps with per-row values [B, 1, F] and masks [B, T, 1].
 */
function rowFeeds(model: HookedModel, rows: readonly StepRow[], T: number, posOf: (r: StepRow, t: number) => number) {
  const { spec } = model;
  const B = rows.length;
  const feeds: Record<string, Tensor<'float32'>> = {};
  const add = new Set<string>();
  const clamps = new Map<string, ClampPlan>();
  const encoders = new Map<string, FeatureEncoder>();
  rows.forEach((r, b) => {
    for (const iv of r.s.o.interventions ?? []) {
      const point = requireHook(iv.hook, model.hooks);
      const inner = hookInnerDims(point, spec);
      const width = numel(inner);
      const hits = (t: number) => {
        const p = posOf(r, t);
        return p >= 0 && (iv.positions === undefined || iv.positions.includes(p));
      };
      if (iv.kind === 'add') {
        if (iv.vector.length !== width) throw new Error(`row ${r.s.index}: vector added at ${iv.hook} has ${iv.vector.length} elements, expected ${width}`);
        const name = interventionInput('add', iv.hook);
        add.add(iv.hook);
        feeds[name] ??= { dtype: 'float32', shape: [B, T, ...inner], data: new Float32Array(B * T * width) };
        const d = feeds[name].data;
        for (let t = 0; t < T; t++) if (hits(t)) for (let i = 0; i < width; i++) d[(b * T + t) * width + i] += iv.vector[i];
        continue;
      }
      const F = iv.features.length;
      if (F === 0 || F !== iv.values.length) throw new Error(`row ${r.s.index}: clamp at ${iv.hook}: give one value per feature`);
      const dSae = iv.encoder.W_enc.shape[1];
      for (const f of iv.features) if (!Number.isInteger(f) || f < 0 || f >= dSae) throw new Error(`row ${r.s.index}: clamp at ${iv.hook}: feature ${f} is out of range [0, ${dSae})`);
      clamps.set(iv.hook, { hook: iv.hook, encoder: iv.encoder.id, features: [...iv.features] });
      encoders.set(iv.encoder.id, iv.encoder);
      const vName = interventionInput('clamp', iv.hook);
      const mName = interventionInput('clamp.mask', iv.hook);
      feeds[vName] ??= { dtype: 'float32', shape: [B, 1, F], data: new Float32Array(B * F) };
      feeds[mName] ??= { dtype: 'float32', shape: [B, T, 1], data: new Float32Array(B * T) };
      feeds[vName].data.set(iv.values, b * F);
      for (let t = 0; t < T; t++) if (hits(t)) feeds[mName].data[b * T + t] = 1;
    }
  });
  return { add: [...add].sort(), clamp: [...clamps.values()].sort((a, b) => a.hook.localeCompare(b.hook)), encoders, feeds };
}

/** A reused [B, 1, V] buffer for a step's next-token logits. */
class LogitsBuffer {
  private buf = new Float32Array(0);

  get(B: number, V: number): Tensor<'float32'> {
    if (this.buf.length < B * V) this.buf = new Float32Array(B * V);
    return { dtype: 'float32', shape: [B, 1, V], data: this.buf.subarray(0, B * V) };
  }
}

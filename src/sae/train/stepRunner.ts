/**
 * Runs training steps for one SAE: holds parameters and Adam moments, feeds
 * them with a batch and the schedule's scalars to the compiled step graph,
 * and takes the updated tensors back.
 */
import { Session, type Feed, type RuntimeOptions } from '../../runtime/session.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { architecture } from '../architectures/registry.ts';
import { outWidth, type SaeConfig } from '../config.ts';
import { buildDenseStepGraph, buildTopkGraph, type StepPlan } from './graphs/stepGraph.ts';
import { adamStep, adamStepSplit } from './adam.ts';
import { scatterDecoder, shared, type ScatterTerm } from './parallel.ts';
import { decoderBiasGrad, scatterEncoderEntries } from './sparseScatter.ts';
import { paramShapes, type Params } from './params.ts';

/** Per-step scalars from the schedule. */
export interface StepScalars {
  /** Learning rate. */
  readonly lr: number;
  /** Sparsity coefficient (L1 or L0); unused by top-k. */
  readonly sparsityCoef: number;
  /** Global gradient-norm limit. */
  readonly maxGradNorm: number;
  /** AuxK inputs when there are dead latents (top-k). */
  readonly aux?: { readonly dead: Float32Array; readonly k: number; readonly scale: number };
}

/** What one step reports. */
export interface StepResult {
  /** Loss terms (`mse`, `l1`, `l0_penalty`, `aux`) and `loss`, averaged per token. */
  readonly losses: Readonly<Record<string, number>>;
  /** Mean active latents per token. */
  readonly l0: number;
  /** Σ (x - mean x)², for explained variance. */
  readonly varX: number;
  /** Gradient norm before clipping. */
  readonly gradNorm: number;
  /** Top-k indices [B, k] (top-k), or per-latent counts of firing tokens [dSae] (dense). */
  readonly indices?: BigInt64Array;
  readonly fired?: Float32Array;
  /** BatchTopK: the smallest kept activation. */
  readonly batchThreshold?: number;
  /** Raw outputs by name (gradients and forward tensors with `emitGrads`). */
  readonly raw: Readonly<Record<string, Tensor<'float32'>>>;
}

/** One SAE's optimizer state and compiled step graphs. */
export class StepRunner {
  /** Adam first moments. */
  m: Params;
  /** Adam second moments. */
  v: Params;
  /** Steps taken. */
  t = 0;
  private readonly sessions = new Map<string, Promise<Session>>();
  private readonly shapes: Record<string, number[]>;
  /** Gradient buffers, reused every step. */
  private readonly grads: Params;
  /** Gradients of the dense step's later row slices, before they are added in. */
  private scratch?: Params;
  /** Values per [rows, dSae] intermediate of the dense step (128 MiB of float32); the slice size follows. */
  chunkElements = 2 ** 25;
  /** W_dec's copy in shared memory, updated by the training worker, and the array it mirrors. */
  private decTwin?: { src: Float32Array; twin: Float32Array };

  constructor(readonly cfg: SaeConfig, public params: Params, private readonly plan: Omit<StepPlan, 'aux'>, private readonly runtime: RuntimeOptions = {}) {
    this.shapes = paramShapes(cfg);
    this.m = zerosLike(params);
    this.v = zerosLike(params);
    this.grads = zerosLike(params);
  }

  /** One step on x [B, dIn]; parameters and moments are replaced by the updated ones. */
  /** One step on x [B, dIn]; a transcoder's target y [B, dOut]. */
  async step(x: Tensor<'float32'>, s: StepScalars, y?: Tensor<'float32'>): Promise<StepResult> {
    if ((y === undefined) !== (this.cfg.hookNameOut === undefined)) throw new Error(y ? 'a target y is for transcoders' : `a transcoder's step needs its target y (${this.cfg.hookNameOut})`);
    this.t += 1;
    return architecture(this.cfg.architecture).training.step === 'topk' ? this.topkStep(x, s, y) : this.denseStep(x, s, y);
  }

  /**
   * Dense architectures: the graph runs on row slices of the batch small
   * enough that each [rows, dSae] intermediate stays within
   * `chunkElements` values, and the slices' sums add up to the whole batch's
   * (the graph divides by the whole batch's size). BatchTopK's threshold
   * needs the whole batch at once, and so do the raw tensors of `emitGrads`.
   */
  private async denseStep(x: Tensor<'float32'>, s: StepScalars, y?: Tensor<'float32'>): Promise<StepResult> {
    const session = await this.session('dense', { ...this.plan, aux: false }, buildDenseStepGraph);
    const { dIn, dSae } = this.cfg;
    const B = x.shape[0];
    const whole = architecture(this.cfg.architecture).training.wholeBatch || this.plan.emitGrads;
    const n = whole ? 1 : Math.max(1, Math.ceil(B / Math.max(1, Math.floor(this.chunkElements / dSae))));
    const base: Record<string, Feed> = { sparsity_coef: scalar(s.sparsityCoef), batch_size: scalar(B), ...this.paramFeeds() };
    const sums = new Map<string, Float32Array>();
    let out: Record<string, Tensor<'float32'>> = {};
    for (let c = 0; c < n; c++) {
      const r0 = Math.floor((c * B) / n);
      const r1 = Math.floor(((c + 1) * B) / n);
      // The first slice writes the gradient buffers; later ones write a scratch set that is added in.
      if (c === 1) this.scratch ??= zerosLike(this.grads);
      const target = c === 0 ? this.grads : this.scratch!;
      const into: Record<string, Tensor<'float32'>> = {};
      for (const [name, shape] of Object.entries(this.shapes)) into[`grad.${name}`] = { dtype: 'float32', shape, data: target[name] };
      const xs = n === 1 ? x : { dtype: 'float32' as const, shape: [r1 - r0, dIn], data: x.data.subarray(r0 * dIn, r1 * dIn) };
      const dOut = y?.shape[1] ?? 0;
      const ys = y && (n === 1 ? y : { dtype: 'float32' as const, shape: [r1 - r0, dOut], data: y.data.subarray(r0 * dOut, r1 * dOut) });
      out = await session.run({ ...base, x: xs, ...(ys ? { y: ys } : {}) }, undefined, into);
      if (c > 0) for (const name of Object.keys(this.shapes)) addInto(this.grads[name], this.scratch![name]);
      for (const k of SUMMED) {
        const t = out[k];
        if (!t) continue;
        const acc = sums.get(k);
        if (acc) addInto(acc, t.data);
        else sums.set(k, Float32Array.from(t.data));
      }
    }
    for (const [k, v] of sums) out[k] = { ...out[k], data: v };
    return { ...(await this.finish(out, s, y ?? x)), fired: out.fired.data, batchThreshold: out.batch_threshold?.data[0] };
  }

  /** Top-k: forward and per-entry backward on ORT, then the sparse scatter over active rows only. */
  private async topkStep(x: Tensor<'float32'>, s: StepScalars, y?: Tensor<'float32'>): Promise<StepResult> {
    const aux = s.aux !== undefined && s.aux.k > 0;
    const fwd = await this.session(`topk${aux}`, { ...this.plan, aux }, buildTopkGraph);
    const feeds: Record<string, Feed> = { x, ...(y ? { y } : {}), ...this.paramFeeds() };
    if (aux) {
      feeds.dead = { dtype: 'float32', shape: [this.cfg.dSae], data: s.aux!.dead };
      feeds.aux_k = { dtype: 'int64', shape: [1], data: BigInt64Array.of(BigInt(s.aux!.k)) };
      feeds.aux_scale = scalar(s.aux!.scale);
    }
    const f = await fwd.run(feeds);
    const { dIn } = this.cfg;
    const dOut = outWidth(this.cfg);
    const g = this.grads;
    // W_dec's gradient and moments live in shared memory for the training worker (replaced arrays, e.g. from a
    // checkpoint, are moved there). ORT's Node binding refuses SharedArrayBuffer-backed feeds, so W_dec itself
    // has a shared twin that the worker updates and that is copied back after Adam.
    if (this.decTwin?.src !== this.params.W_dec) this.decTwin = { src: this.params.W_dec, twin: shared(Float32Array.from(this.params.W_dec)) };
    this.m.W_dec = shared(this.m.W_dec);
    this.v.W_dec = shared(this.v.W_dec);
    g.W_dec = shared(g.W_dec);
    const ints = (t: Tensor<'float32'>) => t.data as unknown as BigInt64Array;
    const terms: ScatterTerm[] = [{ indices: ints(f.indices), values: f.values.data, dPre: f.d_pre.data, dOut: f.d_out.data }];
    if (aux) terms.push({ indices: ints(f.aux_indices), values: f.aux_values.data, dPre: f.aux_d_pre.data, dOut: f.aux_d_out.data });
    // The worker scatters W_dec's gradient while this thread scatters W_encT's and b_enc's.
    const decSq = scatterDecoder(g.W_dec, terms, dOut);
    for (const [n, v] of Object.entries(g)) if (n !== 'W_dec') v.fill(0);
    for (const term of terms) scatterEncoderEntries(term, f.sae_in.data, dIn, g.W_encT, g.b_enc);
    // An SAE's b_dec reaches the loss through the reconstruction and the encoder's input. The AuxK term holds the
    // error constant and decodes without b_dec (Gao et al.), so it reaches b_dec only through the encoder (inside
    // g.b_enc). A transcoder's b_dec is its output's bias only.
    g.b_dec.set(decoderBiasGrad(f.d_out.data, y ? undefined : { gbEnc: g.b_enc, WencT: this.params.W_encT, dIn }, dOut));
    if (g.W_skip) g.W_skip.set(f['grad.W_skip'].data);
    const out: Record<string, Tensor<'float32'>> = { ...f, loss: scalar(f.mse.data[0] + (f.aux?.data[0] ?? 0)) };
    return { ...(await this.finish(out, s, y ?? x, await decSq)), indices: ints(f.indices) };
  }

  private async adamSplit(s: StepScalars, decSq: number): Promise<number> {
    const { src, twin } = this.decTwin!;
    const norm = await adamStepSplit({ ...this.params, W_dec: twin }, this.grads, this.m, this.v, this.t, s.lr, s.maxGradNorm, outWidth(this.cfg), this.plan, decSq);
    src.set(twin);
    return norm;
  }

  private paramFeeds(): Record<string, Feed> {
    const feeds: Record<string, Feed> = {};
    for (const [n, shape] of Object.entries(this.shapes)) feeds[n] = { dtype: 'float32', shape, data: this.params[n] };
    return feeds;
  }

  /**
   * Exposes gradients when asked, applies clipping and Adam (W_dec's part in the
   * training worker when `decSq`, its gradient's squared norm, is given), and
   * summarizes the step. `x` is the step's target (a transcoder's y), for
   * the explained variance.
   */
  private async finish(out: Record<string, Tensor<'float32'>>, s: StepScalars, x: Tensor<'float32'>, decSq?: number): Promise<StepResult> {
    if (this.plan.emitGrads) {
      for (const [n, shape] of Object.entries(this.shapes)) out[`grad.${n}`] = { dtype: 'float32', shape, data: Float32Array.from(this.grads[n]) };
    }
    const gradNorm = decSq === undefined
      ? adamStep(this.params, this.grads, this.m, this.v, this.t, s.lr, s.maxGradNorm, outWidth(this.cfg), this.plan)
      : await this.adamSplit(s, decSq);
    const losses: Record<string, number> = {};
    for (const k of ['mse', 'l1', 'l0_penalty', 'aux', 'loss']) if (out[k]) losses[k] = out[k].data[0];
    return { losses, l0: out.l0.data[0], varX: sumSquaredDeviations(x.data, x.shape[1]), gradNorm, raw: out };
  }

  /** Frees compiled graphs. */
  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }

  private session(kind: string, plan: StepPlan, build: (cfg: SaeConfig, plan: StepPlan) => Uint8Array): Promise<Session> {
    const key = kind + JSON.stringify(plan);
    let s = this.sessions.get(key);
    if (!s) {
      s = Session.create(build(this.cfg, plan), { ...this.runtime, memPattern: false });
      this.sessions.set(key, s);
    }
    return s;
  }
}

function scalar(v: number): Tensor<'float32'> {
  return { dtype: 'float32', shape: [], data: Float32Array.of(v) };
}

function zerosLike(p: Params): Params {
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, new Float32Array(v.length)]));
}

/** Dense-step outputs that are sums over the batch's rows (divided by the whole batch's size where they are means). */
const SUMMED = ['mse', 'l1', 'l0_penalty', 'loss', 'l0', 'fired'];

function addInto(acc: Float32Array, v: Float32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] += v[i];
}

/** Σ (x - mean x)² over rows of x [B, dIn], the column means taken over the batch (the explained variance's denominator). */
export function sumSquaredDeviations(x: Float32Array, dIn: number): number {
  const B = x.length / dIn;
  const mean = new Float64Array(dIn);
  for (let r = 0; r < B; r++) for (let j = 0; j < dIn; j++) mean[j] += x[r * dIn + j];
  for (let j = 0; j < dIn; j++) mean[j] /= B;
  let sq = 0;
  for (let r = 0; r < B; r++) {
    for (let j = 0; j < dIn; j++) {
      const d = x[r * dIn + j] - mean[j];
      sq += d * d;
    }
  }
  return sq;
}

/**
 * An SAE with its weights, running on ONNX Runtime: `encode` to sparse codes,
 * `decode` back, and `forward` with the error term (x - reconstruction).
 * Weights follow SAELens: W_enc [dIn, dSae], b_enc [dSae], W_dec [dSae, dIn],
 * b_dec [dIn], threshold [dSae] for thresholded architectures.
 */
import { Session, type RuntimeOptions } from '../runtime/session.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { architecture } from './architectures/registry.ts';
import { codesFromDense, codesFromTopK, denseFromCodes, type SparseCodes } from './codes.ts';
import { isTranscoder, outWidth, type SaeConfig } from './config.ts';
import { buildSaeGraph, type SaeGraphPlan } from './graph.ts';

/** SAE weights by SAELens name. */
export type SaeWeights = Readonly<Record<string, Tensor<'float32'>>>;

/** What `forward` returns. */
export interface SaeForward {
  /** Active latents per token. */
  readonly codes: SparseCodes;
  /** Reconstruction [n, dIn]. */
  readonly recon: Tensor<'float32'>;
  /** x - recon [n, dIn]: adding it back makes a splice exact. */
  readonly error: Tensor<'float32'>;
}

/** Where a loaded SAE came from and what was done to its weights to read it. */
export interface SaeOrigin {
  /** The layout detected. */
  readonly format: 'saelens' | 'gemma-scope' | 'gemma-scope-2' | 'llama-scope' | 'sparsify' | 'saescope';
  /** Each fold or mapping applied, in words. */
  readonly folds: readonly string[];
}

/** A loaded SAE. */
export class Sae {
  private readonly sessions = new Map<string, Promise<Session>>();

  /** Checks weights against the config (shapes, NaN) and wraps them. */
  constructor(
    readonly cfg: SaeConfig,
    readonly weights: SaeWeights,
    private readonly runtime: RuntimeOptions = {},
    readonly source = '',
    readonly origin: SaeOrigin = { format: 'saescope', folds: [] },
  ) {
    validateWeights(cfg, weights, source);
  }

  /** Sparse codes for activations x [n, dIn]. */
  async encode(x: Tensor<'float32'>): Promise<SparseCodes> {
    const out = await this.run(x, { codes: true, recon: false, hiddenPre: false });
    return this.toCodes(out, x.shape[0]);
  }

  /** Dense feature activations [n, dSae]. */
  async featureActs(x: Tensor<'float32'>): Promise<Tensor<'float32'>> {
    const codes = await this.encode(x);
    return { dtype: 'float32', shape: [codes.n, this.cfg.dSae], data: denseFromCodes(codes, this.cfg.dSae) };
  }

  /**
   * Reconstruction [n, dIn] from codes (a transcoder's output [n, dOut]; one
   * with a skip connection needs the input `x` for W_skip x).
   */
  decode(codes: SparseCodes, x?: Tensor<'float32'>): Tensor<'float32'> {
    const dIn = outWidth(this.cfg);
    const W = this.weights.W_dec.data;
    const b = this.weights.b_dec.data;
    const out = new Float32Array(codes.n * dIn);
    for (let r = 0; r < codes.n; r++) {
      const row = out.subarray(r * dIn, (r + 1) * dIn);
      row.set(b);
      for (let p = codes.offsets[r]; p < codes.offsets[r + 1]; p++) {
        const v = codes.values[p];
        const base = codes.indices[p] * dIn;
        for (let i = 0; i < dIn; i++) row[i] += v * W[base + i];
      }
    }
    if (this.cfg.skip) {
      if (!x) throw new Error('decoding a skip transcoder needs its input x (for W_skip x)');
      const S = this.weights.W_skip.data;
      const d = this.cfg.dIn;
      for (let r = 0; r < codes.n; r++) {
        for (let o = 0; o < dIn; o++) {
          let acc = 0;
          for (let i = 0; i < d; i++) acc += S[o * d + i] * x.data[r * d + i];
          out[r * dIn + o] += acc;
        }
      }
    }
    return { dtype: 'float32', shape: [codes.n, dIn], data: out };
  }

  /**
   * Codes, reconstruction and error for x [n, dIn]. A transcoder's error is
   * against `target`, the output hook's activations [n, dOut].
   */
  async forward(x: Tensor<'float32'>, target?: Tensor<'float32'>): Promise<SaeForward> {
    const out = await this.run(x, { codes: true, recon: true, hiddenPre: false });
    const recon = out.recon;
    const want = target ?? x;
    if (isTranscoder(this.cfg) && !target) throw new Error(`a transcoder's error is against its output hook (${this.cfg.hookNameOut}): pass its activations as target`);
    if (want.data.length !== recon.data.length) throw new Error(`target has ${want.data.length} values, the output has ${recon.data.length}`);
    const error = new Float32Array(recon.data.length);
    for (let i = 0; i < error.length; i++) error[i] = want.data[i] - recon.data[i];
    return { codes: this.toCodes(out, x.shape[0]), recon, error: { dtype: 'float32', shape: recon.shape, data: error } };
  }

  /** Reconstruction only [n, dIn]. */
  async reconstruct(x: Tensor<'float32'>): Promise<Tensor<'float32'>> {
    return (await this.run(x, { codes: false, recon: true, hiddenPre: false })).recon;
  }

  /** Pre-activations [n, dSae]. */
  async hiddenPre(x: Tensor<'float32'>): Promise<Tensor<'float32'>> {
    return (await this.run(x, { codes: false, recon: false, hiddenPre: true })).hidden_pre;
  }

  /** Frees compiled sessions. */
  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }

  private async run(x: Tensor<'float32'>, plan: SaeGraphPlan): Promise<Record<string, Tensor<'float32'>>> {
    if (x.shape.length !== 2 || x.shape[1] !== this.cfg.dIn) {
      throw new Error(`SAE input has shape [${x.shape.join(', ')}], expected [n, ${this.cfg.dIn}] (d_in of the SAE for ${this.cfg.hookName})`);
    }
    const key = JSON.stringify(plan);
    let s = this.sessions.get(key);
    if (!s) {
      s = Session.create(buildSaeGraph(this.cfg, this.weights, plan), this.runtime);
      this.sessions.set(key, s);
    }
    return (await s).run({ x });
  }

  private toCodes(out: Record<string, Tensor<'float32'>>, n: number): SparseCodes {
    if (out.acts) return codesFromDense(out.acts.data, n, this.cfg.dSae);
    return codesFromTopK(out.values.data, out.indices.data as unknown as Int32Array, n, this.cfg.k!);
  }
}

/** Throws naming the tensor when a weight is missing, misshapen or not finite. */
export function validateWeights(cfg: SaeConfig, w: SaeWeights, where: string): void {
  const dOut = outWidth(cfg);
  const want: Record<string, number[]> = { W_enc: [cfg.dIn, cfg.dSae], b_enc: [cfg.dSae], W_dec: [cfg.dSae, dOut], b_dec: [dOut] };
  if (cfg.skip) want.W_skip = [dOut, cfg.dIn];
  for (const extra of architecture(cfg.architecture).extraWeights) want[extra] = [cfg.dSae];
  for (const [name, shape] of Object.entries(want)) {
    const t = w[name];
    if (!t) throw new Error(`${where}: missing SAE tensor '${name}' (a ${cfg.architecture} SAE needs ${Object.keys(want).join(', ')})`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${where}: SAE tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] from cfg.json (d_in ${cfg.dIn}, d_sae ${cfg.dSae}${isTranscoder(cfg) ? `, d_out ${dOut}` : ''})`);
    }
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i])) throw new Error(`${where}: SAE tensor '${name}' contains ${d[i]} at element ${i}`);
    }
  }
}

/**
 * Description length ("total information") of an SAE factorization, after
 * Anthropic's dictionary-learning notes (Circuits Updates, 2023): fit simple
 * distributions to the code entries, the residual and the dictionary, and
 * count the bits needed to send the data with them at a fixed precision.
 * Dictionary learning "bounces" (the total is lowest) where the dictionary
 * size matches the number of true factors.
 *
 * The fitted distributions, per token:
 * - which latents fire: each latent an independent Bernoulli with its
 *   firing rate p_i, costing the entropy H(p_i);
 * - each firing latent's value, scaled by its decoder row's norm (so every
 *   value is in the units of x): a Gaussian fitted to that latent's nonzero
 *   values, quantized at δ = precision · RMS(x), costing
 *   max(0, ½·log2(2πe·σ²) − log2 δ) bits;
 * - the residual x − x̂: a Gaussian per input dimension at the same δ;
 * - the dictionary: its d_sae·d_in unit-row entries as one Gaussian at
 *   δ_w = precision / √d_in, sent once and amortized over the dataset's tokens.
 */
import type { Sae } from '../../sae/sae.ts';
import type { SaeForward } from '../../sae/sae.ts';

/** Description length of one SAE on held-out rows, in bits per token. */
export interface DescriptionLength {
  /** Bits for which latents fire (Bernoulli entropy summed over latents). */
  readonly bits_support: number;
  /** Bits for the values of the firing latents. */
  readonly bits_values: number;
  /** Bits for the residual x − x̂. */
  readonly bits_residual: number;
  /** The dictionary's bits amortized over `dataset_tokens`. */
  readonly bits_dictionary: number;
  /** The sum of the four. */
  readonly bits_per_token: number;
  /** The quantization step of codes and residual (precision · RMS(x)). */
  readonly delta: number;
  /** Tokens the dictionary is amortized over. */
  readonly dataset_tokens: number;
  /** Held-out rows measured. */
  readonly tokens: number;
  /** 1 − residual sum of squares over the centred sum of squares. */
  readonly explained_variance: number;
  /** Mean firing latents per row. */
  readonly l0: number;
  /** Fraction of latents that never fired. */
  readonly dead_fraction: number;
}

/** Sums over held-out rows that the description length is computed from. */
class Sums {
  n = 0;
  sumSq = 0;
  readonly fires: Float64Array;
  readonly vSum: Float64Array;
  readonly vSq: Float64Array;
  readonly xSum: Float64Array;
  readonly rSum: Float64Array;
  readonly rSq: Float64Array;

  constructor(dSae: number, dIn: number) {
    this.fires = new Float64Array(dSae);
    this.vSum = new Float64Array(dSae);
    this.vSq = new Float64Array(dSae);
    this.xSum = new Float64Array(dIn);
    this.rSum = new Float64Array(dIn);
    this.rSq = new Float64Array(dIn);
  }

  /** Adds `w` times `o`. */
  addScaled(o: Sums, w: number): void {
    this.n += w * o.n;
    this.sumSq += w * o.sumSq;
    for (const k of ['fires', 'vSum', 'vSq', 'xSum', 'rSum', 'rSq'] as const) {
      const a = this[k];
      const b = o[k];
      for (let i = 0; i < a.length; i++) a[i] += w * b[i];
    }
  }
}

/**
 * Accumulates the statistics of the description length over batches, in
 * `blocks` groups of rows (each held-out row goes to the block its caller
 * names), so that the held-out data can be resampled by block (bootstrap).
 */
export class DescriptionLengthMeter {
  private readonly sums: Sums[];
  private readonly norms: Float64Array;

  constructor(private readonly sae: Sae, readonly blocks = 1) {
    const { dSae, dIn } = sae.cfg;
    if (!Number.isInteger(blocks) || blocks < 1) throw new Error(`description length: blocks must be a positive integer, got ${blocks}`);
    this.sums = Array.from({ length: blocks }, () => new Sums(dSae, dIn));
    this.norms = new Float64Array(dSae);
    const W = sae.weights.W_dec.data;
    for (let f = 0; f < dSae; f++) {
      let s = 0;
      for (let i = 0; i < dIn; i++) s += W[f * dIn + i] ** 2;
      this.norms[f] = Math.sqrt(s);
    }
  }

  /** Adds rows x [n, d_in] and the SAE's forward on them; `blockOf(r)` names row r's block (default 0). */
  add(x: Float32Array, f: SaeForward, blockOf: (row: number) => number = () => 0): void {
    const d = this.sae.cfg.dIn;
    const rows = x.length / d;
    const { offsets, indices, values } = f.codes;
    for (let r = 0; r < rows; r++) {
      const s = this.sums[blockOf(r) % this.blocks];
      for (let i = 0; i < d; i++) {
        const a = x[r * d + i];
        const e = a - f.recon.data[r * d + i];
        s.sumSq += a * a;
        s.xSum[i] += a;
        s.rSum[i] += e;
        s.rSq[i] += e * e;
      }
      for (let p = offsets[r]; p < offsets[r + 1]; p++) {
        const j = indices[p];
        const v = values[p] * this.norms[j];
        s.fires[j]++;
        s.vSum[j] += v;
        s.vSq[j] += v * v;
      }
      s.n++;
    }
  }

  /**
   * The description length. `precision` sets δ relative to RMS(x) (default
   * 1/64); `datasetTokens` is what the dictionary is amortized over.
   * `weights`: how many times each block counts (a bootstrap resample;
   * default once each).
   */
  result(o: { readonly datasetTokens: number; readonly precision?: number }, weights?: ArrayLike<number>): DescriptionLength {
    const { dSae, dIn } = this.sae.cfg;
    const t = new Sums(dSae, dIn);
    this.sums.forEach((s, b) => t.addScaled(s, weights ? weights[b] : 1));
    const n = t.n;
    if (n === 0) throw new Error('description length: no held-out rows were measured');
    if (!(o.datasetTokens > 0)) throw new Error(`description length: datasetTokens must be positive, got ${o.datasetTokens}`);
    const precision = o.precision ?? 1 / 64;
    if (!(precision > 0)) throw new Error(`description length: precision must be positive, got ${precision}`);
    const delta = precision * Math.sqrt(t.sumSq / (n * dIn));
    let support = 0, vals = 0, resid = 0, centred = 0, rss = 0, fired = 0, dead = 0;
    for (let j = 0; j < dSae; j++) {
      const c = t.fires[j];
      fired += c;
      if (c === 0) {
        dead++;
        continue;
      }
      support += bernoulliEntropy(c / n);
      vals += (c / n) * gaussianBits(t.vSq[j] / c - (t.vSum[j] / c) ** 2, delta);
    }
    for (let i = 0; i < dIn; i++) {
      resid += gaussianBits(t.rSq[i] / n - (t.rSum[i] / n) ** 2, delta);
      rss += t.rSq[i];
      centred -= t.xSum[i] ** 2 / n;
    }
    centred += t.sumSq;
    const dict = (dSae * dIn * gaussianBits(unitRowVariance(this.sae.weights.W_dec.data, this.norms, dIn), precision / Math.sqrt(dIn))) / o.datasetTokens;
    return {
      bits_support: support, bits_values: vals, bits_residual: resid, bits_dictionary: dict,
      bits_per_token: support + vals + resid + dict, delta, dataset_tokens: o.datasetTokens, tokens: n,
      explained_variance: 1 - rss / Math.max(centred, 1e-30), l0: fired / n, dead_fraction: dead / dSae,
    };
  }
}

/** Entropy in bits of a Bernoulli(p). */
export function bernoulliEntropy(p: number): number {
  if (p <= 0 || p >= 1) return 0;
  return -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p));
}

/** Bits per value of a Gaussian of this variance quantized at step δ (never negative). */
export function gaussianBits(variance: number, delta: number): number {
  if (!(variance > 0)) return 0;
  return Math.max(0, 0.5 * Math.log2(2 * Math.PI * Math.E * variance) - Math.log2(delta));
}

/** Variance of the entries of the decoder W [d_sae, d_in] after its rows (of these norms) are scaled to unit norm. */
function unitRowVariance(W: Float32Array, norms: Float64Array, dIn: number): number {
  let s = 0, ss = 0;
  for (let f = 0; f < norms.length; f++) {
    const k = 1 / Math.max(norms[f], 1e-30);
    for (let i = 0; i < dIn; i++) {
      const w = W[f * dIn + i] * k;
      s += w;
      ss += w * w;
    }
  }
  const m = norms.length * dIn;
  return ss / m - (s / m) ** 2;
}

/**
 * Global gradient-norm clipping, Adam (Kingma & Ba 2015) with bias
 * correction, and the optional unit-norm constraint on decoder rows, fused
 * into one in-place pass per parameter. Elementwise work like this runs
 * faster fused in one loop than as a chain of unfused ONNX ops that each
 * stream the whole parameter through memory.
 */
import type { Params } from './params.ts';

/** Adam settings. */
export interface AdamOptions {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Rescale W_dec rows [dSae, dIn] to unit norm after the update. */
  readonly unitNormDecoder: boolean;
}

/** Updates params, m and v in place; returns the gradient norm before clipping. */
export function adamStep(params: Params, grads: Params, m: Params, v: Params, t: number, lr: number, maxGradNorm: number, dIn: number, o: AdamOptions): number {
  let sq = 0;
  for (const g of Object.values(grads)) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  const clip = Math.min(1, maxGradNorm / (norm + 1e-6));
  const b1 = o.beta1;
  const b2 = o.beta2;
  const c1 = 1 / (1 - b1 ** t);
  const c2 = 1 / (1 - b2 ** t);
  for (const name of Object.keys(grads)) {
    const p = params[name];
    const g = grads[name];
    const mm = m[name];
    const vv = v[name];
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] * clip;
      const mi = b1 * mm[i] + (1 - b1) * gi;
      const vi = b2 * vv[i] + (1 - b2) * gi * gi;
      mm[i] = mi;
      vv[i] = vi;
      p[i] -= (lr * (mi * c1)) / (Math.sqrt(vi * c2) + o.eps);
    }
  }
  if (o.unitNormDecoder) normalizeRows(params.W_dec, dIn);
  return norm;
}

/** Scales each row of W [rows, dIn] to unit norm. */
export function normalizeRows(W: Float32Array, dIn: number): void {
  for (let r = 0; r < W.length / dIn; r++) {
    let n = 0;
    for (let i = r * dIn; i < (r + 1) * dIn; i++) n += W[i] * W[i];
    const s = 1 / Math.max(Math.sqrt(n), 1e-8);
    for (let i = r * dIn; i < (r + 1) * dIn; i++) W[i] *= s;
  }
}

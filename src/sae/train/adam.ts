/**
 * Global gradient-norm clipping, Adam (Kingma & Ba 2015) with bias
 * correction, and the optional unit-norm constraint on decoder rows, fused
 * into one in-place pass per parameter. Elementwise work like this runs
 * faster fused in one loop than as a chain of unfused ONNX ops that each
 * stream the whole parameter through memory.
 */
import type { Params } from './params.ts';
import { adamUpdate, normalizeRows } from './kernels.ts';
import { adamDecoder } from './parallel.ts';

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
    adamUpdate(params[name], grads[name], m[name], v[name], clip, b1, b2, c1, c2, lr, o.eps);
  }
  if (o.unitNormDecoder) normalizeRows(params.W_dec, dIn);
  return norm;
}


/**
 * `adamStep` with W_dec in the training worker: `decSq` is its gradient's
 * squared norm (from the worker's scatter); W_dec, its gradient and moments
 * are shared arrays. The norm adds the main thread's sum (other parameters,
 * in key order) and W_dec's, in that order.
 */
export async function adamStepSplit(params: Params, grads: Params, m: Params, v: Params, t: number, lr: number, maxGradNorm: number, dIn: number, o: AdamOptions, decSq: number): Promise<number> {
  let sq = 0;
  for (const [name, g] of Object.entries(grads)) if (name !== 'W_dec') for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq + decSq);
  const clip = Math.min(1, maxGradNorm / (norm + 1e-6));
  const b1 = o.beta1;
  const b2 = o.beta2;
  const c1 = 1 / (1 - b1 ** t);
  const c2 = 1 / (1 - b2 ** t);
  const dec = adamDecoder({ p: params.W_dec, g: grads.W_dec, mm: m.W_dec, vv: v.W_dec, clip, b1, b2, c1, c2, lr, eps: o.eps, unit: o.unitNormDecoder, dIn });
  for (const name of Object.keys(grads)) {
    if (name === 'W_dec') continue;
    adamUpdate(params[name], grads[name], m[name], v[name], clip, b1, b2, c1, c2, lr, o.eps);
  }
  await dec;
  return norm;
}

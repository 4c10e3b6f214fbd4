/**
 * Exact rewrites of SAE weights that let one inference graph serve the
 * layouts other trainers save, each as SAELens applies it:
 * - decoder norms (`rescale_acts_by_decoder_norm`, SAELens saes/topk_sae.py
 *   fold_W_dec_norm): W_enc[:, i] *= n_i, b_enc[i] *= n_i, W_dec[i] /= n_i;
 * - a fixed input scale s (activation_scaler.json, `norm_scaling_factor`,
 *   saes/sae.py fold_activation_norm_scaling_factor): W_enc *= s,
 *   W_dec /= s, b_dec /= s;
 * - per-latent `scaling_factor` (old finetuning SAEs): W_dec[i] *= s_i.
 * Each returns new arrays; the caller's tensors are never modified.
 */
import type { Tensor } from '../tensor/tensor.ts';

type W = Record<string, Tensor<'float32'>>;

const like = (t: Tensor<'float32'>, data: Float32Array): Tensor<'float32'> => ({ dtype: 'float32', shape: t.shape, data });

/** Folds the decoder row norms into the encoder; rows of norm 0 are left as they are. */
export function foldDecoderNorm(w: W): W {
  const [dSae, dIn] = w.W_dec.shape;
  const norms = new Float32Array(dSae);
  const dec = new Float32Array(w.W_dec.data);
  for (let i = 0; i < dSae; i++) {
    let s = 0;
    for (let j = 0; j < dIn; j++) s += dec[i * dIn + j] ** 2;
    const n = Math.sqrt(s);
    norms[i] = n > 0 ? n : 1;
    for (let j = 0; j < dIn; j++) dec[i * dIn + j] /= norms[i];
  }
  const enc = new Float32Array(w.W_enc.data);
  // The encoder's rows are the input's width (a transcoder's differs from the decoder's).
  const dEnc = w.W_enc.shape[0];
  for (let j = 0; j < dEnc; j++) for (let i = 0; i < dSae; i++) enc[j * dSae + i] *= norms[i];
  const bEnc = Float32Array.from(w.b_enc.data, (v, i) => v * norms[i]);
  return { ...w, W_enc: like(w.W_enc, enc), b_enc: like(w.b_enc, bEnc), W_dec: like(w.W_dec, dec) };
}

/** Folds a fixed input scale `s` (inputs were multiplied by s before the SAE, outputs divided by it). */
export function foldInputScale(w: W, s: number): W {
  if (!(s > 0) || !Number.isFinite(s)) throw new Error(`activation scaling factor must be a positive number, got ${s}`);
  return {
    ...w,
    W_enc: like(w.W_enc, w.W_enc.data.map((v) => v * s)),
    W_dec: like(w.W_dec, w.W_dec.data.map((v) => v / s)),
    b_dec: like(w.b_dec, w.b_dec.data.map((v) => v / s)),
  };
}

/** Folds per-latent output scales into the decoder rows. */
export function foldLatentScale(w: W, scale: Float32Array): W {
  const [dSae, dIn] = w.W_dec.shape;
  if (scale.length !== dSae) throw new Error(`scaling_factor has ${scale.length} entries, expected d_sae ${dSae}`);
  const dec = new Float32Array(w.W_dec.data);
  for (let i = 0; i < dSae; i++) for (let j = 0; j < dIn; j++) dec[i * dIn + j] *= scale[i];
  return { ...w, W_dec: like(w.W_dec, dec) };
}

/** A [n, m] tensor transposed to [m, n] (Llama Scope stores torch Linear weights). */
export function transpose2d(t: Tensor<'float32'>): Tensor<'float32'> {
  const [n, m] = t.shape;
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[j * n + i] = t.data[i * m + j];
  return { dtype: 'float32', shape: [m, n], data: out };
}

/** A [n] tensor filled with `v`. */
export function filled(n: number, v: number): Tensor<'float32'> {
  return { dtype: 'float32', shape: [n], data: new Float32Array(n).fill(v) };
}

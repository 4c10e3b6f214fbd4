/**
 * Trainable SAE parameters in the trainer's layout: the encoder is kept
 * transposed (`W_encT` [dSae, dIn]) so that a latent's encoder and decoder
 * weights are both rows, which sparse top-k gradients update row by row.
 * Conversions to and from SAELens weights live here.
 */
import type { Tensor } from '../../tensor/tensor.ts';
import { Rng } from '../../tensor/random.ts';
import { architecture } from '../architectures/registry.ts';
import { outWidth, type SaeConfig } from '../config.ts';
import type { SaeWeights } from '../sae.ts';

/** Parameter tensors by name (`W_encT`, `b_enc`, `W_dec`, `b_dec`, optionally `threshold`). */
export type Params = Record<string, Float32Array>;

/** Shapes of the trainable parameters. */
export function paramShapes(cfg: SaeConfig): Record<string, number[]> {
  const dOut = outWidth(cfg);
  const s: Record<string, number[]> = { W_encT: [cfg.dSae, cfg.dIn], b_enc: [cfg.dSae], W_dec: [cfg.dSae, dOut], b_dec: [dOut] };
  if (cfg.skip) s.W_skip = [dOut, cfg.dIn];
  return { ...s, ...architecture(cfg.architecture).training.extraParamShapes(cfg) };
}

/**
 * SAELens-style initialization: decoder rows random with norm `decoderNorm`,
 * encoder = decoder transposed, zero biases (b_dec may be set from data), a
 * skip transcoder's W_skip zero (SAELens transcoder.py), and the
 * architecture's own parameters as it starts them.
 */
export function initParams(cfg: SaeConfig, seed: number, decoderNorm = 0.1, initThreshold = 0.001): Params {
  const rng = new Rng(seed);
  const { dIn, dSae } = cfg;
  const rows = (d: number) => {
    const W = new Float32Array(dSae * d);
    for (let s = 0; s < dSae; s++) {
      let n = 0;
      for (let i = 0; i < d; i++) {
        const v = rng.normal();
        W[s * d + i] = v;
        n += v * v;
      }
      const scale = decoderNorm / Math.sqrt(n);
      for (let i = 0; i < d; i++) W[s * d + i] *= scale;
    }
    return W;
  };
  const dOut = outWidth(cfg);
  const W_dec = rows(dOut);
  // A transcoder's encoder reads another space: with another width it gets rows of its own.
  const W_encT = dOut === dIn ? Float32Array.from(W_dec) : rows(dIn);
  const p: Params = { W_encT, b_enc: new Float32Array(dSae), W_dec, b_dec: new Float32Array(dOut) };
  if (cfg.skip) p.W_skip = new Float32Array(dOut * dIn);
  return { ...p, ...architecture(cfg.architecture).training.initExtra(cfg, { initThreshold }) };
}

/** [rows, cols] to [cols, rows]. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * SAELens weights from trainer parameters, folding an input scale `s`
 * (x_train = s * x) away; the architecture's extra weights as it saves them
 * (`running`: BatchTopK's threshold estimate). `cfg` is the trained config.
 */
export function toSaeWeights(cfg: SaeConfig, p: Params, scale = 1, running?: number): SaeWeights {
  const { dIn, dSae } = cfg;
  const dOut = outWidth(cfg);
  const t = (data: Float32Array, shape: number[]): Tensor<'float32'> => ({ dtype: 'float32', shape, data });
  const W_enc = transpose(p.W_encT, dSae, dIn).map((x) => x * scale);
  const w: Record<string, Tensor<'float32'>> = {
    W_enc: t(W_enc, [dIn, dSae]),
    b_enc: t(Float32Array.from(p.b_enc), [dSae]),
    W_dec: t(p.W_dec.map((x) => x / scale), [dSae, dOut]),
    b_dec: t(p.b_dec.map((x) => x / scale), [dOut]),
  };
  if (p.W_skip) w.W_skip = t(p.W_skip.map((x) => x * scale), [dOut, dIn]);
  // Extra weights are per latent ([dSae]) and read the pre-activation, which the scale leaves unchanged.
  for (const [name, v] of Object.entries(architecture(cfg.architecture).training.saved(cfg, p, running).extra)) w[name] = t(Float32Array.from(v), [dSae]);
  return w;
}


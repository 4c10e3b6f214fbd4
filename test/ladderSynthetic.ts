/** Synthetic rows for the ladder test: sparse combinations of F random unit directions plus Gaussian noise. */
import { Rng } from '../src/tensor/random.ts';
import type { Tensor } from '../src/tensor/tensor.ts';

/** `n` rows [n, dIn], each the sum of `s` of F directions (distinct, uniform) with magnitudes in [1, 2], plus noise of this std per entry. */
export function sparseFactorRows(o: { F: number; dIn: number; s: number; n: number; noise: number; seed: number; directions?: Float32Array }): { rows: Tensor<'float32'>; directions: Float32Array } {
  const rng = new Rng(o.seed);
  const dirs = o.directions ?? new Float32Array(o.F * o.dIn);
  if (!o.directions) {
    for (let f = 0; f < o.F; f++) {
      let norm = 0;
      for (let i = 0; i < o.dIn; i++) norm += (dirs[f * o.dIn + i] = rng.normal()) ** 2;
      for (let i = 0; i < o.dIn; i++) dirs[f * o.dIn + i] /= Math.sqrt(norm);
    }
  }
  const data = new Float32Array(o.n * o.dIn);
  for (let r = 0; r < o.n; r++) {
    const picked = new Set<number>();
    while (picked.size < o.s) picked.add(rng.int(o.F));
    for (const f of picked) {
      const c = 1 + rng.next();
      for (let i = 0; i < o.dIn; i++) data[r * o.dIn + i] += c * dirs[f * o.dIn + i];
    }
    for (let i = 0; i < o.dIn; i++) data[r * o.dIn + i] += o.noise * rng.normal();
  }
  return { rows: { dtype: 'float32', shape: [o.n, o.dIn], data }, directions: dirs };
}

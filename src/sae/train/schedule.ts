/** Learning-rate and sparsity-coefficient schedules (SAELens: warm-up, constant, linear decay). */

/** Learning rate at `step` (1-based) of `total`. */
export function learningRate(step: number, total: number, peak: number, warmup: number, decay: number): number {
  if (warmup > 0 && step <= warmup) return (peak * step) / warmup;
  if (decay > 0 && step > total - decay) return (peak * Math.max(0, total - step)) / decay;
  return peak;
}

/** Sparsity coefficient at `step`: linear warm-up from 0. */
export function sparsityCoefficient(step: number, peak: number, warmup: number): number {
  return warmup > 0 ? peak * Math.min(1, step / warmup) : peak;
}

/** Per-position next-token cross-entropy and KL divergence from logits rows. */

/** log-softmax of one row, into `out`. */
export function logSoftmax(row: ArrayLike<number>, out: Float64Array): void {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - lse;
}

/** KL(p ‖ q) from log-probabilities. */
export function klDivergence(logP: Float64Array, logQ: Float64Array): number {
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const p = Math.exp(logP[i]);
    if (p > 0) kl += p * (logP[i] - logQ[i]);
  }
  return kl;
}

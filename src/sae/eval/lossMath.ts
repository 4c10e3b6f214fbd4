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

/**
 * KL(p ‖ q) and -log p[token] for p = softmax(`clean`), q = softmax(`steered`),
 * in two passes and two exponentials per entry (`scratch`: at least a row):
 * Σ p_i (log p_i − log q_i) = Σ p_i (x_i − y_i) − lse(x) + lse(y).
 */
export function klAndNll(clean: ArrayLike<number>, steered: ArrayLike<number>, token: number, scratch: Float64Array): { kl: number; nll: number } {
  const n = clean.length;
  let mx = -Infinity;
  let my = -Infinity;
  for (let i = 0; i < n; i++) {
    if (clean[i] > mx) mx = clean[i];
    if (steered[i] > my) my = steered[i];
  }
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(clean[i] - mx);
    scratch[i] = e;
    sx += e;
    sy += Math.exp(steered[i] - my);
  }
  const lseP = mx + Math.log(sx);
  const lseQ = my + Math.log(sy);
  let acc = 0;
  for (let i = 0; i < n; i++) acc += scratch[i] * (clean[i] - steered[i]);
  return { kl: acc / sx - lseP + lseQ, nll: lseP - clean[token] };
}

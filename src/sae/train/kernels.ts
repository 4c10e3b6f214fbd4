/**
 * The elementwise kernels of an Adam step, self-contained (no outside names)
 * so the training worker can run their source text (parallel.ts) while the
 * main thread calls them (adam.ts).
 */

/**
 * One parameter's clipped Adam update in place, `c1`/`c2` the bias corrections.
 * Self-contained (no outside names): the training worker runs its source text.
 */
export function adamUpdate(p: Float32Array, g: Float32Array, mm: Float32Array, vv: Float32Array, clip: number, b1: number, b2: number, c1: number, c2: number, lr: number, eps: number): void {
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] * clip;
    const mi = b1 * mm[i] + (1 - b1) * gi;
    const vi = b2 * vv[i] + (1 - b2) * gi * gi;
    mm[i] = mi;
    vv[i] = vi;
    p[i] -= (lr * (mi * c1)) / (Math.sqrt(vi * c2) + eps);
  }
}

/** Scales each row of W [rows, dIn] to unit norm. Self-contained, like `adamUpdate`. */
export function normalizeRows(W: Float32Array, dIn: number): void {
  for (let r = 0; r < W.length / dIn; r++) {
    let n = 0;
    for (let i = r * dIn; i < (r + 1) * dIn; i++) n += W[i] * W[i];
    const s = 1 / Math.max(Math.sqrt(n), 1e-8);
    for (let i = r * dIn; i < (r + 1) * dIn; i++) W[i] *= s;
  }
}

/** Sparse SAE codes: per-token active latents in CSR form. */

/** Active latents of `n` tokens. Token i owns `indices/values[offsets[i] .. offsets[i+1])`. */
export interface SparseCodes {
  /** Number of tokens (rows). */
  readonly n: number;
  /** Row starts [n + 1]. */
  readonly offsets: Int32Array;
  /** Latent ids, ascending by activation within nothing in particular. */
  readonly indices: Int32Array;
  /** Activations (> 0) of those latents. */
  readonly values: Float32Array;
}

/** Codes from a dense [n, dSae] activation matrix (zeros dropped). */
export function codesFromDense(acts: Float32Array, n: number, dSae: number): SparseCodes {
  let nnz = 0;
  for (let i = 0; i < acts.length; i++) if (acts[i] !== 0) nnz++;
  const offsets = new Int32Array(n + 1);
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let p = 0;
  for (let r = 0; r < n; r++) {
    offsets[r] = p;
    const base = r * dSae;
    for (let j = 0; j < dSae; j++) {
      const v = acts[base + j];
      if (v !== 0) {
        indices[p] = j;
        values[p++] = v;
      }
    }
  }
  offsets[n] = p;
  return { n, offsets, indices, values };
}

/** Codes from top-k outputs [n, k] (values, int64 or float indices); zeros dropped. */
export function codesFromTopK(values: Float32Array, indices: ArrayLike<number | bigint>, n: number, k: number): SparseCodes {
  const offsets = new Int32Array(n + 1);
  const idx = new Int32Array(n * k);
  const val = new Float32Array(n * k);
  let p = 0;
  for (let r = 0; r < n; r++) {
    offsets[r] = p;
    for (let j = 0; j < k; j++) {
      const v = values[r * k + j];
      if (v > 0) {
        idx[p] = Number(indices[r * k + j]);
        val[p++] = v;
      }
    }
  }
  offsets[n] = p;
  return { n, offsets, indices: idx.subarray(0, p), values: val.subarray(0, p) };
}

/** Dense [n, dSae] activations from codes. */
export function denseFromCodes(c: SparseCodes, dSae: number): Float32Array {
  const out = new Float32Array(c.n * dSae);
  for (let r = 0; r < c.n; r++) for (let p = c.offsets[r]; p < c.offsets[r + 1]; p++) out[r * dSae + c.indices[p]] = c.values[p];
  return out;
}

/** Sorts each row's entries by latent id in place (insertion sort: rows are short), for binary-search lookups. */
export function sortRowsByIndex(c: SparseCodes): void {
  const { indices, values } = c;
  for (let r = 0; r < c.n; r++) {
    const a = c.offsets[r];
    const b = c.offsets[r + 1];
    for (let i = a + 1; i < b; i++) {
      const ki = indices[i];
      const vi = values[i];
      let j = i - 1;
      while (j >= a && indices[j] > ki) {
        indices[j + 1] = indices[j];
        values[j + 1] = values[j];
        j--;
      }
      indices[j + 1] = ki;
      values[j + 1] = vi;
    }
  }
}

/** Latent `f`'s activation in row `r` of codes sorted by `sortRowsByIndex` (0 when inactive). */
export function lookupSorted(c: SparseCodes, r: number, f: number): number {
  let lo = c.offsets[r];
  let hi = c.offsets[r + 1] - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = c.indices[mid];
    if (v === f) return c.values[mid];
    if (v < f) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}

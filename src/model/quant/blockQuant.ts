/**
 * Block quantization of linear weights in the layout of ONNX Runtime's
 * `com.microsoft.MatMulNBits` (docs/ContribOperators.md, MatMulNBits): the
 * weight is viewed as [N = out, K = in], each row cut into blocks of
 * `blockSize` along K; each block keeps a float scale and an unsigned zero
 * point (asymmetric min/max, so the block's range maps onto 0..2^bits-1).
 * 4-bit values pack two to a byte, the lower index in the low nibble; zero
 * points pack the same way, ceil(nBlocks * bits / 8) bytes per row.
 *
 * Embeddings get a simpler symmetric int8 per-block layout for a gather that
 * dequantizes only the rows it reads.
 */

/** Bits per weight in a quantized mode. */
export type QuantBits = 4 | 8;

/** One quantized [N, K] matrix in MatMulNBits layout. */
export interface NBitsMatrix {
  /** Output features (rows). */
  readonly N: number;
  /** Input features (quantized axis). */
  readonly K: number;
  readonly bits: QuantBits;
  readonly blockSize: number;
  /** [N, nBlocks, blockSize * bits / 8] */
  readonly B: Uint8Array;
  /** [N * nBlocks] */
  readonly scales: Float32Array;
  /** [N * ceil(nBlocks * bits / 8)] */
  readonly zeroPoints: Uint8Array;
}

/** Blocks per row. */
export function nBlocks(K: number, blockSize: number): number {
  return Math.ceil(K / blockSize);
}

/**
 * Quantizes `w`, stored [N, K] (`kMajor` false: a torch Linear weight) or
 * [K, N] (`kMajor` true: a Conv1D weight, read transposed).
 */
export function quantizeNBits(w: Float32Array, N: number, K: number, kMajor: boolean, bits: QuantBits, blockSize: number): NBitsMatrix {
  const nb = nBlocks(K, blockSize);
  const blob = (blockSize * bits) / 8;
  const zpRow = Math.ceil((nb * bits) / 8);
  const B = new Uint8Array(N * nb * blob);
  const scales = new Float32Array(N * nb);
  const zeroPoints = new Uint8Array(N * zpRow);
  const qmax = (1 << bits) - 1;
  const row = new Float32Array(K);
  for (let n = 0; n < N; n++) {
    if (kMajor) for (let k = 0; k < K; k++) row[k] = w[k * N + n];
    else row.set(w.subarray(n * K, (n + 1) * K));
    for (let b = 0; b < nb; b++) {
      const lo = b * blockSize;
      const hi = Math.min(K, lo + blockSize);
      let mn = 0;
      let mx = 0;
      for (let k = lo; k < hi; k++) {
        if (row[k] < mn) mn = row[k];
        if (row[k] > mx) mx = row[k];
      }
      const scale = mx > mn ? (mx - mn) / qmax : 1;
      const zp = Math.min(qmax, Math.max(0, Math.round(-mn / scale)));
      scales[n * nb + b] = scale;
      const base = (n * nb + b) * blob;
      for (let k = lo; k < hi; k++) {
        const q = Math.min(qmax, Math.max(0, Math.round(row[k] / scale) + zp));
        const j = k - lo;
        if (bits === 8) B[base + j] = q;
        else B[base + (j >> 1)] |= (j & 1) === 0 ? q : q << 4;
      }
      // Padding past K quantizes 0 to the zero point.
      for (let j = hi - lo; j < blockSize; j++) {
        if (bits === 8) B[base + j] = zp;
        else B[base + (j >> 1)] |= (j & 1) === 0 ? zp : zp << 4;
      }
      if (bits === 8) zeroPoints[n * zpRow + b] = zp;
      else zeroPoints[n * zpRow + (b >> 1)] |= (b & 1) === 0 ? zp : zp << 4;
    }
  }
  return { N, K, bits, blockSize, B, scales, zeroPoints };
}


/** An embedding [rows, cols] as symmetric int8 blocks along cols. */
export interface Int8Rows {
  readonly rows: number;
  readonly cols: number;
  readonly blockSize: number;
  /** [rows, cols] */
  readonly q: Int8Array;
  /** [rows, cols / blockSize] */
  readonly scales: Float32Array;
}

/** Quantizes an embedding row by row; `blockSize` must divide `cols`. */
export function quantizeRowsInt8(w: Float32Array, rows: number, cols: number, blockSize: number): Int8Rows {
  if (cols % blockSize !== 0) throw new Error(`embedding width ${cols} is not a multiple of the block size ${blockSize}`);
  const nb = cols / blockSize;
  const q = new Int8Array(rows * cols);
  const scales = new Float32Array(rows * nb);
  for (let blk = 0; blk < rows * nb; blk++) {
    const lo = blk * blockSize;
    let m = 0;
    for (let i = lo; i < lo + blockSize; i++) m = Math.max(m, Math.abs(w[i]));
    const s = m > 0 ? m / 127 : 1;
    scales[blk] = s;
    for (let i = lo; i < lo + blockSize; i++) q[i] = Math.round(w[i] / s);
  }
  return { rows, cols, blockSize, q, scales };
}

/** The block size used for a width: 32 when it divides, else the largest power of two that does. */
export function blockSizeFor(width: number, preferred = 32): number {
  let b = preferred;
  while (b > 1 && width % b !== 0) b >>= 1;
  return b;
}

/** The float values of a whole 8-bit quantized matrix, [N, K] (fidelity studies: what the weights alone lose). */
export function dequantizeNBits8(m: NBitsMatrix): Float32Array {
  if (m.bits !== 8) throw new Error(`dequantizeNBits8 takes 8-bit matrices, got ${m.bits} bits`);
  const nb = nBlocks(m.K, m.blockSize);
  const out = new Float32Array(m.N * m.K);
  for (let n = 0; n < m.N; n++) {
    for (let b = 0; b < nb; b++) {
      const s = m.scales[n * nb + b];
      const zp = m.zeroPoints[n * nb + b];
      const base = (n * nb + b) * m.blockSize;
      for (let j = 0, k = b * m.blockSize; j < m.blockSize && k < m.K; j++, k++) out[n * m.K + k] = (m.B[base + j] - zp) * s;
    }
  }
  return out;
}

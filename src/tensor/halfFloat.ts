/**
 * IEEE half (F16) and bfloat16 (BF16) decoding to float32, for weights stored
 * in reduced precision; saescope always computes in f32.
 */

/** One IEEE 754 binary16 value to a JS number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}


/**
 * Widens BF16 `src` into `out` from element `at`, two elements per 32-bit
 * read (a bf16 is the top half of an f32).
 */
export function bf16Into(src: Uint16Array, out: Float32Array, at: number): void {
  const o = new Uint32Array(out.buffer, out.byteOffset + at * 4, src.length);
  const pairs = src.length >> 1;
  const s = (src.byteOffset & 3) === 0 ? new Uint32Array(src.buffer, src.byteOffset, pairs) : undefined;
  if (s) {
    for (let i = 0, j = 0; i < pairs; i++, j += 2) {
      const w = s[i];
      o[j] = w << 16;
      o[j + 1] = w & 0xffff0000;
    }
  }
  for (let i = s ? pairs * 2 : 0; i < src.length; i++) o[i] = src[i] << 16;
}

/** Widens F16 `src` into `out` from element `at`. */
export function f16Into(src: Uint16Array, out: Float32Array, at: number): void {
  const t = halfTable();
  for (let i = 0; i < src.length; i++) out[at + i] = t[src[i]];
}




let table: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = halfToFloat(i);
  }
  return table;
}

/**
 * IEEE half (F16) and bfloat16 (BF16) decoding to float32, for weights stored
 * in reduced precision; saescope always computes in f32.
 */

const f32Buf = new Float32Array(1);
const u32Buf = new Uint32Array(f32Buf.buffer);

/** One IEEE 754 binary16 value to a JS number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** F16 elements to float32 through a 65,536-entry lookup table. */
export function f16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  f16Into(src, out, 0);
  return out;
}

/** BF16 elements to float32: bf16 is the top half of an f32. */
export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  bf16Into(src, out, 0);
  return out;
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

/** float32 to bf16 bits with round-to-nearest-even (used by tests and writers). */
export function f32ToBf16(x: number): number {
  f32Buf[0] = x;
  const u = u32Buf[0];
  if ((u & 0x7f800000) === 0x7f800000 && u & 0x7fffff) return 0x7fc0;
  return ((u + 0x7fff + ((u >> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 to IEEE half bits, round-to-nearest (used by tests and writers). */
export function f32ToHalf(x: number): number {
  f32Buf[0] = x;
  const u = u32Buf[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = u & 0x7fffff;
  if (((u >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (mant | 0x800000) >> (1 - exp);
    return sign | ((m + 0x1000) >> 13);
  }
  return (sign | (exp << 10) | (mant >> 13)) + ((mant >> 12) & 1);
}

let table: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = halfToFloat(i);
  }
  return table;
}

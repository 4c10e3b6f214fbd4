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

/** `q >> shift` rounded to nearest, ties to even (shift >= 1). */
function shiftRoundEven(q: number, shift: number): number {
  const kept = q >>> shift;
  const rest = q & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && kept & 1) ? kept + 1 : kept;
}

/** float32 to IEEE half bits, round-to-nearest-even as torch and numpy (overflow to infinity; subnormals kept). */
export function f32ToHalf(x: number): number {
  f32Buf[0] = x;
  const u = u32Buf[0];
  const sign = (u >>> 16) & 0x8000;
  const e8 = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (e8 === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const exp = e8 - 127 + 15;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    // A half subnormal counts units of 2^-24; below half a unit (exp < -10) everything rounds to zero.
    if (exp < -10) return sign;
    return sign | shiftRoundEven(mant | 0x800000, 14 - exp);
  }
  // A carry out of the mantissa bumps the exponent, and from the largest finite value gives infinity (0x7c00): both right.
  return sign | shiftRoundEven((exp << 23) | mant, 13);
}

let table: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = halfToFloat(i);
  }
  return table;
}

/**
 * float32 to F16 and BF16 bits, round-to-nearest-even as torch and numpy
 * round: test tooling for writing reduced-precision files (saescope itself
 * only reads them; loading.test.ts holds these against torch's bits).
 */

const f32Buf = new Float32Array(1);
const u32Buf = new Uint32Array(f32Buf.buffer);

/** float32 to bf16 bits with round-to-nearest-even . */
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

/**
 * The one tensor type of the library: a dtype, a shape and a flat typed array
 * in row-major order. Kept deliberately small; heavy math runs on ONNX Runtime.
 */

/** Element types saescope computes with. */
export type DType = 'float32' | 'int64' | 'int32' | 'uint8' | 'int8';

/** Typed array backing each dtype. */
export interface DataOf {
  float32: Float32Array;
  int64: BigInt64Array;
  int32: Int32Array;
  /** Quantized weights (packed nibbles or bytes). */
  uint8: Uint8Array;
  /** Quantized weights (signed bytes). */
  int8: Int8Array;
}

/** A dense row-major tensor. */
export interface Tensor<D extends DType = 'float32'> {
  /** Element type. */
  readonly dtype: D;
  /** Dimensions, outermost first, e.g. `[batch, pos, dModel]`. */
  readonly shape: readonly number[];
  /** Elements in row-major order; `data.length === numel(shape)`. */
  readonly data: DataOf[D];
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

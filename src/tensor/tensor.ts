/**
 * The one tensor type of the library: a dtype, a shape and a flat typed array
 * in row-major order. Kept deliberately small; heavy math runs on ONNX Runtime.
 */

/** Element types saescope computes with. */
export type DType = 'float32' | 'int64' | 'int32';

/** Typed array backing each dtype. */
export interface DataOf {
  float32: Float32Array;
  int64: BigInt64Array;
  int32: Int32Array;
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

/** A float32 tensor over `data`, checking that the sizes agree. */
export function f32(data: Float32Array, shape: readonly number[]): Tensor<'float32'> {
  if (data.length !== numel(shape)) {
    throw new Error(`tensor data has ${data.length} elements but shape [${shape.join(', ')}] needs ${numel(shape)}`);
  }
  return { dtype: 'float32', shape: [...shape], data };
}

/** A float32 tensor of zeros. */
export function zeros(shape: readonly number[]): Tensor<'float32'> {
  return f32(new Float32Array(numel(shape)), shape);
}

/** Row `i` of the flattened-to-2D view `[shape[0] * ... , last]`, as a view (no copy). */
export function row(t: Tensor<'float32'>, i: number): Float32Array {
  const width = t.shape[t.shape.length - 1];
  return t.data.subarray(i * width, (i + 1) * width);
}

/** Largest absolute difference between two same-shaped float tensors. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

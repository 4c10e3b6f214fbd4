/**
 * Turns interventions into graph inputs: additive deltas (summed per hook,
 * broadcast over batch and, without positions, over positions) and
 * replacement tensors (checked against the hook's shape).
 */
import { interventionInput, type Intervention } from '../hooks/interventions.ts';
import { requireHook } from '../hooks/resolve.ts';
import type { HookPoint } from '../hooks/points.ts';
import { numel, type Tensor } from '../tensor/tensor.ts';
import type { ModelSpec } from './spec.ts';

const SEQ_DIMS = new Set(['batch', 'pos', 'queryPos', 'keyPos']);

/** Sizes of a hook's dims after batch and position(s), e.g. [dModel]. */
export function hookInnerDims(point: HookPoint, spec: ModelSpec): number[] {
  const sizes: Record<string, number> = {
    dModel: spec.dModel, dMlp: spec.dMlp, nHeads: spec.nHeads, nKvHeads: spec.nKvHeads, dHead: spec.dHead,
  };
  return point.shape.filter((s) => !SEQ_DIMS.has(s)).map((s) => sizes[s]);
}

/** Graph plan parts and feeds for a set of interventions. */
export interface InterventionFeeds {
  /** Hooks with additive inputs, sorted. */
  readonly add: string[];
  /** Hooks with replacement inputs, sorted. */
  readonly replace: string[];
  /** Input tensors by graph input name. */
  readonly feeds: Record<string, Tensor<'float32'>>;
}

/**
 * Builds feeds for a call over `T` new positions starting at absolute
 * position `start`, for a batch of `B`.
 */
export function interventionFeeds(
  list: readonly Intervention[], points: readonly HookPoint[], spec: ModelSpec, B: number, T: number, start = 0,
): InterventionFeeds {
  const feeds: Record<string, Tensor<'float32'>> = {};
  const add = new Set<string>();
  const replace = new Set<string>();
  for (const iv of list) {
    const point = requireHook(iv.hook, points);
    const inner = hookInnerDims(point, spec);
    const width = numel(inner);
    if (point.shape.includes('keyPos')) throw new Error(`interventions on ${iv.hook} are not supported (pattern hooks have no fixed width)`);
    if (iv.kind === 'replace') {
      const want = [B, T, ...inner];
      if (iv.value.shape.length !== want.length || iv.value.shape.some((d, i) => d !== want[i])) {
        throw new Error(`replacement for ${iv.hook} has shape [${iv.value.shape.join(', ')}], expected [${want.join(', ')}]`);
      }
      if (replace.has(iv.hook)) throw new Error(`two replacements for ${iv.hook} in one call`);
      replace.add(iv.hook);
      feeds[interventionInput('replace', iv.hook)] = iv.value;
      continue;
    }
    if (iv.vector.length !== width) {
      throw new Error(`vector added at ${iv.hook} has ${iv.vector.length} elements, expected ${width} ([${inner.join(', ')}])`);
    }
    for (const x of iv.vector) if (!Number.isFinite(x)) throw new Error(`vector added at ${iv.hook} contains ${x}`);
    const name = interventionInput('add', iv.hook);
    add.add(iv.hook);
    const rows = iv.positions ? T : 1;
    let cur = feeds[name] ?? emptyDelta(inner);
    if (rows === T && cur.shape[1] !== T) cur = widen(cur, T, inner);
    feeds[name] = cur;
    const data = cur.data;
    if (!iv.positions) {
      for (let r = 0; r < cur.shape[1]; r++) for (let i = 0; i < width; i++) data[r * width + i] += iv.vector[i];
      continue;
    }
    for (const p of iv.positions) {
      if (!Number.isInteger(p) || p < 0) throw new Error(`intervention position ${p} at ${iv.hook} is not a non-negative integer`);
      const r = p - start;
      if (r < 0 || r >= T) continue;
      for (let i = 0; i < width; i++) data[r * width + i] += iv.vector[i];
    }
  }
  return { add: [...add].sort(), replace: [...replace].sort(), feeds };
}

/** A [1, rows, ...inner] delta, copying a broadcast [1, 1, ...] one into every row. */
function widen(prev: Tensor<'float32'>, rows: number, inner: number[]): Tensor<'float32'> {
  const width = numel(inner);
  const data = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) data.set(prev.data.subarray(0, width), r * width);
  return { dtype: 'float32', shape: [1, rows, ...inner], data };
}

/** Starts a broadcast delta [1, 1, ...inner] of zeros. */
export function emptyDelta(inner: number[]): Tensor<'float32'> {
  return { dtype: 'float32', shape: [1, 1, ...inner], data: new Float32Array(numel(inner)) };
}

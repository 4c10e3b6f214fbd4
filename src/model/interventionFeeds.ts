/**
 * Turns interventions into graph inputs: additive deltas (summed per hook,
 * broadcast over batch and, without positions, over positions) and
 * replacement tensors (checked against the hook's shape).
 */
import { interventionInput, type ClampPlan, type FeatureEncoder, type Intervention } from '../hooks/interventions.ts';
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
  /** Feature clamps, sorted by hook. */
  readonly clamp: ClampPlan[];
  /** Encoders the clamps read, by id. */
  readonly encoders: Map<string, FeatureEncoder>;
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
  const clamp: ClampPlan[] = [];
  const encoders = new Map<string, FeatureEncoder>();
  for (const iv of list) {
    const point = requireHook(iv.hook, points);
    const inner = hookInnerDims(point, spec);
    const width = numel(inner);
    if (point.shape.includes('keyPos')) throw new Error(`interventions on ${iv.hook} are not supported (pattern hooks have no fixed width)`);
    if (iv.kind === 'clamp') {
      clamp.push(clampFeeds(iv, width, B, T, start, feeds));
      encoders.set(iv.encoder.id, iv.encoder);
      continue;
    }
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
  return { add: [...add].sort(), replace: [...replace].sort(), clamp: clamp.sort((a, b) => a.hook.localeCompare(b.hook)), encoders, feeds };
}

/** Checks a clamp and adds its value and position-mask inputs. */
function clampFeeds(iv: Extract<Intervention, { kind: 'clamp' }>, width: number, B: number, T: number, start: number, feeds: Record<string, Tensor<'float32'>>): ClampPlan {
  const [dIn, dSae] = iv.encoder.W_enc.shape;
  if (dIn !== width) throw new Error(`clamp at ${iv.hook}: the SAE has d_in ${dIn} but the hook has width ${width}`);
  if (iv.features.length === 0 || iv.features.length !== iv.values.length) throw new Error(`clamp at ${iv.hook}: give one value per feature`);
  for (const f of iv.features) if (!Number.isInteger(f) || f < 0 || f >= dSae) throw new Error(`clamp at ${iv.hook}: feature ${f} is out of range [0, ${dSae})`);
  for (const v of iv.values) if (!Number.isFinite(v)) throw new Error(`clamp at ${iv.hook}: value ${v} is not a finite number`);
  if (feeds[interventionInput('clamp', iv.hook)]) throw new Error(`two clamps at ${iv.hook} in one call; put the features in one clamp`);
  feeds[interventionInput('clamp', iv.hook)] = { dtype: 'float32', shape: [1, 1, iv.values.length], data: Float32Array.from(iv.values) };
  const mask = new Float32Array(T);
  if (!iv.positions) mask.fill(1);
  else for (const p of iv.positions) if (p - start >= 0 && p - start < T) mask[p - start] = 1;
  feeds[interventionInput('clamp.mask', iv.hook)] = { dtype: 'float32', shape: [1, T, 1], data: mask };
  return { hook: iv.hook, encoder: iv.encoder.id, features: [...iv.features] };
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

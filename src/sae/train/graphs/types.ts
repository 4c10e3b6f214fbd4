/** Values shared by the pieces of one training-step graph. */
import type { GraphBuilder } from '../../../runtime/graph.ts';
import type { SaeConfig } from '../../config.ts';

/** The loss terms and gradients a forward/backward piece produces. */
export interface Grads {
  /** Gradient value name per parameter name. */
  readonly grads: Record<string, string>;
  /** Scalar loss terms by name (`mse`, `l1`, `l0`, `aux`). */
  readonly losses: Record<string, string>;
  /** Scalar mean L0 of the batch. */
  readonly l0: string;
  /** Forward values exposed for tests and metrics. */
  readonly extra: Record<string, string>;
}

/** Inputs shared by every piece. */
export interface StepInputs {
  readonly g: GraphBuilder;
  readonly cfg: SaeConfig;
  /** x [B, dIn]. */
  readonly x: string;
  /** A transcoder's target y [B, dOut] (an SAE's target is x). */
  readonly y?: string;
  /** Parameter value names. */
  readonly p: Record<string, string>;
  /** Batch size B as a float scalar [] (computed from x's shape). */
  readonly batch: string;
}

/** `a * b` broadcast, as one node. */
export function mul(g: GraphBuilder, a: string, b: string): string {
  return g.op('Mul', [a, b]);
}

/** Sum over all elements, as a scalar. */
export function sumAll(g: GraphBuilder, a: string): string {
  return g.op('ReduceSum', [a], { keepdims: 0 });
}

/** Float 0/1 of a boolean. */
export function asFloat(g: GraphBuilder, b: string): string {
  return g.op('Cast', [b], { to: 1 });
}

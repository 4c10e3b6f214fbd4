/**
 * Interventions at hook points, applied inside the graph as inputs:
 * `add` adds a vector (steering), `replace` substitutes a whole tensor
 * (patching, SAE splicing). They belong to one call; nothing global survives it.
 */
import type { Tensor } from '../tensor/tensor.ts';

/** Adds `vector` [hook's last dim] at the hook, at all positions or the given ones. */
export interface AddIntervention {
  readonly kind: 'add';
  /** Hook name. */
  readonly hook: string;
  /** The vector to add [dModel] (or the hook's last dimension). */
  readonly vector: Float32Array;
  /** Absolute token positions to add at; all positions when absent. */
  readonly positions?: readonly number[];
}

/** Replaces the hook's activation with `value` [batch, pos, ...] (the hook's full shape). */
export interface ReplaceIntervention {
  readonly kind: 'replace';
  /** Hook name. */
  readonly hook: string;
  /** The replacement, shaped like the hook's activation. */
  readonly value: Tensor<'float32'>;
}

/** Any intervention. */
export type Intervention = AddIntervention | ReplaceIntervention;

/** Graph input name carrying an intervention's tensor. */
export function interventionInput(kind: Intervention['kind'], hook: string): string {
  return `${kind}:${hook}`;
}

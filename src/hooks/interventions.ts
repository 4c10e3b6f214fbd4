/**
 * Interventions at hook points, applied inside the graph as inputs:
 * `add` adds a vector (steering), `replace` substitutes a whole tensor
 * (patching, SAE splicing). They belong to one call; nothing global survives it.
 */
import type { Normalization } from '../sae/config.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { GraphBuilder } from '../runtime/graph.ts';
import type { ActivationOut } from '../sae/architectures/architecture.ts';

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

/**
 * An SAE encoder the graph evaluates at a hook, so a clamp can read a
 * feature's current activation. Weights in SAELens layout.
 */
export interface FeatureEncoder {
  /** Identifies the weights (sessions are cached by it). */
  readonly id: string;
  readonly architecture: 'standard' | 'topk' | 'batchtopk' | 'jumprelu';
  /** Active latents per token (topk). */
  readonly k?: number;
  readonly applyBDecToInput: boolean;
  /** Row centring before the SAE (SAELens centred residuals). */
  readonly centerInput?: boolean;
  /** SAELens's run-time normalization (folded scales are already in the weights). */
  readonly normalization?: Normalization;
  /** [dIn, dSae] */
  readonly W_enc: Tensor<'float32'>;
  /** [dSae] */
  readonly b_enc: Tensor<'float32'>;
  /** [dIn] */
  readonly b_dec: Tensor<'float32'>;
  /** [dSae, dIn] */
  readonly W_dec: Tensor<'float32'>;
  /** The architecture's extra weights by name, each [dSae] (a jumprelu's `threshold`). */
  readonly extra: Readonly<Record<string, Tensor<'float32'>>>;
  /**
   * The architecture's activation (sae/architectures), added to a graph on
   * pre-activations; `weight(name)` names an extra weight's initializer.
   */
  readonly activation: (g: GraphBuilder, pre: string, weight: (name: string) => string) => ActivationOut;
  /** A latent's activation reads only its own pre-activation, so clamped latents need only their own columns. */
  readonly perLatent: boolean;
}

/**
 * Sets SAE features to values while keeping the SAE's error term: adds
 * (value - f(x)) * W_dec[f] at the hook (value 0 ablates).
 */
export interface ClampIntervention {
  readonly kind: 'clamp';
  readonly hook: string;
  readonly encoder: FeatureEncoder;
  /** Feature indices. */
  readonly features: readonly number[];
  /** Target value per feature. */
  readonly values: readonly number[];
  /** Absolute token positions; all positions when absent. */
  readonly positions?: readonly number[];
}

/** Any intervention. */
export type Intervention = AddIntervention | ReplaceIntervention | ClampIntervention;

/** Graph input name carrying an intervention's tensor. */
export function interventionInput(kind: Intervention['kind'] | 'clamp.mask', hook: string): string {
  return `${kind}:${hook}`;
}

/** What a compiled graph needs to know of a clamp (part of the session key). */
export interface ClampPlan {
  readonly hook: string;
  readonly encoder: string;
  readonly features: readonly number[];
}

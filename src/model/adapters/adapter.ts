/**
 * What an architecture adapter declares: which `model_type`s it serves, how
 * config.json maps to a `ModelSpec`, and where each canonical weight lives in
 * the HF checkpoint. Canonical weights are in `x @ W` orientation ([in, out]);
 * `transpose` marks HF Linear weights stored [out, in].
 */
import type { ModelSpec } from '../spec.ts';

/** Where one canonical weight comes from. `{L}` stands for the block index. */
export interface WeightRef {
  /** HF tensor names to try in order (the first present wins: tied embeddings). */
  readonly from: string | readonly string[];
  /** Stored [out, in] (torch Linear); the graph transposes it. */
  readonly transpose?: boolean;
  /** Absent in some checkpoints (biases); the graph then skips it. */
  readonly optional?: boolean;
}

/** How fused attention projections are laid out. */
export type QkvLayout =
  /** Separate `W_Q`, `W_K`, `W_V`. */
  | 'separate'
  /** One `W_qkv` [d, 3 * d] whose columns are [q | k | v] (GPT-2's c_attn). */
  | 'fused_qkv'
  /** One `W_qkv` whose output is grouped per head as [head, (q, k, v), dHead] (GPT-NeoX). */
  | 'fused_heads';

/** Canonical weight names. */
export type CanonicalWeight =
  | 'W_E' | 'W_pos' | 'ln_final.w' | 'ln_final.b' | 'W_U' | 'b_U'
  | 'ln1.w' | 'ln1.b' | 'ln2.w' | 'ln2.b' | 'ln1_post.w' | 'ln2_post.w' | 'q_norm.w' | 'k_norm.w'
  | 'W_Q' | 'W_K' | 'W_V' | 'b_Q' | 'b_K' | 'b_V' | 'W_qkv' | 'b_qkv' | 'W_O' | 'b_O'
  | 'W_in' | 'b_in' | 'W_gate' | 'W_out' | 'b_out';

/** A declarative architecture adapter. */
export interface ArchAdapter {
  /** HF `model_type` values served. */
  readonly modelTypes: readonly string[];
  /** Prefixes some checkpoints put before every name (`transformer.`, `model.`). */
  readonly stripPrefixes: readonly string[];
  /** Attention projection layout. */
  readonly qkv: QkvLayout;
  /** Canonical weight to HF tensor(s). */
  readonly weights: Readonly<Partial<Record<CanonicalWeight, WeightRef>>>;
  /** Reads config.json into a spec (throwing naming a missing field). */
  spec(cfg: Readonly<Record<string, unknown>>): ModelSpec;
}

/** Reads a required numeric config field, or throws naming it. */
export function num(cfg: Readonly<Record<string, unknown>>, ...keys: string[]): number {
  for (const k of keys) {
    const v = cfg[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  throw new Error(`config.json: missing numeric field ${keys.map((k) => `'${k}'`).join(' or ')}`);
}

/** Reads an optional numeric config field. */
export function optNum(cfg: Readonly<Record<string, unknown>>, key: string): number | undefined {
  const v = cfg[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Reads an optional boolean config field. */
export function optBool(cfg: Readonly<Record<string, unknown>>, key: string): boolean | undefined {
  const v = cfg[key];
  return typeof v === 'boolean' ? v : undefined;
}

/** HF activation names (ACT2FN) to the MLP activations the graph builds; throws naming an unsupported one. */
export function activation(name: string, modelType: string): 'gelu_tanh' | 'gelu' | 'silu' | 'relu' {
  switch (name) {
    case 'gelu_pytorch_tanh':
    case 'gelu_new':
    case 'gelu_fast':
      return 'gelu_tanh';
    case 'gelu':
      return 'gelu';
    case 'silu':
    case 'swish':
      return 'silu';
    case 'relu':
      return 'relu';
    default:
      throw new Error(`config.json: unsupported activation '${name}' for ${modelType}`);
  }
}

/**
 * Per-layer sliding windows: HF's `layer_types` (v4.53+ and v5 configs) when
 * config.json has it, else `defaultTypes`; `window` is the configured width
 * (null or undefined: no layer slides). Undefined when every layer attends fully.
 */
export function slidingWindows(
  cfg: Readonly<Record<string, unknown>>,
  nLayers: number,
  window: unknown,
  defaultTypes: (i: number) => 'sliding_attention' | 'full_attention',
): (number | null)[] | undefined {
  const raw: unknown[] = Array.isArray(cfg.layer_types) ? cfg.layer_types : Array.from({ length: nLayers }, (_, i) => defaultTypes(i));
  if (raw.length !== nLayers || raw.some((t) => t !== 'sliding_attention' && t !== 'full_attention')) {
    throw new Error(`config.json: layer_types must list ${nLayers} of sliding_attention|full_attention, got ${JSON.stringify(raw)}`);
  }
  if (window == null || !raw.includes('sliding_attention')) return undefined;
  if (typeof window !== 'number' || !Number.isInteger(window) || window < 1) {
    throw new Error(`config.json: sliding layers need an integer sliding_window >= 1, got ${JSON.stringify(window)}`);
  }
  return raw.map((t) => (t === 'sliding_attention' ? window : null));
}

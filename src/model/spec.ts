/**
 * The canonical description of a decoder-only transformer, independent of
 * where its weights came from. Adapters turn an HF `config.json` into this.
 */

/** Rotary scaling as HF's `rope_scaling` (only the kinds saescope implements). */
export type RopeScaling =
  | { readonly type: 'linear'; readonly factor: number }
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositions: number;
    };

/** Architecture hyper-parameters in canonical names. */
export interface ModelSpec {
  /** HF `model_type`, e.g. `gpt2`, `gpt_neox`, `llama`. */
  readonly modelType: string;
  /** Number of blocks. */
  readonly nLayers: number;
  /** Residual width. */
  readonly dModel: number;
  /** Query heads. */
  readonly nHeads: number;
  /** Key/value heads (fewer than nHeads under grouped-query attention). */
  readonly nKvHeads: number;
  /** Width of one head. */
  readonly dHead: number;
  /** MLP hidden width. */
  readonly dMlp: number;
  /** Vocabulary size (rows of the embedding). */
  readonly dVocab: number;
  /** Context length: the longest sequence the model accepts. */
  readonly nCtx: number;
  /** Normalization kind. */
  readonly norm: 'layernorm' | 'rmsnorm';
  /** Normalization epsilon. */
  readonly normEps: number;
  /** Learned absolute positions (GPT-2) or rotary (NeoX, Llama). */
  readonly positions: 'learned' | 'rotary';
  /** Leading dims of each head that rotate (partial rotary in NeoX). */
  readonly rotaryDim: number;
  /** Rotary base. */
  readonly ropeTheta: number;
  /** Rotary frequency scaling, when the config asks for it. */
  readonly ropeScaling?: RopeScaling;
  /** A second rotary for the sliding-window layers (Gemma 3: `rope_local_base_freq`, never scaled); absent: every layer uses the one above. */
  readonly localRope?: { readonly ropeTheta: number; readonly ropeScaling?: RopeScaling };
  /** MLP activation. */
  readonly act: 'gelu_tanh' | 'gelu' | 'silu' | 'relu';
  /** SwiGLU-style gated MLP (gate and up projections). */
  readonly gatedMlp: boolean;
  /** Attention and MLP both read the block input (GPT-NeoX). */
  readonly parallelResidual: boolean;
  /** BOS token id, when the model has one. */
  readonly bosTokenId?: number;
  /** EOS token id, when the model has one. */
  readonly eosTokenId?: number;
  /** Multiplies the token embeddings (Gemma: sqrt(dModel) as a float32). */
  readonly embedScale?: number;
  /** RMSNorm multiplies by (1 + w) instead of w (Gemma's stored weights start at zero). */
  readonly normPlusOne?: boolean;
  /** Gemma 2's sandwich norms: ln1_post on the attention output and ln2_post on the MLP output, before the residual. */
  readonly postNorms?: boolean;
  /** Per-head RMSNorm on queries and keys before rotary (Qwen3, Gemma 3). */
  readonly qkNorm?: boolean;
  /** Multiplier of attention scores (default 1 / sqrt(dHead); Gemma 2: query_pre_attn_scalar^-0.5). */
  readonly attnScale?: number;
  /** Attention scores soft-capped as cap * tanh(s / cap) before the mask (Gemma 2). */
  readonly attnSoftcap?: number;
  /** Logits soft-capped as cap * tanh(logits / cap) (Gemma 2). */
  readonly finalSoftcap?: number;
  /**
   * Per block, the sliding window (a query sees keys at distance < window) or
   * null for full attention; absent when every block attends fully.
   */
  readonly windows?: readonly (number | null)[];
}

/**
 * Throws naming the config field when a number is outside the range the
 * model needs (an epsilon of -1 or a rope factor of 0 load but compute
 * nonsense).
 */
export function checkSpec(s: ModelSpec, where: string): void {
  const pos = (v: number | undefined, field: string, max = Infinity) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0 && v <= max)) throw new Error(`${where}: ${field} must be a positive number${max < Infinity ? ` up to ${max}` : ''}, got ${v}`);
  };
  pos(s.normEps, 'the normalization epsilon (rms_norm_eps / layer_norm_eps)', 1);
  if (s.positions === 'rotary') pos(s.ropeTheta, 'rope_theta');
  pos(s.attnScale, 'the attention scale (query_pre_attn_scalar)');
  pos(s.attnSoftcap, 'attn_logit_softcapping');
  pos(s.finalSoftcap, 'final_logit_softcapping');
  pos(s.embedScale, 'the embedding scale');
  if (s.localRope) pos(s.localRope.ropeTheta, 'the sliding layers\' rope theta (rope_local_base_freq)');
  for (const r of [s.ropeScaling, s.localRope?.ropeScaling]) {
    if (!r) continue;
    pos(r.factor, 'rope_scaling.factor');
    if (r.type === 'llama3') {
      pos(r.lowFreqFactor, 'rope_scaling.low_freq_factor');
      pos(r.highFreqFactor, 'rope_scaling.high_freq_factor');
      pos(r.originalMaxPositions, 'rope_scaling.original_max_position_embeddings');
      if (r.highFreqFactor <= r.lowFreqFactor) throw new Error(`${where}: rope_scaling.high_freq_factor (${r.highFreqFactor}) must exceed low_freq_factor (${r.lowFreqFactor})`);
    }
  }
  for (const [i, w] of (s.windows ?? []).entries()) {
    if (w !== null && !(Number.isInteger(w) && w > 0)) throw new Error(`${where}: the sliding window of layer ${i} must be a positive integer, got ${w}`);
  }
}

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
}

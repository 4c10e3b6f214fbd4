/**
 * Gemma (HF `GemmaForCausalLM`) and Gemma 2 (`Gemma2ForCausalLM`), numbers as
 * HF's modeling_gemma.py / modeling_gemma2.py compute them, hooks where
 * TransformerLens puts them (components/transformer_block.py):
 * - embeddings times sqrt(hidden_size) as a float32 (TL folds it into W_E,
 *   so hook_embed is the scaled embedding);
 * - RMSNorm x̂ · (1 + w) (the stored weights start at zero);
 * - GeGLU with tanh GELU (`gelu_pytorch_tanh`; Gemma 1.0 configs say
 *   `hidden_act: "gelu"` where HF's GemmaMLP used the tanh form, so a
 *   `hidden_activation` wins and a bare legacy "gelu" reads as tanh);
 * - `head_dim` from config.json (256 by default); tied embeddings (an
 *   untied checkpoint's lm_head.weight is used when present).
 * Gemma 2 adds: post_attention_layernorm on the attention output and
 * post_feedforward_layernorm on the MLP output before each residual add
 * (`ln1_post`, `ln2_post`: hook_attn_out and hook_mlp_out hold the normed
 * values), pre_feedforward_layernorm as ln2, scores times
 * query_pre_attn_scalar^-0.5 then soft-capped before the mask, logits
 * soft-capped, and sliding-window attention on the layers `layer_types`
 * names (HF's default: even layers, layer 0 first).
 */
import type { ModelSpec } from '../spec.ts';
import { activation, num, optNum, slidingWindows, type ArchAdapter, type CanonicalWeight, type WeightRef } from './adapter.ts';
import { rope, ropeScaling } from './llama.ts';

const COMMON: Readonly<Partial<Record<CanonicalWeight, WeightRef>>> = {
  W_E: { from: ['embed_tokens.weight', 'lm_head.weight'] },
  'ln1.w': { from: 'layers.{L}.input_layernorm.weight' },
  W_Q: { from: 'layers.{L}.self_attn.q_proj.weight', transpose: true },
  W_K: { from: 'layers.{L}.self_attn.k_proj.weight', transpose: true },
  W_V: { from: 'layers.{L}.self_attn.v_proj.weight', transpose: true },
  b_Q: { from: 'layers.{L}.self_attn.q_proj.bias', optional: true },
  b_K: { from: 'layers.{L}.self_attn.k_proj.bias', optional: true },
  b_V: { from: 'layers.{L}.self_attn.v_proj.bias', optional: true },
  W_O: { from: 'layers.{L}.self_attn.o_proj.weight', transpose: true },
  b_O: { from: 'layers.{L}.self_attn.o_proj.bias', optional: true },
  W_gate: { from: 'layers.{L}.mlp.gate_proj.weight', transpose: true },
  W_in: { from: 'layers.{L}.mlp.up_proj.weight', transpose: true },
  W_out: { from: 'layers.{L}.mlp.down_proj.weight', transpose: true },
  'ln_final.w': { from: 'norm.weight' },
  W_U: { from: ['lm_head.weight', 'embed_tokens.weight'], transpose: true },
};

export const gemma: ArchAdapter = {
  modelTypes: ['gemma'],
  stripPrefixes: ['model.'],
  qkv: 'separate',
  weights: { ...COMMON, 'ln2.w': { from: 'layers.{L}.post_attention_layernorm.weight' } },
  spec(c) {
    const legacy = c.hidden_activation == null && c.hidden_act === 'gelu';
    return gemmaSpec(c, legacy ? 'gelu_pytorch_tanh' : String(c.hidden_activation ?? c.hidden_act ?? 'gelu_pytorch_tanh'), 16);
  },
};

export const gemma2: ArchAdapter = {
  modelTypes: ['gemma2'],
  stripPrefixes: ['model.'],
  qkv: 'separate',
  weights: {
    ...COMMON,
    'ln1_post.w': { from: 'layers.{L}.post_attention_layernorm.weight' },
    'ln2.w': { from: 'layers.{L}.pre_feedforward_layernorm.weight' },
    'ln2_post.w': { from: 'layers.{L}.post_feedforward_layernorm.weight' },
  },
  spec(c) {
    const base = gemmaSpec(c, String(c.hidden_activation ?? 'gelu_pytorch_tanh'), 4);
    const cap = (k: string, dflt: number) => (c[k] === null ? undefined : (optNum(c, k) ?? dflt));
    return {
      ...base,
      postNorms: true,
      attnScale: (optNum(c, 'query_pre_attn_scalar') ?? 256) ** -0.5,
      attnSoftcap: cap('attn_logit_softcapping', 50),
      finalSoftcap: cap('final_logit_softcapping', 30),
      windows: slidingWindows(c, base.nLayers, 'sliding_window' in c ? c.sliding_window : 4096, (i) => ((i + 1) % 2 ? 'sliding_attention' : 'full_attention')),
    };
  },
};

/**
 * Gemma 3's text model (`Gemma3ForCausalLM`, and the language model inside
 * the multimodal `Gemma3ForConditionalGeneration`: its `text_config`, with
 * weights under `language_model.model.` or `model.language_model.`; the
 * vision tower is never read), as HF's modeling_gemma3.py computes it:
 * Gemma 2's four norms, plus q_norm and k_norm ((1 + w) RMSNorm per head)
 * on queries and keys after hook_q/hook_k and before rotary, as for Qwen3;
 * scores times query_pre_attn_scalar^-0.5 and never soft-capped
 * (Gemma3Attention does not pass attn_logit_softcapping on); the final
 * soft-cap only when set; every `sliding_window_pattern`-th layer global
 * (or `layer_types`); two rotaries: full-attention layers use `rope_theta`
 * with `rope_scaling`, sliding layers `rope_local_base_freq` unscaled (or
 * v5's `rope_parameters` keyed by layer type). Missing fields take
 * Gemma3TextConfig's defaults.
 */
export const gemma3: ArchAdapter = {
  modelTypes: ['gemma3_text'],
  stripPrefixes: ['language_model.model.', 'model.language_model.', 'language_model.', 'model.'],
  qkv: 'separate',
  weights: {
    ...gemma2.weights,
    'q_norm.w': { from: 'layers.{L}.self_attn.q_norm.weight' },
    'k_norm.w': { from: 'layers.{L}.self_attn.k_norm.weight' },
  },
  spec(raw) {
    const c: Record<string, unknown> = { ...GEMMA3_DEFAULTS, ...Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)) };
    const base = gemmaSpec(c, String(c.hidden_activation ?? 'gelu_pytorch_tanh'), 4);
    const n = optNum(c, 'sliding_window_pattern') ?? 6;
    if (!Number.isInteger(n) || n < 1) throw new Error(`config.json: sliding_window_pattern must be a positive integer, got ${JSON.stringify(c.sliding_window_pattern)}`);
    const ropes = gemma3Ropes(c);
    return {
      ...base,
      ...ropes.full,
      localRope: ropes.local,
      postNorms: true,
      qkNorm: true,
      attnScale: (optNum(c, 'query_pre_attn_scalar') ?? 256) ** -0.5,
      finalSoftcap: optNum(c, 'final_logit_softcapping'),
      windows: slidingWindows(c, base.nLayers, c.sliding_window, (i) => ((i + 1) % n ? 'sliding_attention' : 'full_attention')),
    };
  },
};

/** What Gemma3TextConfig gives a field config.json leaves out (the multimodal checkpoints' text_config omits several). */
const GEMMA3_DEFAULTS: Readonly<Record<string, unknown>> = {
  vocab_size: 262_208, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8, num_key_value_heads: 4,
  head_dim: 256, max_position_embeddings: 131_072, rms_norm_eps: 1e-6, bos_token_id: 2, eos_token_id: 1, query_pre_attn_scalar: 256,
  sliding_window: 4096, sliding_window_pattern: 6, rope_theta: 1_000_000, rope_local_base_freq: 10_000, hidden_activation: 'gelu_pytorch_tanh',
};

/** Gemma 3's two rotaries: v5's `rope_parameters` by layer type, else `rope_theta` + `rope_scaling` (global) and `rope_local_base_freq` (local). */
function gemma3Ropes(c: Readonly<Record<string, unknown>>): { full: ModelSpec['localRope'] & object; local: ModelSpec['localRope'] & object } {
  const rp = c.rope_parameters as Record<string, unknown> | null | undefined;
  if (rp && typeof rp === 'object' && ('full_attention' in rp || 'sliding_attention' in rp)) {
    const part = (k: string, theta: number) => {
      const p = (rp[k] ?? {}) as Record<string, unknown>;
      return { ropeTheta: optNum(p, 'rope_theta') ?? theta, ropeScaling: ropeScaling(p) };
    };
    return { full: part('full_attention', 1_000_000), local: part('sliding_attention', 10_000) };
  }
  return { full: rope(c), local: { ropeTheta: optNum(c, 'rope_local_base_freq') ?? 10_000 } };
}

/** The fields Gemma and Gemma 2 share; `kvHeads` is HF's config default when config.json has none. */
function gemmaSpec(c: Readonly<Record<string, unknown>>, act: string, kvHeads: number): ModelSpec {
  const d = num(c, 'hidden_size');
  const h = num(c, 'num_attention_heads');
  const dHead = optNum(c, 'head_dim') ?? 256;
  const type = String(c.model_type);
  return {
    modelType: type,
    nLayers: num(c, 'num_hidden_layers'),
    dModel: d,
    nHeads: h,
    nKvHeads: optNum(c, 'num_key_value_heads') ?? kvHeads,
    dHead,
    dMlp: num(c, 'intermediate_size'),
    dVocab: num(c, 'vocab_size'),
    nCtx: num(c, 'max_position_embeddings'),
    norm: 'rmsnorm',
    normEps: optNum(c, 'rms_norm_eps') ?? 1e-6,
    positions: 'rotary',
    rotaryDim: dHead,
    ...rope(c),
    act: activation(act, type),
    gatedMlp: true,
    parallelResidual: false,
    bosTokenId: optNum(c, 'bos_token_id'),
    eosTokenId: optNum(c, 'eos_token_id'),
    embedScale: Math.fround(Math.sqrt(d)),
    normPlusOne: true,
  };
}

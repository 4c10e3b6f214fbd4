/**
 * The Llama family (HF `LlamaForCausalLM`, `MistralForCausalLM`,
 * `Qwen2ForCausalLM`, `Qwen3ForCausalLM`): RMSNorm, rotary with `rope_theta`
 * (rotate-half form), grouped-query attention, optional q/k/v biases (Qwen2
 * always has them), SwiGLU, tied or untied unembedding (a checkpoint may
 * store only `lm_head.weight`, which then also serves as the embedding).
 * Sliding windows as HF's configs declare them: Mistral's `sliding_window`
 * on every layer (HF's default 4096 when the key is absent), Qwen2/Qwen3's
 * `use_sliding_window` on layers from `max_window_layers` on, or
 * `layer_types`. Qwen3 adds a per-head RMSNorm on q and k (after
 * TransformerLens's attn.hook_q/hook_k, before rotary) and an explicit
 * `head_dim` (default 128).
 */
import type { ModelSpec, RopeScaling } from '../spec.ts';
import { num, optBool, optNum, slidingWindows, type ArchAdapter, type WeightRef, type CanonicalWeight } from './adapter.ts';

const WEIGHTS: Readonly<Partial<Record<CanonicalWeight, WeightRef>>> = {
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
    'ln2.w': { from: 'layers.{L}.post_attention_layernorm.weight' },
    W_gate: { from: 'layers.{L}.mlp.gate_proj.weight', transpose: true },
    W_in: { from: 'layers.{L}.mlp.up_proj.weight', transpose: true },
    W_out: { from: 'layers.{L}.mlp.down_proj.weight', transpose: true },
    'ln_final.w': { from: 'norm.weight' },
    W_U: { from: ['lm_head.weight', 'embed_tokens.weight'], transpose: true },
};

export const llama: ArchAdapter = {
  modelTypes: ['llama', 'mistral', 'qwen2'],
  stripPrefixes: ['model.'],
  qkv: 'separate',
  weights: WEIGHTS,
  spec: (c) => llamaSpec(c, optNum(c, 'head_dim')),
};

export const qwen3: ArchAdapter = {
  modelTypes: ['qwen3'],
  stripPrefixes: ['model.'],
  qkv: 'separate',
  weights: {
    ...WEIGHTS,
    'q_norm.w': { from: 'layers.{L}.self_attn.q_norm.weight' },
    'k_norm.w': { from: 'layers.{L}.self_attn.k_norm.weight' },
  },
  spec: (c) => ({ ...llamaSpec(c, optNum(c, 'head_dim') ?? 128), qkNorm: true }),
};

function llamaSpec(c: Readonly<Record<string, unknown>>, headDim: number | undefined): ModelSpec {
  const d = num(c, 'hidden_size');
  const h = num(c, 'num_attention_heads');
  const dHead = headDim ?? d / h;
  const nLayers = num(c, 'num_hidden_layers');
  const act = String(c.hidden_act ?? 'silu');
  if (act !== 'silu') throw new Error(`config.json: unsupported hidden_act '${act}' for ${String(c.model_type)}`);
  return {
    modelType: String(c.model_type),
    nLayers,
    dModel: d,
    nHeads: h,
    nKvHeads: optNum(c, 'num_key_value_heads') ?? h,
    dHead,
    dMlp: num(c, 'intermediate_size'),
    dVocab: num(c, 'vocab_size'),
    nCtx: num(c, 'max_position_embeddings'),
    norm: 'rmsnorm',
    normEps: optNum(c, 'rms_norm_eps') ?? 1e-6,
    positions: 'rotary',
    rotaryDim: dHead,
    ...rope(c),
    act: 'silu',
    gatedMlp: true,
    parallelResidual: false,
    bosTokenId: optNum(c, 'bos_token_id'),
    eosTokenId: optNum(c, 'eos_token_id'),
    windows: windows(c, nLayers),
  };
}

function windows(c: Readonly<Record<string, unknown>>, nLayers: number): (number | null)[] | undefined {
  const type = String(c.model_type);
  if (type === 'mistral') return slidingWindows(c, nLayers, 'sliding_window' in c ? c.sliding_window : 4096, () => 'sliding_attention');
  if (type === 'qwen2' || type === 'qwen3') {
    const window = optBool(c, 'use_sliding_window') ? ('sliding_window' in c ? c.sliding_window : 4096) : null;
    const first = optNum(c, 'max_window_layers') ?? 28;
    return slidingWindows(c, nLayers, window, (i) => (i >= first ? 'sliding_attention' : 'full_attention'));
  }
  return undefined;
}

/** Rotary base and scaling from config.json: v4's `rope_theta` / `rope_scaling`, or v5's `rope_parameters`. */
export function rope(c: Readonly<Record<string, unknown>>): { ropeTheta: number; ropeScaling?: RopeScaling } {
  const params = (c.rope_parameters ?? undefined) as Record<string, unknown> | undefined;
  return { ropeTheta: optNum(c, 'rope_theta') ?? (params ? optNum(params, 'rope_theta') : undefined) ?? 10000, ropeScaling: ropeScaling(c.rope_scaling ?? params) };
}

/** HF's `rope_scaling` (or a `rope_parameters` entry) as saescope's; undefined for the default rotary. */
export function ropeScaling(raw: unknown): RopeScaling | undefined {
  if (raw == null) return undefined;
  const r = raw as Record<string, unknown>;
  const type = String(r.rope_type ?? r.type ?? 'default');
  if (type === 'default') return undefined;
  if (type === 'linear') return { type, factor: num(r, 'factor') };
  if (type === 'llama3') {
    return {
      type,
      factor: num(r, 'factor'),
      lowFreqFactor: num(r, 'low_freq_factor'),
      highFreqFactor: num(r, 'high_freq_factor'),
      originalMaxPositions: num(r, 'original_max_position_embeddings'),
    };
  }
  throw new Error(`config.json: unsupported rope_scaling type '${type}' (supported: linear, llama3)`);
}

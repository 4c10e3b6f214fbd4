/**
 * The Llama family (HF `LlamaForCausalLM`, `MistralForCausalLM`,
 * `Qwen2ForCausalLM`): RMSNorm, rotary with `rope_theta` (rotate-half form),
 * grouped-query attention, optional q/k/v biases (Qwen2 always has them),
 * SwiGLU, tied or untied unembedding (a checkpoint may store only
 * `lm_head.weight`, which then also serves as the embedding).
 */
import type { RopeScaling } from '../spec.ts';
import { num, optNum, type ArchAdapter } from './adapter.ts';

export const llama: ArchAdapter = {
  modelTypes: ['llama', 'mistral', 'qwen2'],
  stripPrefixes: ['model.'],
  qkv: 'separate',
  weights: {
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
  },
  spec(c) {
    const d = num(c, 'hidden_size');
    const h = num(c, 'num_attention_heads');
    const dHead = optNum(c, 'head_dim') ?? d / h;
    const act = String(c.hidden_act ?? 'silu');
    if (act !== 'silu') throw new Error(`config.json: unsupported hidden_act '${act}' for ${String(c.model_type)}`);
    return {
      modelType: String(c.model_type),
      nLayers: num(c, 'num_hidden_layers'),
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
      ropeTheta: optNum(c, 'rope_theta') ?? 10000,
      ropeScaling: ropeScaling(c.rope_scaling),
      act: 'silu',
      gatedMlp: true,
      parallelResidual: false,
      bosTokenId: optNum(c, 'bos_token_id'),
      eosTokenId: optNum(c, 'eos_token_id'),
    };
  },
};

function ropeScaling(raw: unknown): RopeScaling | undefined {
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

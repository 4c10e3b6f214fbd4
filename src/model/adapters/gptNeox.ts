/**
 * GPT-NeoX / Pythia (HF `GPTNeoXForCausalLM`): parallel residual, partial
 * rotary (`rotary_pct` of each head), fused query_key_value grouped per head,
 * exact GELU, untied unembedding. Mirrors TransformerLens's neox conversion.
 */
import { activation, num, optNum, type ArchAdapter } from './adapter.ts';

export const gptNeox: ArchAdapter = {
  modelTypes: ['gpt_neox'],
  stripPrefixes: ['gpt_neox.'],
  qkv: 'fused_heads',
  weights: {
    W_E: { from: 'embed_in.weight' },
    'ln1.w': { from: 'layers.{L}.input_layernorm.weight' },
    'ln1.b': { from: 'layers.{L}.input_layernorm.bias' },
    W_qkv: { from: 'layers.{L}.attention.query_key_value.weight', transpose: true },
    b_qkv: { from: 'layers.{L}.attention.query_key_value.bias' },
    W_O: { from: 'layers.{L}.attention.dense.weight', transpose: true },
    b_O: { from: 'layers.{L}.attention.dense.bias' },
    'ln2.w': { from: 'layers.{L}.post_attention_layernorm.weight' },
    'ln2.b': { from: 'layers.{L}.post_attention_layernorm.bias' },
    W_in: { from: 'layers.{L}.mlp.dense_h_to_4h.weight', transpose: true },
    b_in: { from: 'layers.{L}.mlp.dense_h_to_4h.bias' },
    W_out: { from: 'layers.{L}.mlp.dense_4h_to_h.weight', transpose: true },
    b_out: { from: 'layers.{L}.mlp.dense_4h_to_h.bias' },
    'ln_final.w': { from: 'final_layer_norm.weight' },
    'ln_final.b': { from: 'final_layer_norm.bias' },
    W_U: { from: ['embed_out.weight', 'embed_in.weight'], transpose: true },
  },
  spec(c) {
    const d = num(c, 'hidden_size');
    const h = num(c, 'num_attention_heads');
    const dHead = d / h;
    return {
      modelType: 'gpt_neox',
      nLayers: num(c, 'num_hidden_layers'),
      dModel: d,
      nHeads: h,
      nKvHeads: h,
      dHead,
      dMlp: optNum(c, 'intermediate_size') ?? 4 * d,
      dVocab: num(c, 'vocab_size'),
      nCtx: num(c, 'max_position_embeddings'),
      norm: 'layernorm',
      normEps: optNum(c, 'layer_norm_eps') ?? 1e-5,
      positions: 'rotary',
      rotaryDim: Math.floor(dHead * (optNum(c, 'rotary_pct') ?? 1)),
      ropeTheta: optNum(c, 'rotary_emb_base') ?? optNum(c, 'rope_theta') ?? 10000,
      act: activation(String(c.hidden_act ?? 'gelu'), 'gpt_neox'),
      gatedMlp: false,
      parallelResidual: c.use_parallel_residual !== false,
      bosTokenId: optNum(c, 'bos_token_id'),
      eosTokenId: optNum(c, 'eos_token_id'),
    };
  },
};

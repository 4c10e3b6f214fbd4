/**
 * GPT-2 (HF `GPT2LMHeadModel`): learned positions, LayerNorm, fused c_attn
 * Conv1D weights already stored [in, out], GELU (tanh), tied unembedding.
 * Mirrors TransformerLens's pretrained/weight_conversions/gpt2.py.
 */
import { activation, num, optNum, type ArchAdapter } from './adapter.ts';

export const gpt2: ArchAdapter = {
  modelTypes: ['gpt2'],
  stripPrefixes: ['transformer.'],
  qkv: 'fused_qkv',
  weights: {
    W_E: { from: 'wte.weight' },
    W_pos: { from: 'wpe.weight' },
    'ln1.w': { from: 'h.{L}.ln_1.weight' },
    'ln1.b': { from: 'h.{L}.ln_1.bias' },
    W_qkv: { from: 'h.{L}.attn.c_attn.weight' },
    b_qkv: { from: 'h.{L}.attn.c_attn.bias' },
    W_O: { from: 'h.{L}.attn.c_proj.weight' },
    b_O: { from: 'h.{L}.attn.c_proj.bias' },
    'ln2.w': { from: 'h.{L}.ln_2.weight' },
    'ln2.b': { from: 'h.{L}.ln_2.bias' },
    W_in: { from: 'h.{L}.mlp.c_fc.weight' },
    b_in: { from: 'h.{L}.mlp.c_fc.bias' },
    W_out: { from: 'h.{L}.mlp.c_proj.weight' },
    b_out: { from: 'h.{L}.mlp.c_proj.bias' },
    'ln_final.w': { from: 'ln_f.weight' },
    'ln_final.b': { from: 'ln_f.bias' },
    W_U: { from: ['lm_head.weight', 'wte.weight'], transpose: true },
  },
  spec(c) {
    const d = num(c, 'n_embd', 'hidden_size');
    const h = num(c, 'n_head', 'num_attention_heads');
    const act = activation(String(c.activation_function ?? 'gelu_new'), 'gpt2');
    return {
      modelType: 'gpt2',
      nLayers: num(c, 'n_layer', 'num_hidden_layers'),
      dModel: d,
      nHeads: h,
      nKvHeads: h,
      dHead: d / h,
      dMlp: optNum(c, 'n_inner') ?? 4 * d,
      dVocab: num(c, 'vocab_size'),
      nCtx: num(c, 'n_positions', 'n_ctx', 'max_position_embeddings'),
      norm: 'layernorm',
      normEps: optNum(c, 'layer_norm_epsilon') ?? 1e-5,
      positions: 'learned',
      rotaryDim: 0,
      ropeTheta: 0,
      act,
      gatedMlp: false,
      parallelResidual: false,
      bosTokenId: optNum(c, 'bos_token_id') ?? 50256,
      eosTokenId: optNum(c, 'eos_token_id') ?? 50256,
    };
  },
};

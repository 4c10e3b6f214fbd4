/**
 * Causal self-attention (Vaswani et al. 2017) with grouped-query heads
 * (Ainslie et al. 2023), an additive mask input (causal + padding, built by
 * the caller), optional KV-cache inputs and outputs, and TransformerLens's
 * hooks: q/k/v before the q/k norms (Qwen3) and rotary, pattern, z; and
 * the attention variants of Gemma 2 (score scale, soft-cap, output norm).
 */
import type { BuildCtx } from './context.ts';
import { norm } from './norm.ts';
import { applyRotary } from './rotary.ts';

/** Graph values shared by every layer's attention. */
export interface AttnShared {
  /** Additive mask [batch, 1, queryPos, keyPos] (0 or -1e9). */
  readonly bias: string;
  /** The same mask as [batch, 1, 1, queryPos, keyPos] for grouped heads. */
  readonly bias5: string;
  /** Rotary tables, for rotary models. */
  readonly rope?: { cos: string; sin: string };
}

/** One block's attention on normalized input `x` [batch, pos, dModel]; returns hook_attn_out. */
export function attention(c: BuildCtx, x: string, L: number, s: AttnShared): string {
  const { g, spec } = c;
  const { nHeads: H, nKvHeads: KV, dHead: hd } = spec;
  const p = `blocks.${L}.`;
  let [q, k, v] = projectQkv(c, x, L);
  q = c.hook(p + 'attn.hook_q', q);
  k = c.hook(p + 'attn.hook_k', k);
  v = c.hook(p + 'attn.hook_v', v);
  if (spec.qkNorm) {
    q = norm(c, q, 'q_norm', L);
    k = norm(c, k, 'k_norm', L);
  }
  if (s.rope) {
    q = applyRotary(c, q, s.rope);
    k = applyRotary(c, k, s.rope);
  }
  const perm = { perm: [0, 2, 1, 3] };
  const qt = g.op('Mul', [g.op('Transpose', [q], perm), g.floats([spec.attnScale ?? 1 / Math.sqrt(hd)])]);
  const kt = g.op('Transpose', [k], perm);
  const vt = g.op('Transpose', [v], perm);
  // Keys and values as parts along the key axis: the cached past (when there is one), then this step's.
  const ks = [kt];
  const vs = [vt];
  if (c.plan.kvCache) {
    // Only this step's keys and values leave the graph (the caller appends them to its cache): outputs as large
    // as the whole cache would be wrapped in fresh ArrayBuffers every step, and V8 collects garbage for each 64 MB
    // of them (a collection every few milliseconds in a batched decode).
    g.op('Identity', [kt], {}, { out: `new.${L}.key` });
    g.op('Identity', [vt], {}, { out: `new.${L}.value` });
    g.output(`new.${L}.key`, 'float32', ['batch', KV, 'new', hd]);
    g.output(`new.${L}.value`, 'float32', ['batch', KV, 'new', hd]);
    // The past is read where it is, never concatenated with the new keys (a copy of the whole cache per layer
    // and step): the scores against each part are concatenated instead, and the values' products added.
    ks.unshift(g.input(`past.${L}.key`, 'float32', ['batch', KV, 'past', hd]));
    vs.unshift(g.input(`past.${L}.value`, 'float32', ['batch', KV, 'past', hd]));
  }
  const z = KV === H ? mha(c, qt, ks, vs, s, p) : gqa(c, qt, ks, vs, s, p);
  const zh = c.hook(p + 'attn.hook_z', g.op('Transpose', [z], perm));
  const flat = g.op('Reshape', [zh, g.ints([0, 0, H * hd])]);
  let out = c.linear(flat, 'W_O', L, 'b_O');
  if (spec.postNorms) out = norm(c, out, 'ln1_post', L, p + 'ln1_post.hook_normalized');
  return c.hook(p + 'hook_attn_out', out);
}

/** q [b, pos, H, hd], k and v [b, pos, KV, hd]. */
function projectQkv(c: BuildCtx, x: string, L: number): [string, string, string] {
  const { g, spec } = c;
  const { nHeads: H, nKvHeads: KV, dHead: hd } = spec;
  if (c.qkv !== 'separate') {
    const qkv = c.linear(x, 'W_qkv', L, 'b_qkv');
    if (c.qkv === 'fused_heads') {
      const grouped = g.op('Reshape', [qkv, g.ints([0, 0, H, 3 * hd])]);
      return g.opN('Split', [grouped, g.ints([hd, hd, hd])], 3, { axis: -1 }) as [string, string, string];
    }
    const parts = g.opN('Split', [qkv, g.ints([H * hd, KV * hd, KV * hd])], 3, { axis: -1 });
    return [heads(c, parts[0], H), heads(c, parts[1], KV), heads(c, parts[2], KV)];
  }
  return [
    heads(c, c.linear(x, 'W_Q', L, 'b_Q'), H),
    heads(c, c.linear(x, 'W_K', L, 'b_K'), KV),
    heads(c, c.linear(x, 'W_V', L, 'b_V'), KV),
  ];
}

/** Scaled scores, soft-capped when the model caps them (before the mask, as HF does). */
function capped(c: BuildCtx, scores: string): string {
  return c.spec.attnSoftcap === undefined ? scores : softcap(c, scores, c.spec.attnSoftcap);
}

function heads(c: BuildCtx, x: string, n: number): string {
  return c.g.op('Reshape', [x, c.g.ints([0, 0, n, c.spec.dHead])]);
}

/** The parts' scores side by side along the key axis (one part: its own). */
function joined(c: BuildCtx, parts: string[]): string {
  return parts.length === 1 ? parts[0] : c.g.op('Concat', parts, { axis: -1 });
}

/** Σ_i probs_i · v_i over the key-axis parts of `probs` (sized as the parts of `ks`, axis 2 of each). */
function mixParts(c: BuildCtx, probs: string, ks: string[], vs: string[], vAt: (v: string) => string): string {
  const { g } = c;
  if (vs.length === 1) return g.op('MatMul', [probs, vAt(vs[0])]);
  const sizes = g.op('Concat', ks.map((k) => g.op('Shape', [k], { start: 2, end: 3 })), { axis: 0 });
  const ps = g.opN('Split', [probs, sizes], vs.length, { axis: -1 });
  return g.op('Sum', ps.map((pi, i) => g.op('MatMul', [pi, vAt(vs[i])])));
}

/** Standard multi-head attention on [b, H, pos, hd], keys and values in parts along the key axis; returns z [b, H, pos, hd]. */
function mha(c: BuildCtx, q: string, ks: string[], vs: string[], s: AttnShared, p: string): string {
  const { g } = c;
  const raw = joined(c, ks.map((k) => g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })])));
  const scores = g.op('Add', [capped(c, raw), s.bias]);
  const pattern = c.hook(p + 'attn.hook_pattern', g.op('Softmax', [scores], { axis: -1 }));
  return mixParts(c, pattern, ks, vs, (v) => v);
}

/**
 * Grouped-query attention without repeating K and V: queries are viewed as
 * [b, KV, group, pos, hd] so MatMul broadcasts each KV head over its group.
 */
function gqa(c: BuildCtx, q: string, ks: string[], vs: string[], s: AttnShared, p: string): string {
  const { g, spec } = c;
  const { nHeads: H, nKvHeads: KV, dHead: hd } = spec;
  const group = H / KV;
  const q5 = g.op('Reshape', [q, g.ints([0, KV, group, -1, hd])]);
  const axis2 = g.ints([2]);
  const raw = joined(c, ks.map((k) => g.op('MatMul', [q5, g.op('Transpose', [g.op('Unsqueeze', [k, axis2])], { perm: [0, 1, 2, 4, 3] })])));
  const scores = g.op('Add', [capped(c, raw), s.bias5]);
  let probs = g.op('Softmax', [scores], { axis: -1 });
  const name = p + 'attn.hook_pattern';
  if (c.isActive(name)) {
    // Expose the TransformerLens shape [b, H, q, k], then return to groups.
    const shape5 = g.op('Shape', [probs]);
    const bq = g.op('Slice', [shape5, g.ints([0]), g.ints([1])]);
    const qk = g.op('Slice', [shape5, g.ints([3]), g.ints([5])]);
    const pattern = c.hook(name, g.op('Reshape', [probs, g.op('Concat', [bq, g.ints([H]), qk], { axis: 0 })]));
    probs = g.op('Reshape', [pattern, shape5]);
  }
  return g.op('Reshape', [mixParts(c, probs, ks, vs, (v) => g.op('Unsqueeze', [v, axis2])), g.ints([0, H, -1, hd])]);
}

/** cap * tanh(x / cap) (Gemma 2's soft-capping of attention scores and logits). */
export function softcap(c: BuildCtx, x: string, cap: number): string {
  const { g } = c;
  return g.op('Mul', [g.op('Tanh', [g.op('Div', [x, g.floats([cap])])]), g.floats([cap])]);
}

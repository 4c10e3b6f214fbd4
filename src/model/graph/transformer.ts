/**
 * Assembles a whole decoder-only transformer graph for one `GraphPlan`:
 * embeddings, blocks (sequential or parallel residual), final norm, unembed.
 *
 * Inputs: `input_ids` [batch, pos] int64, `position_ids` [batch, pos] int64,
 * `attn_bias` [batch, 1, pos, keyPos] float (0 where a key is visible, -1e9
 * elsewhere), and with `kvCache` `past.{L}.key|value` [batch, nKvHeads,
 * capacity, dHead] (slots past the filled length hidden by the mask) and, on
 * models with sliding windows, `past_len` [1] int64 (the filled length).
 * With `logits: 'at'`, `logits_at` [n] int64 lists the positions to unembed.
 * Outputs: `logits` [batch, pos (1 with 'last', n with 'at'), dVocab] unless
 * `logits: 'none'`, each cached hook by name, and `new.{L}.key|value` (this
 * call's keys and values) with `kvCache`.
 */
import type { BuildCtx } from './context.ts';
import { StopBuild } from './context.ts';
import { attention, softcap, type AttnShared } from './attention.ts';
import { mlp } from './mlp.ts';
import { norm } from './norm.ts';
import { rotaryTables } from './rotary.ts';
import { MASKED } from '../inputs.ts';

/** Builds the graph described by `c.plan`; returns the serialized model (weights are bound inputs: `c.boundFeeds()`). */
export function buildTransformer(c: BuildCtx): Uint8Array {
  const { g, spec } = c;
  const ids = g.input('input_ids', 'int64', ['batch', 'pos']);
  const pos = g.input('position_ids', 'int64', ['batch', 'pos']);
  const bias = g.input('attn_bias', 'float32', ['batch', 1, 'pos', 'keyPos']);
  if (c.plan.kvCache) c.pastLen(); // fed by every KV-cache call; read only by sliding windows
  try {
    let e = c.embed(ids);
    if (spec.embedScale !== undefined) e = g.op('Mul', [e, g.floats([spec.embedScale])]);
    let x = c.hook('hook_embed', e);
    if (spec.positions === 'learned') {
      x = g.op('Add', [x, c.hook('hook_pos_embed', g.op('Gather', [c.req('W_pos'), pos]))]);
    }
    const full: AttnShared = {
      bias,
      bias5: g.op('Unsqueeze', [bias, g.ints([1])]),
      rope: spec.positions === 'rotary' ? rotaryTables(c, pos) : undefined,
    };
    // Gemma 3's sliding layers rotate with their own base.
    const local: AttnShared = spec.localRope ? { ...full, rope: rotaryTables(c, pos, spec.localRope) } : full;
    const windowed = new Map<number, AttnShared>();
    for (let L = 0; L < spec.nLayers; L++) {
      const w = spec.windows?.[L];
      let shared = full;
      if (w != null) {
        shared = windowed.get(w) ?? withWindow(c, local, w);
        windowed.set(w, shared);
      }
      x = block(c, x, L, shared);
    }
    let h = norm(c, x, 'ln_final', -1, 'ln_final.hook_normalized');
    if (c.plan.logits !== 'none') {
      if (c.plan.logits === 'last') h = g.op('Slice', [h, g.ints([-1]), g.ints([2 ** 62]), g.ints([1])]);
      if (c.plan.logits === 'at') h = g.op('Gather', [h, g.input('logits_at', 'int64', ['logitPos'])], { axis: 1 });
      let logits = c.linear(h, 'W_U', -1, 'b_U');
      if (spec.finalSoftcap !== undefined) logits = softcap(c, logits, spec.finalSoftcap);
      g.op('Identity', [logits], {}, { out: 'logits' });
      g.output('logits', 'float32', ['batch', 'logitPos', spec.dVocab]);
    }
  } catch (e) {
    if (!(e instanceof StopBuild)) throw e;
  }
  return g.toBytes();
}

function block(c: BuildCtx, x: string, L: number, s: AttnShared): string {
  const { g, spec } = c;
  const p = `blocks.${L}.`;
  const resid = c.hook(p + 'hook_resid_pre', x);
  const attnOut = attention(c, norm(c, resid, 'ln1', L, p + 'ln1.hook_normalized'), L, s);
  if (spec.parallelResidual) {
    const mlpOut = mlp(c, norm(c, resid, 'ln2', L, p + 'ln2.hook_normalized'), L);
    return c.hook(p + 'hook_resid_post', g.op('Add', [g.op('Add', [resid, attnOut]), mlpOut]));
  }
  const mid = c.hook(p + 'hook_resid_mid', g.op('Add', [resid, attnOut]));
  const mlpOut = mlp(c, norm(c, mid, 'ln2', L, p + 'ln2.hook_normalized'), L);
  return c.hook(p + 'hook_resid_post', g.op('Add', [mid, mlpOut]));
}

/**
 * The shared mask with keys at distance >= `window` also hidden (HF's
 * sliding window: query i sees key j when 0 <= i - j < window), from cache
 * indices (a row's index i holds its position i - pad, so distances are
 * positions' distances). Without a KV cache, query t and key j are at t and j.
 * With one, the keys are the cache's `capacity` slots (slot k at index k) then
 * the T new ones, and the new tokens sit at `past_len` + t: input `past_len`
 * [1] int64 is the filled length, the capacity is the mask's width minus T.
 */
function withWindow(c: BuildCtx, full: AttnShared, window: number): AttnShared {
  const { g } = c;
  const scalar = (start: number) => g.op('Squeeze', [g.op('Shape', [full.bias], { start, end: start + 1 }), g.ints([0])]);
  const T = scalar(2);
  const S = scalar(3);
  const one = g.ints([1], true);
  const zero = g.ints([0], true);
  let queries: string;
  let keys: string;
  if (c.plan.kvCache) {
    const filled = g.op('Squeeze', [c.pastLen(), g.ints([0])]);
    const fresh = g.op('Range', [filled, g.op('Add', [filled, T]), one]);
    queries = g.op('Unsqueeze', [fresh, g.ints([1])]); // [T, 1]
    keys = g.op('Unsqueeze', [g.op('Concat', [g.op('Range', [zero, g.op('Sub', [S, T]), one]), fresh], { axis: 0 }), g.ints([0])]); // [1, S]
  } else {
    queries = g.op('Unsqueeze', [g.op('Range', [zero, T, one]), g.ints([1])]);
    keys = g.op('Unsqueeze', [g.op('Range', [zero, S, one]), g.ints([0])]);
  }
  const far = g.op('GreaterOrEqual', [g.op('Sub', [queries, keys]), g.ints([window], true)]);
  const extra = g.op('Where', [far, g.floats([MASKED]), g.floats([0])]);
  const bias = g.op('Add', [full.bias, extra]);
  return { ...full, bias, bias5: g.op('Unsqueeze', [bias, g.ints([1])]) };
}

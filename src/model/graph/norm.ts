/**
 * LayerNorm and RMSNorm (Zhang & Sennrich 2019) over the last axis, with the
 * `hook_normalized` of TransformerLens (components/layer_norm.py,
 * rms_norm.py; LayerNormPre/RMSNormPre under default weight folding): the
 * normalized activation before the norm's weight and bias, which is what
 * SAELens-trained SAEs on these hooks saw.
 */
import type { CanonicalWeight } from '../adapters/adapter.ts';
import type { BuildCtx } from './context.ts';

/** Which norm: the block's two (and Gemma 2's post norms), the final one, or Qwen3's per-head q/k norms. */
export type NormName = 'ln1' | 'ln2' | 'ln1_post' | 'ln2_post' | 'ln_final' | 'q_norm' | 'k_norm';

/**
 * Normalizes `x` over its last axis with the weights `prefix.w` (and
 * `prefix.b` for LayerNorm), passing x̂ through `hook` when given. Gemma's
 * RMSNorm multiplies by (1 + w).
 */
export function norm(c: BuildCtx, x: string, prefix: NormName, layer: number, hook?: string): string {
  const { g, spec } = c;
  let w = c.req(`${prefix}.w`, layer);
  if (spec.normPlusOne) w = g.op('Add', [w, g.floats([1])]);
  const through = (v: string) => (hook ? c.hook(hook, v) : v);
  if (spec.norm === 'layernorm') {
    if (!hook) throw new Error('internal: LayerNorm without a hook name');
    const b = c.req(`${prefix}.b` as CanonicalWeight, layer);
    // One fused op unless the hook needs x̂ itself.
    if (!c.isActive(hook)) return g.op('LayerNormalization', [x, w, b], { axis: -1, epsilon: { float: spec.normEps } });
    const d = spec.dModel;
    const xhat = g.op('LayerNormalization', [x, g.floats(new Array(d).fill(1), [d]), g.floats(new Array(d).fill(0), [d])], { axis: -1, epsilon: { float: spec.normEps } });
    return g.op('Add', [g.op('Mul', [c.hook(hook, xhat), w]), b]);
  }
  // Written as the pattern ORT fuses into SimplifiedLayerNormalization when the hook is unused.
  const sq = g.op('Pow', [x, g.floats([2])]);
  const mean = g.op('ReduceMean', [sq, g.ints([-1])], { keepdims: 1 });
  const std = g.op('Sqrt', [g.op('Add', [mean, g.floats([spec.normEps])])]);
  return g.op('Mul', [through(g.op('Div', [x, std])), w]);
}

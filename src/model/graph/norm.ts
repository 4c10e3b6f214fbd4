/** LayerNorm and RMSNorm (Zhang & Sennrich 2019) over the last axis. */
import type { BuildCtx } from './context.ts';

/** Normalizes `x` with the weights `prefix.w` (and `prefix.b` for LayerNorm). */
export function norm(c: BuildCtx, x: string, prefix: 'ln1' | 'ln2' | 'ln_final', layer = -1): string {
  const w = c.req(`${prefix}.w`, layer);
  const { g, spec } = c;
  if (spec.norm === 'layernorm') {
    const b = c.req(`${prefix}.b`, layer);
    return g.op('LayerNormalization', [x, w, b], { axis: -1, epsilon: { float: spec.normEps } });
  }
  // Written as the pattern ORT fuses into SimplifiedLayerNormalization.
  const sq = g.op('Pow', [x, g.floats([2])]);
  const mean = g.op('ReduceMean', [sq, g.ints([-1])], { keepdims: 1 });
  const std = g.op('Sqrt', [g.op('Add', [mean, g.floats([spec.normEps])])]);
  return g.op('Mul', [g.op('Div', [x, std]), w]);
}

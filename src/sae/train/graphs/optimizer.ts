/**
 * The optimizer part of a training-step graph: global gradient-norm
 * clipping, then Adam (Kingma & Ba 2015) with bias correction, then an
 * optional unit-norm constraint on decoder rows. Per step it reads `lr`,
 * `bias1` = 1/(1-β1^t), `bias2` = 1/(1-β2^t) and `max_grad_norm` inputs, and
 * `m.NAME`/`v.NAME` moments; it writes `new.NAME`, `new_m.NAME`, `new_v.NAME`.
 */
import type { GraphBuilder } from '../../../runtime/graph.ts';
import { mul, sumAll } from './types.ts';

/** Adam settings. */
export interface AdamOptions {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Rescale W_dec rows to unit norm after the update. */
  readonly unitNormDecoder: boolean;
}

/** Adds clipping and Adam for the given params; returns the (pre-clip) gradient norm value name. */
export function addOptimizer(g: GraphBuilder, params: Record<string, string>, grads: Record<string, string>, shapes: Record<string, number[]>, o: AdamOptions): string {
  const names = Object.keys(grads);
  const lr = g.input('lr', 'float32', []);
  const bias1 = g.input('bias1', 'float32', []);
  const bias2 = g.input('bias2', 'float32', []);
  const maxNorm = g.input('max_grad_norm', 'float32', []);
  const sq = names.map((n) => g.op('ReduceSumSquare', [grads[n]], { keepdims: 0 }));
  const total = sq.length === 1 ? sq[0] : g.op('Sum', sq);
  const norm = g.op('Sqrt', [total]);
  const clip = g.op('Min', [g.floats([1]), g.op('Div', [maxNorm, g.op('Add', [norm, g.floats([1e-6])])])]);
  for (const n of names) {
    const grad = mul(g, grads[n], clip);
    const m = g.input(`m.${n}`, 'float32', shapes[n]);
    const v = g.input(`v.${n}`, 'float32', shapes[n]);
    const m2 = g.op('Add', [mul(g, m, g.floats([o.beta1])), mul(g, grad, g.floats([1 - o.beta1]))], {}, { out: `new_m.${n}` });
    const v2 = g.op('Add', [mul(g, v, g.floats([o.beta2])), mul(g, mul(g, grad, grad), g.floats([1 - o.beta2]))], {}, { out: `new_v.${n}` });
    const denom = g.op('Add', [g.op('Sqrt', [mul(g, v2, bias2)]), g.floats([o.eps])]);
    const step = mul(g, lr, g.op('Div', [mul(g, m2, bias1), denom]));
    let updated = g.op('Sub', [params[n], step]);
    if (n === 'W_dec' && o.unitNormDecoder) {
      const rowNorm = g.op('Sqrt', [g.op('ReduceSum', [mul(g, updated, updated), g.ints([1])], { keepdims: 1 })]);
      updated = g.op('Div', [updated, g.op('Max', [rowNorm, g.floats([1e-8])])]);
    }
    g.op('Identity', [updated], {}, { out: `new.${n}` });
    for (const out of [`new.${n}`, `new_m.${n}`, `new_v.${n}`]) g.output(out, 'float32', shapes[n]);
  }
  return norm;
}

/** Σ over scalars, for the total loss. */
export function addAll(g: GraphBuilder, values: string[]): string {
  return values.length === 1 ? g.op('Identity', [values[0]]) : g.op('Sum', values);
}

export { sumAll };

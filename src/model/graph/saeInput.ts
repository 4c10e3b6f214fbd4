/**
 * An SAE's run-time input transform in an ONNX graph: row centring and
 * SAELens's run-time normalizations, with the maps back to the hook's space.
 * It lives with the model's graph code because interventions inside the
 * model's graph (clamps) apply it too; the SAE graph (sae/graph.ts) uses it
 * from here.
 */
import type { GraphBuilder } from '../../runtime/graph.ts';
import type { Normalization } from '../../sae/config.ts';

/** An SAE's run-time input transform: what it reads, and the maps back to the hook's space. */
export interface InputTransform {
  /** The transformed input. */
  readonly x: string;
  /** A reconstruction in the SAE's space, back in the hook's. */
  out(y: string): string;
  /** A difference of reconstructions (a clamp's edit), back in the hook's space. */
  outDelta(d: string): string;
}

/**
 * Row centring (TransformerLens's center_writing_weights, which SAEs trained
 * on centred residuals saw), then SAELens's run-time normalizations over the
 * last axis: `constant_norm_rescale` scales each row to norm sqrt(d_in) and
 * divides the output by the same factor; `layer_norm` subtracts the mean and
 * divides by the unbiased std + 1e-5, and multiplies the output by the std
 * (without eps) and adds the mean back (sae.py:297-332).
 */
export function inputTransform(g: GraphBuilder, x: string, cfg: { readonly centerInput?: boolean; readonly normalizeActivations: Normalization; readonly dIn: number }): InputTransform {
  const axis = g.ints([-1]);
  const mean = (v: string) => g.op('ReduceMean', [v, axis], { keepdims: 1 });
  let v = x;
  let rowMean: string | undefined;
  if (cfg.centerInput) {
    rowMean = mean(v);
    v = g.op('Sub', [v, rowMean]);
  }
  const addMean = (y: string) => (rowMean ? g.op('Add', [y, rowMean]) : y);
  if (cfg.normalizeActivations === 'constant_norm_rescale') {
    const coeff = g.op('Div', [g.floats([Math.sqrt(cfg.dIn)]), g.op('Sqrt', [g.op('ReduceSum', [g.op('Mul', [v, v]), axis], { keepdims: 1 })])]);
    return { x: g.op('Mul', [v, coeff]), out: (y) => addMean(g.op('Div', [y, coeff])), outDelta: (d) => g.op('Div', [d, coeff]) };
  }
  if (cfg.normalizeActivations === 'layer_norm') {
    const mu = mean(v);
    const c = g.op('Sub', [v, mu]);
    const std = g.op('Sqrt', [g.op('Div', [g.op('ReduceSum', [g.op('Mul', [c, c]), axis], { keepdims: 1 }), g.floats([cfg.dIn - 1])])]);
    return {
      x: g.op('Div', [c, g.op('Add', [std, g.floats([1e-5])])]),
      out: (y) => addMean(g.op('Add', [g.op('Mul', [y, std]), mu])),
      outDelta: (d) => g.op('Mul', [d, std]),
    };
  }
  if (cfg.normalizeActivations === 'expected_average_only_in') throw new Error('internal: the expected_average_only_in scale must be folded into the weights at load');
  return { x: v, out: addMean, outDelta: (d) => d };
}

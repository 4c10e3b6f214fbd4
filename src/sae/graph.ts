/**
 * The SAE inference graph: the run-time input transforms (row centring,
 * `constant_norm_rescale`, `layer_norm`, as SAELens's sae.py
 * _setup_activation_normalization defines them), `sae_in = x - b_dec` (when configured),
 * `hidden_pre = sae_in @ W_enc + b_enc`, the architecture's activation, and
 * optionally the reconstruction `acts @ W_dec + b_dec` (top-k decodes by
 * gathering only the k active decoder rows), mapped back to the hook's space.
 */
import { GraphBuilder } from '../runtime/graph.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { architecture } from './architectures/registry.ts';
import type { Normalization, SaeConfig } from './config.ts';

/** Which outputs a compiled SAE graph returns. */
export interface SaeGraphPlan {
  /** `acts` [n, dSae] or `values`/`indices` [n, k]. */
  readonly codes: boolean;
  /** `recon` [n, dIn]. */
  readonly recon: boolean;
  /** `hidden_pre` [n, dSae]. */
  readonly hiddenPre: boolean;
}

/** Builds the SAE graph; weights become initializers. */
export function buildSaeGraph(cfg: SaeConfig, weights: Readonly<Record<string, Tensor<'float32'>>>, plan: SaeGraphPlan): Uint8Array {
  const g = new GraphBuilder();
  const names = new Map<string, string>();
  const w = (name: string) => {
    let v = names.get(name);
    if (!v) {
      v = g.weight(name, weights[name]);
      names.set(name, v);
    }
    return v;
  };
  const raw = g.input('x', 'float32', ['n', cfg.dIn]);
  const t = inputTransform(g, raw, cfg);
  const x = t.x;
  // (x - b_dec) @ W_enc + b_enc = x @ W_enc + (b_enc - b_dec @ W_enc): the bias is constant-folded
  // at session creation and added inside the GEMM, saving a pass over [n, dSae].
  const bias = cfg.applyBDecToInput
    ? g.op('Sub', [w('b_enc'), g.op('Squeeze', [g.op('MatMul', [g.op('Unsqueeze', [w('b_dec'), g.ints([0])]), w('W_enc')]), g.ints([0])])])
    : w('b_enc');
  const pre = g.op('Gemm', [x, w('W_enc'), bias]);
  if (plan.hiddenPre) {
    g.op('Identity', [pre], {}, { out: 'hidden_pre' });
    g.output('hidden_pre', 'float32', ['n', cfg.dSae]);
  }
  const act = architecture(cfg.architecture).activation(g, pre, cfg, w);
  if ('dense' in act) {
    if (plan.codes) {
      g.op('Identity', [act.dense], {}, { out: 'acts' });
      g.output('acts', 'float32', ['n', cfg.dSae]);
    }
    if (plan.recon) {
      g.op('Identity', [t.out(g.op('Add', [g.op('MatMul', [act.dense, w('W_dec')]), w('b_dec')]))], {}, { out: 'recon' });
      g.output('recon', 'float32', ['n', cfg.dIn]);
    }
  } else {
    if (plan.codes) {
      g.op('Identity', [act.values], {}, { out: 'values' });
      g.op('Cast', [act.indices], { to: 6 }, { out: 'indices' });
      g.output('values', 'float32', ['n', cfg.k!]);
      g.output('indices', 'int32', ['n', cfg.k!]);
    }
    if (plan.recon) {
      const rows = g.op('Gather', [w('W_dec'), act.indices]);
      const mixed = g.op('MatMul', [g.op('Unsqueeze', [act.values, g.ints([1])]), rows]);
      g.op('Identity', [t.out(g.op('Add', [g.op('Squeeze', [mixed, g.ints([1])]), w('b_dec')]))], {}, { out: 'recon' });
      g.output('recon', 'float32', ['n', cfg.dIn]);
    }
  }
  return g.toBytes('sae');
}

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

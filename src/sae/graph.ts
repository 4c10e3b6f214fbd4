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
import { outWidth, type SaeConfig } from './config.ts';
import { inputTransform } from '../model/graph/saeInput.ts';

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
  const dOut = outWidth(cfg);
  // A skip transcoder adds W_skip x (W_skip [d_out, d_in], SAELens transcoder.py) to its output.
  const decoded = (y: string) => t.out(cfg.skip ? g.op('Add', [y, g.op('Gemm', [raw, w('W_skip')], { transB: 1 })]) : y);
  if ('dense' in act) {
    if (plan.codes) {
      g.op('Identity', [act.dense], {}, { out: 'acts' });
      g.output('acts', 'float32', ['n', cfg.dSae]);
    }
    if (plan.recon) {
      g.op('Identity', [decoded(g.op('Add', [g.op('MatMul', [act.dense, w('W_dec')]), w('b_dec')]))], {}, { out: 'recon' });
      g.output('recon', 'float32', ['n', dOut]);
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
      g.op('Identity', [decoded(g.op('Add', [g.op('Squeeze', [mixed, g.ints([1])]), w('b_dec')]))], {}, { out: 'recon' });
      g.output('recon', 'float32', ['n', dOut]);
    }
  }
  return g.toBytes('sae');
}

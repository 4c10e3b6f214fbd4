/**
 * Training-step graphs. Dense architectures: forward and analytic backward in
 * one graph, gradients out as `grad.NAME`. TopK: the forward and per-entry
 * backward (sparseGrads.ts); the sparse scatter follows outside. Both also
 * output the loss terms, `l0` and `var_x` (for explained variance), and dense
 * ones `fired` (per-latent firing counts). Clipping and Adam follow in adam.ts.
 * With `emitGrads`, forward tensors are outputs too (parity tests).
 */
import { GraphBuilder } from '../../../runtime/graph.ts';
import type { SaeConfig } from '../../config.ts';
import { paramShapes } from '../params.ts';
import { denseGrads, firedDense } from './denseGrads.ts';
import { topkForward } from './sparseGrads.ts';
import type { StepInputs } from './types.ts';

/** What a step graph computes; part of its cache key. */
export interface StepPlan {
  /** AuxK term (top-k only). */
  readonly aux: boolean;
  /** Plain L1 and unit-norm decoder rows (the classic tutorial's standard SAE). */
  readonly plainL1: boolean;
  /** Unit-norm decoder rows after each step. */
  readonly unitNormDecoder: boolean;
  /** Expose raw gradients and forward tensors. */
  readonly emitGrads: boolean;
  /** JumpReLU kernel width. */
  readonly bandwidth: number;
  /** Adam betas and epsilon. */
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
}

function start(cfg: SaeConfig): { g: GraphBuilder; s: StepInputs; shapes: Record<string, number[]> } {
  const g = new GraphBuilder();
  const shapes = paramShapes(cfg);
  const x = g.input('x', 'float32', ['batch', cfg.dIn]);
  const p: Record<string, string> = {};
  for (const [n, shape] of Object.entries(shapes)) p[n] = g.input(n, 'float32', shape);
  const batch = g.op('Squeeze', [g.op('Cast', [g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([1])])], { to: 1 }), g.ints([0])]);
  const centered = g.op('Sub', [x, g.op('ReduceMean', [x, g.ints([0])], { keepdims: 1 })]);
  g.op('ReduceSum', [g.op('Mul', [centered, centered])], { keepdims: 0 }, { out: 'var_x' });
  g.output('var_x', 'float32', []);
  return { g, s: { g, cfg, x, p, batch }, shapes };
}

/** Forward and backward of a dense architecture (standard, jumprelu, batchtopk). */
export function buildDenseStepGraph(cfg: SaeConfig, plan: StepPlan): Uint8Array {
  const { g, s, shapes } = start(cfg);
  const r = denseGrads(s, { plainL1: plan.plainL1, bandwidth: plan.bandwidth });
  const out = (name: string, value: string, dims: (number | string)[]) => {
    g.op('Identity', [value], {}, { out: name });
    g.output(name, 'float32', dims);
  };
  for (const [name, v] of Object.entries(r.losses)) out(name, v, []);
  const terms = Object.values(r.losses);
  out('loss', terms.length === 1 ? terms[0] : g.op('Sum', terms), []);
  out('l0', r.l0, []);
  out('fired', firedDense(g, r.extra.feature_acts), [cfg.dSae]);
  if (r.extra.batch_threshold) out('batch_threshold', r.extra.batch_threshold, []);
  for (const [n, v] of Object.entries(r.grads)) out(`grad.${n}`, v, shapes[n]);
  if (plan.emitGrads) {
    out('hidden_pre', r.extra.hidden_pre, ['batch', cfg.dSae]);
    out('sae_out', r.extra.sae_out, ['batch', cfg.dIn]);
    out('feature_acts', r.extra.feature_acts, ['batch', cfg.dSae]);
  }
  return g.toBytes('sae_step');
}

/** The forward and per-entry backward of a TopK step. */
export function buildTopkGraph(cfg: SaeConfig, plan: StepPlan): Uint8Array {
  const { g, s } = start(cfg);
  topkForward(s, plan.aux, plan.emitGrads);
  return g.toBytes('sae_topk');
}

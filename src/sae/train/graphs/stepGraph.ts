/**
 * Training-step graphs. Dense architectures run as one graph: forward,
 * analytic backward, clipping and Adam. TopK runs as two: the forward and
 * per-entry backward (sparseGrads.ts), then, after the sparse scatter, the
 * optimizer graph. Outputs: new parameters and moments, loss terms, `l0`,
 * `grad_norm`, `var_x` (for explained variance), and for dense architectures
 * `fired` (per-latent firing counts). With `emitGrads`, raw gradients
 * `grad.NAME` and forward tensors are outputs too (parity tests).
 */
import { GraphBuilder } from '../../../runtime/graph.ts';
import type { SaeConfig } from '../../config.ts';
import { paramShapes } from '../params.ts';
import { denseGrads, firedDense } from './denseGrads.ts';
import { addAll, addOptimizer, type AdamOptions } from './optimizer.ts';
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

function adam(plan: StepPlan): AdamOptions {
  return { beta1: plan.beta1, beta2: plan.beta2, eps: plan.eps, unitNormDecoder: plan.unitNormDecoder };
}

/** The whole step of a dense architecture (standard, jumprelu, batchtopk). */
export function buildDenseStepGraph(cfg: SaeConfig, plan: StepPlan): Uint8Array {
  const { g, s, shapes } = start(cfg);
  const r = denseGrads(s, { plainL1: plan.plainL1, bandwidth: plan.bandwidth });
  const out = (name: string, value: string, dims: (number | string)[]) => {
    g.op('Identity', [value], {}, { out: name });
    g.output(name, 'float32', dims);
  };
  for (const [name, v] of Object.entries(r.losses)) out(name, v, []);
  out('loss', addAll(g, Object.values(r.losses)), []);
  out('l0', r.l0, []);
  out('fired', firedDense(g, r.extra.feature_acts), [cfg.dSae]);
  if (r.extra.batch_threshold) out('batch_threshold', r.extra.batch_threshold, []);
  if (plan.emitGrads) {
    for (const [n, v] of Object.entries(r.grads)) out(`grad.${n}`, v, shapes[n]);
    out('hidden_pre', r.extra.hidden_pre, ['batch', cfg.dSae]);
    out('sae_out', r.extra.sae_out, ['batch', cfg.dIn]);
    out('feature_acts', r.extra.feature_acts, ['batch', cfg.dSae]);
  }
  out('grad_norm', addOptimizer(g, s.p, r.grads, shapes, adam(plan)), []);
  return g.toBytes('sae_step');
}

/** The forward and per-entry backward of a TopK step. */
export function buildTopkGraph(cfg: SaeConfig, plan: StepPlan): Uint8Array {
  const { g, s } = start(cfg);
  topkForward(s, plan.aux, plan.emitGrads);
  return g.toBytes('sae_topk');
}

/** Clipping and Adam on gradients given as inputs `grad.NAME`. */
export function buildOptimizerGraph(cfg: SaeConfig, plan: StepPlan): Uint8Array {
  const g = new GraphBuilder();
  const shapes = paramShapes(cfg);
  const p: Record<string, string> = {};
  const grads: Record<string, string> = {};
  for (const [n, shape] of Object.entries(shapes)) {
    p[n] = g.input(n, 'float32', shape);
    grads[n] = g.input(`grad.${n}`, 'float32', shape);
  }
  const norm = addOptimizer(g, p, grads, shapes, adam(plan));
  g.op('Identity', [norm], {}, { out: 'grad_norm' });
  g.output('grad_norm', 'float32', []);
  return g.toBytes('sae_adam');
}

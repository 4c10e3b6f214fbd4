/**
 * One SAE training step as one ONNX graph: forward, analytic backward,
 * clipping and Adam. Inputs: `x` [B, dIn], each parameter by name, Adam
 * moments, schedule scalars. Outputs: new parameters and moments, the loss
 * terms, `l0`, `grad_norm`, `var_x` (for explained variance), and what the
 * trainer needs to track dead latents (`indices` for top-k, `fired` for the
 * dense architectures). With `emitGrads`, raw gradients `grad.NAME` and the
 * forward tensors are outputs too (parity tests).
 */
import { GraphBuilder } from '../../../runtime/graph.ts';
import type { SaeConfig } from '../../config.ts';
import { paramShapes } from '../params.ts';
import { denseGrads, firedDense } from './denseGrads.ts';
import { addAll, addOptimizer, type AdamOptions } from './optimizer.ts';
import { topkGrads } from './sparseGrads.ts';
import type { Grads } from './types.ts';

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

/** Builds the step graph for an SAE config. */
export function buildStepGraph(cfg: SaeConfig, plan: StepPlan): Uint8Array {
  const g = new GraphBuilder();
  const shapes = paramShapes(cfg);
  const x = g.input('x', 'float32', ['batch', cfg.dIn]);
  const p: Record<string, string> = {};
  for (const [n, shape] of Object.entries(shapes)) p[n] = g.input(n, 'float32', shape);
  const batch = g.op('Cast', [g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([1])])], { to: 1 });
  const batchScalar = g.op('Squeeze', [batch, g.ints([0])]);
  const s = { g, cfg, x, p, batch: batchScalar };
  const r: Grads = cfg.architecture === 'topk' ? topkGrads(s, plan.aux) : denseGrads(s, { plainL1: plan.plainL1, bandwidth: plan.bandwidth });
  const out = (name: string, value: string, dims: (number | string)[], type: 'float32' | 'int64' = 'float32') => {
    g.op('Identity', [value], {}, { out: name });
    g.output(name, type, dims);
  };
  for (const [name, v] of Object.entries(r.losses)) out(name, v, []);
  out('loss', addAll(g, Object.values(r.losses)), []);
  out('l0', r.l0, []);
  const centered = g.op('Sub', [x, g.op('ReduceMean', [x, g.ints([0])], { keepdims: 1 })]);
  out('var_x', g.op('ReduceSum', [g.op('Mul', [centered, centered])], { keepdims: 0 }), []);
  if (r.extra.indices) out('indices', r.extra.indices, ['batch', cfg.k!], 'int64');
  else out('fired', firedDense(g, r.extra.feature_acts), [cfg.dSae]);
  if (r.extra.batch_threshold) out('batch_threshold', r.extra.batch_threshold, []);
  if (plan.emitGrads) {
    for (const [n, v] of Object.entries(r.grads)) out(`grad.${n}`, v, shapes[n]);
    out('hidden_pre', r.extra.hidden_pre, ['batch', cfg.dSae]);
    out('sae_out', r.extra.sae_out, ['batch', cfg.dIn]);
    if (r.extra.feature_acts) out('feature_acts', r.extra.feature_acts, ['batch', cfg.dSae]);
    else out('topk_values', r.extra.values, ['batch', cfg.k!]);
  }
  const adam: AdamOptions = { beta1: plan.beta1, beta2: plan.beta2, eps: plan.eps, unitNormDecoder: plan.unitNormDecoder };
  out('grad_norm', addOptimizer(g, p, r.grads, shapes, adam), []);
  return g.toBytes('sae_step');
}

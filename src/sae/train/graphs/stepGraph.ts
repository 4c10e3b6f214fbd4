/**
 * Training-step graphs. Dense architectures: forward and analytic backward in
 * one graph, gradients out as `grad.NAME`. TopK: the forward and per-entry
 * backward (sparseGrads.ts); the sparse scatter follows outside. Both also
 * output the loss terms and `l0`, and dense ones `fired` (per-latent firing
 * counts); dense graphs divide by the input `batch_size`, so they can run on
 * row slices of a batch whose outputs add up. Clipping and Adam follow in adam.ts.
 * With `emitGrads`, forward tensors are outputs too (parity tests).
 */
import { GraphBuilder } from '../../../runtime/graph.ts';
import { outWidth, type SaeConfig } from '../../config.ts';
import { paramShapes } from '../params.ts';
import { denseGrads } from './denseGrads.ts';
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

/**
 * `batchInput`: the divisor of the per-token means comes in as input
 * `batch_size` (the whole batch's rows), so a graph run on a slice of the
 * batch gives that slice's share of the sums.
 */
function start(cfg: SaeConfig, batchInput = false): { g: GraphBuilder; s: StepInputs; shapes: Record<string, number[]> } {
  const g = new GraphBuilder();
  const shapes = paramShapes(cfg);
  const x = g.input('x', 'float32', ['batch', cfg.dIn]);
  const y = cfg.hookNameOut !== undefined ? g.input('y', 'float32', ['batch', outWidth(cfg)]) : undefined;
  const p: Record<string, string> = {};
  for (const [n, shape] of Object.entries(shapes)) p[n] = g.input(n, 'float32', shape);
  const batch = batchInput
    ? g.input('batch_size', 'float32', [])
    : g.op('Squeeze', [g.op('Cast', [g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([1])])], { to: 1 }), g.ints([0])]);
  return { g, s: { g, cfg, x, y, p, batch }, shapes };
}

/** Forward and backward of a dense architecture (standard, jumprelu, batchtopk). */
export function buildDenseStepGraph(cfg: SaeConfig, plan: StepPlan): Uint8Array {
  const { g, s, shapes } = start(cfg, true);
  const r = denseGrads(s, { plainL1: plan.plainL1, bandwidth: plan.bandwidth });
  const out = (name: string, value: string, dims: (number | string)[]) => {
    g.op('Identity', [value], {}, { out: name });
    g.output(name, 'float32', dims);
  };
  for (const [name, v] of Object.entries(r.losses)) out(name, v, []);
  const terms = Object.values(r.losses);
  out('loss', terms.length === 1 ? terms[0] : g.op('Sum', terms), []);
  out('l0', r.l0, []);
  out('fired', r.extra.fired, [cfg.dSae]);
  if (r.extra.batch_threshold) out('batch_threshold', r.extra.batch_threshold, []);
  for (const [n, v] of Object.entries(r.grads)) out(`grad.${n}`, v, shapes[n]);
  if (plan.emitGrads) {
    out('hidden_pre', r.extra.hidden_pre, ['batch', cfg.dSae]);
    out('sae_out', r.extra.sae_out, ['batch', outWidth(cfg)]);
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

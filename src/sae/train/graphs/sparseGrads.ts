/**
 * The ONNX part of a TopK SAE step (Gao et al. 2024): the dense encoder GEMM,
 * top-k, and everything per active latent — decoding by gathering the k
 * decoder rows, the reconstruction error, and the gradient of each active
 * (token, latent) pair. Gradients are scatter-added into parameter rows
 * outside the graph (sparseScatter.ts): ONNX Runtime's ScatterND with
 * `reduction='add'` races on repeated indices and loses updates.
 * With `aux`, the AuxK loss reconstructs the residual error from the top
 * `aux_k` dead latents, scaled by `aux_scale` (coefficient and dead count).
 * A transcoder reconstructs its target y (width dOut) from x, without b_dec
 * on its input; a skip transcoder adds `x @ W_skip.T`, whose dense gradient
 * is an output here (`grad.W_skip`).
 */
import type { GraphBuilder } from '../../../runtime/graph.ts';
import { outWidth } from '../../config.ts';
import { asFloat, mul, sumAll, type StepInputs } from './types.ts';

/** Adds the TopK forward and per-entry backward, declaring its outputs. */
export function topkForward(s: StepInputs, aux: boolean, emit: boolean): void {
  const { g, cfg, x, y, p, batch } = s;
  const dOutW = outWidth(cfg);
  const out = (name: string, v: string, dims: (number | string)[], type: 'float32' | 'int64' = 'float32') => {
    g.op('Identity', [v], {}, { out: name });
    g.output(name, type, dims);
  };
  const B = 'batch';
  const saeIn = y ? x : g.op('Sub', [x, p.b_dec]);
  const pre = g.op('Gemm', [saeIn, p.W_encT, p.b_enc], { transB: 1 });
  const [vals, idx] = g.opN('TopK', [pre, g.ints([cfg.k!])], 2, { axis: -1, largest: 1, sorted: 1 });
  const v = g.op('Relu', [vals]);
  const rows = g.op('Gather', [p.W_dec, idx]);
  let recon = g.op('Add', [mix(g, v, rows), p.b_dec]);
  if (p.W_skip) recon = g.op('Add', [recon, g.op('Gemm', [x, p.W_skip], { transB: 1 })]);
  const e = g.op('Sub', [recon, y ?? x]);
  out('mse', g.op('Div', [sumAll(g, mul(g, e, e)), batch]), []);
  const dOut = mul(g, e, g.op('Div', [g.floats([2]), batch]));
  out('sae_in', saeIn, [B, cfg.dIn]);
  out('d_out', dOut, [B, dOutW]);
  if (p.W_skip) out('grad.W_skip', g.op('Gemm', [dOut, x], { transA: 1 }), [dOutW, cfg.dIn]);
  out('indices', idx, [B, cfg.k!], 'int64');
  out('values', v, [B, cfg.k!]);
  out('d_pre', entryGrad(g, rows, vals, dOut), [B, cfg.k!]);
  out('l0', g.op('Div', [sumAll(g, asFloat(g, g.op('Greater', [vals, g.floats([0])]))), batch]), []);
  if (emit) {
    out('hidden_pre', pre, [B, cfg.dSae]);
    out('sae_out', recon, [B, dOutW]);
  }
  if (!aux) return;
  const dead = g.input('dead', 'float32', [cfg.dSae]);
  const auxK = g.input('aux_k', 'int64', [1]);
  const auxScale = g.input('aux_scale', 'float32', []);
  const masked = g.op('Where', [g.op('Greater', [dead, g.floats([0.5])]), pre, g.floats([-1e30])]);
  const [aVals, aIdx] = g.opN('TopK', [masked, auxK], 2, { axis: -1, largest: 1, sorted: 1 });
  const av = g.op('Relu', [aVals]);
  const aRows = g.op('Gather', [p.W_dec, aIdx]);
  const d = g.op('Add', [mix(g, av, aRows), e]); // aux_recon - (x - recon), the residual treated as a constant
  out('aux', g.op('Div', [mul(g, auxScale, sumAll(g, mul(g, d, d))), batch]), []);
  const dA = mul(g, d, g.op('Div', [mul(g, g.floats([2]), auxScale), batch]));
  out('aux_d_out', dA, [B, dOutW]);
  out('aux_indices', aIdx, [B, 'auxK'], 'int64');
  out('aux_values', av, [B, 'auxK']);
  out('aux_d_pre', entryGrad(g, aRows, aVals, dA), [B, 'auxK']);
}

/** Σ_j values[b, j] * rows[b, j]: [B, dIn], rows being gathered decoder rows [B, k, dIn]. */
function mix(g: GraphBuilder, values: string, rows: string): string {
  return g.op('Squeeze', [g.op('MatMul', [g.op('Unsqueeze', [values, g.ints([1])]), rows]), g.ints([1])]);
}

/** d loss / d pre for each active entry: (rows · dOut) where the pre-activation is positive. */
function entryGrad(g: GraphBuilder, rows: string, rawVals: string, dOut: string): string {
  const dv = g.op('Squeeze', [g.op('MatMul', [rows, g.op('Unsqueeze', [dOut, g.ints([2])])]), g.ints([2])]);
  return mul(g, dv, asFloat(g, g.op('Greater', [rawVals, g.floats([0])])));
}

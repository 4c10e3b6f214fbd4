/**
 * Forward and backward of a TopK SAE that touch only the k active latents
 * per token (Gao et al. 2024): decoder rows are gathered, gradients are
 * scatter-added into their rows, and b_dec's encoder-side gradient is
 * `-(grad b_enc) @ W_encT`. With `aux`, the AuxK loss reconstructs the
 * residual error from the top `auxK` dead latents (coefficient and dead-count
 * scaling come in as `aux_scale`), as in the paper and SAELens.
 */
import type { GraphBuilder } from '../../../runtime/graph.ts';
import { asFloat, mul, sumAll, type Grads, type StepInputs } from './types.ts';

/** Adds the TopK forward/backward; `aux` adds the AuxK term with inputs `dead`, `aux_k`, `aux_scale`. */
export function topkGrads(s: StepInputs, aux: boolean): Grads {
  const { g, cfg, x, p, batch } = s;
  const saeIn = g.op('Sub', [x, p.b_dec]);
  const pre = g.op('Gemm', [saeIn, p.W_encT, p.b_enc], { transB: 1 });
  const [vals, idx] = g.opN('TopK', [pre, g.ints([cfg.k!])], 2, { axis: -1, largest: 1, sorted: 1 });
  const v = g.op('Relu', [vals]);
  const rows = g.op('Gather', [p.W_dec, idx]);
  const recon = g.op('Add', [mix(g, v, rows), p.b_dec]);
  const e = g.op('Sub', [recon, x]);
  const mse = g.op('Div', [sumAll(g, mul(g, e, e)), batch]);
  const dOut = mul(g, e, g.op('Div', [g.floats([2]), batch]));
  // Zeros computed from inputs, not ConstantOfShape: ONNX Runtime folds that into
  // one constant buffer, which ScatterND may then update in place across runs.
  const zeros = mul(g, p.W_dec, g.floats([0]));
  const zerosS = mul(g, p.b_enc, g.floats([0]));
  const main = rowGrads(g, rows, v, vals, dOut, saeIn);
  let gWdec = scatterRows(g, zeros, idx, main.decUpdates);
  let gWencT = scatterRows(g, zeros, idx, main.encUpdates);
  let gbEnc = scatterScalars(g, zerosS, idx, main.dPre);
  const losses: Record<string, string> = { mse };
  if (aux) {
    const dead = g.input('dead', 'float32', [cfg.dSae]);
    const auxK = g.input('aux_k', 'int64', [1]);
    const auxScale = g.input('aux_scale', 'float32', []);
    const masked = g.op('Where', [g.op('Greater', [dead, g.floats([0.5])]), pre, g.floats([-1e30])]);
    const [aVals, aIdx] = g.opN('TopK', [masked, auxK], 2, { axis: -1, largest: 1, sorted: 1 });
    const av = g.op('Relu', [aVals]);
    const aRows = g.op('Gather', [p.W_dec, aIdx]);
    const d = g.op('Add', [mix(g, av, aRows), e]); // aux_recon - (x - recon)
    losses.aux = g.op('Div', [mul(g, auxScale, sumAll(g, mul(g, d, d))), batch]);
    const dA = mul(g, d, g.op('Div', [mul(g, g.floats([2]), auxScale), batch]));
    const a = rowGrads(g, aRows, av, aVals, dA, saeIn);
    gWdec = g.op('Add', [gWdec, scatterRows(g, zeros, aIdx, a.decUpdates)]);
    gWencT = g.op('Add', [gWencT, scatterRows(g, zeros, aIdx, a.encUpdates)]);
    gbEnc = g.op('Add', [gbEnc, scatterScalars(g, zerosS, aIdx, a.dPre)]);
  }
  const gbDec = g.op('Sub', [g.op('ReduceSum', [dOut, g.ints([0])], { keepdims: 0 }), g.op('MatMul', [gbEnc, p.W_encT])]);
  return {
    grads: { W_encT: gWencT, b_enc: gbEnc, W_dec: gWdec, b_dec: gbDec },
    losses,
    l0: g.op('Div', [sumAll(g, asFloat(g, g.op('Greater', [vals, g.floats([0])]))), batch]),
    extra: { hidden_pre: pre, sae_out: recon, values: v, indices: idx },
  };
}

/** Σ_j values[b, j] * rows[b, j]: [B, dIn], rows being gathered decoder rows [B, k, dIn]. */
function mix(g: GraphBuilder, values: string, rows: string): string {
  return g.op('Squeeze', [g.op('MatMul', [g.op('Unsqueeze', [values, g.ints([1])]), rows]), g.ints([1])]);
}

/** Per active (b, j): decoder-row updates v ⊗ dOut, encoder-row updates dPre ⊗ sae_in, and dPre. */
function rowGrads(g: GraphBuilder, rows: string, v: string, rawVals: string, dOut: string, saeIn: string) {
  const dv = g.op('Squeeze', [g.op('MatMul', [rows, g.op('Unsqueeze', [dOut, g.ints([2])])]), g.ints([2])]);
  const dPre = mul(g, dv, asFloat(g, g.op('Greater', [rawVals, g.floats([0])])));
  const outer = (a: string, b: string) => mul(g, g.op('Unsqueeze', [a, g.ints([2])]), g.op('Unsqueeze', [b, g.ints([1])]));
  return { dPre, decUpdates: outer(v, dOut), encUpdates: outer(dPre, saeIn) };
}

/** zeros [S, dIn] plus updates [B, k, dIn] added at rows idx [B, k]. */
function scatterRows(g: GraphBuilder, zeros: string, idx: string, updates: string): string {
  return g.op('ScatterND', [zeros, g.op('Unsqueeze', [idx, g.ints([2])]), updates], { reduction: 'add' });
}

/** zeros [S] plus values [B, k] added at idx [B, k]. */
function scatterScalars(g: GraphBuilder, zeros: string, idx: string, values: string): string {
  return g.op('ScatterElements', [zeros, g.op('Reshape', [idx, g.ints([-1])]), g.op('Reshape', [values, g.ints([-1])])], { axis: 0, reduction: 'add' });
}

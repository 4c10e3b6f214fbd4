/**
 * Forward and backward of the dense SAE architectures, written out as ONNX
 * ops (the GEMMs run on ONNX Runtime):
 * - standard: ReLU, L1 weighted by decoder row norms (SAELens), or with
 *   `plainL1` the classic tutorial's plain L1 (decoder rows are then kept at
 *   unit norm by the optimizer);
 * - jumprelu: `pre * (pre > θ)`, θ = exp(log_threshold), with an L0 penalty
 *   and straight-through pseudo-derivatives for θ through a rectangle kernel
 *   of width `bandwidth` (Rajamanoharan et al. 2024, "Jumping Ahead");
 * - batchtopk: the k x B largest activations of the whole batch
 *   (Bussmann et al. 2024); the smallest kept value is exposed as
 *   `batch_threshold` for the inference threshold's running estimate.
 */
import { asFloat, mul, sumAll, type Grads, type StepInputs } from './types.ts';

/** Options of the dense step. */
export interface DenseOptions {
  /** Plain L1 (tutorial form) instead of decoder-norm-weighted L1. */
  readonly plainL1: boolean;
  /** JumpReLU kernel width. */
  readonly bandwidth: number;
}

/** Adds the dense forward/backward. Sparsity coefficient comes in as input `sparsity_coef`. */
export function denseGrads(s: StepInputs, o: DenseOptions): Grads {
  const { g, cfg, x, y, p, batch } = s;
  const coef = g.input('sparsity_coef', 'float32', []);
  // A transcoder's b_dec is its output's bias (another space): never subtracted from its input.
  const saeIn = y ? x : g.op('Sub', [x, p.b_dec]);
  const pre = g.op('Gemm', [saeIn, p.W_encT, p.b_enc], { transB: 1 });
  const extra: Record<string, string> = { hidden_pre: pre };
  let mask: string;
  let theta: string | undefined;
  if (cfg.architecture === 'jumprelu') {
    theta = g.op('Exp', [p.log_threshold]);
    mask = asFloat(g, g.op('Greater', [pre, theta]));
  } else if (cfg.architecture === 'batchtopk') {
    const relu = g.op('Relu', [pre]);
    const kB = g.op('Mul', [g.ints([cfg.k!]), g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([1])])]);
    const [top] = g.opN('TopK', [g.op('Reshape', [relu, g.ints([-1])]), kB], 2, { axis: 0, largest: 1, sorted: 0 });
    const t = g.op('Max', [g.op('ReduceMin', [top], { keepdims: 0 }), g.floats([1e-12])]);
    extra.batch_threshold = t;
    mask = asFloat(g, g.op('GreaterOrEqual', [relu, t]));
  } else {
    // ReLU: the activations first, then the mask from them (0/1, and 0 where pre <= 0), so `pre` dies here.
    extra.feature_acts = g.op('Relu', [pre]);
    mask = g.op('Sign', [extra.feature_acts]);
  }
  // The op order below keeps few [batch, dSae] tensors alive at once (each is 400 MB at 4096 x 24576):
  // everything that reads the activations runs before the backward's [batch, dSae] products exist.
  const f = extra.feature_acts ?? mul(g, pre, mask);
  extra.feature_acts = f;
  const recon = g.op('Add', [g.op('MatMul', [f, p.W_dec]), p.b_dec]);
  extra.sae_out = recon;
  const e = g.op('Sub', [recon, y ?? x]);
  const losses: Record<string, string> = { mse: g.op('Div', [sumAll(g, mul(g, e, e)), batch]) };
  const dOut = mul(g, e, g.op('Div', [g.floats([2]), batch]));
  let gWdec = g.op('Gemm', [f, dOut], { transA: 1 });
  const grads: Record<string, string> = {};
  const coefPerRow = g.op('Div', [coef, batch]);
  // The sparsity term's gradient on the activations is constant per latent: it rides in dF's Gemm as C.
  let dFBias: string | undefined;
  if (cfg.architecture === 'standard') {
    const fSum = g.op('ReduceSum', [f, g.ints([0])], { keepdims: 0 }); // [S]
    if (o.plainL1) {
      losses.l1 = mul(g, coef, g.op('Div', [g.op('ReduceSum', [fSum], { keepdims: 0 }), batch]));
      dFBias = coefPerRow;
    } else {
      const norms = g.op('Sqrt', [g.op('ReduceSum', [mul(g, p.W_dec, p.W_dec), g.ints([1])], { keepdims: 1 })]); // [S, 1]
      const normRow = g.op('Reshape', [norms, g.ints([-1])]);
      // Σ_b Σ_s f[b,s]·‖W_dec[s]‖ = Σ_s fSum[s]·‖W_dec[s]‖.
      losses.l1 = mul(g, coef, g.op('Div', [g.op('ReduceSum', [mul(g, fSum, normRow)], { keepdims: 0 }), batch]));
      dFBias = mul(g, coefPerRow, normRow);
      const scale = mul(g, coefPerRow, g.op('Div', [g.op('Unsqueeze', [fSum, g.ints([1])]), norms]));
      gWdec = g.op('Add', [gWdec, mul(g, scale, p.W_dec)]);
    }
  }
  const dF = g.op('Gemm', dFBias ? [dOut, p.W_dec, dFBias] : [dOut, p.W_dec], { transB: 1 });
  const dPre = mul(g, dF, mask);
  if (theta) {
    // Straight-through estimates: d/dθ of pre*H(pre-θ) ≈ -θ K, of H(pre-θ) ≈ -K, K = rect((pre-θ)/ε)/ε.
    const u = g.op('Div', [g.op('Sub', [pre, theta]), g.floats([o.bandwidth])]);
    const inside = asFloat(g, g.op('Less', [g.op('Abs', [u]), g.floats([0.5])]));
    const K = g.op('Div', [inside, g.floats([o.bandwidth])]);
    const dTheta = g.op('Neg', [g.op('ReduceSum', [g.op('Add', [mul(g, mul(g, dF, theta), K), mul(g, coefPerRow, K)]), g.ints([0])], { keepdims: 0 })]);
    grads.log_threshold = mul(g, dTheta, theta);
  }
  grads.W_dec = gWdec;
  grads.W_encT = g.op('Gemm', [dPre, saeIn], { transA: 1 });
  grads.b_enc = g.op('ReduceSum', [dPre, g.ints([0])], { keepdims: 0 });
  const dOutSum = g.op('ReduceSum', [dOut, g.ints([0])], { keepdims: 0 });
  // An SAE's b_dec also reaches the loss through the encoder's input (x - b_dec); a transcoder's only through the output.
  grads.b_dec = y ? dOutSum : g.op('Sub', [dOutSum, g.op('MatMul', [grads.b_enc, p.W_encT])]);
  // Tokens of the batch on which each latent fired: the mask is 1 exactly where the activation is positive.
  extra.fired = g.op('ReduceSum', [mask, g.ints([0])], { keepdims: 0 });
  const l0 = g.op('Div', [g.op('ReduceSum', [extra.fired], { keepdims: 0 }), batch]);
  if (theta) losses.l0_penalty = mul(g, coef, l0);
  return { grads, losses, l0, extra };
}

/**
 * Forward and backward of the dense SAE architectures, written out as ONNX
 * ops (the GEMMs run on ONNX Runtime). The architecture (sae/architectures/)
 * gives its activation's forward (a 0/1 mask, and the activations when they
 * are not `pre * mask`) and its sparsity term (losses, d loss / d f,
 * and gradients of its own parameters); this file writes the reconstruction,
 * the MSE and the backward every architecture shares. A transcoder
 * reconstructs its target y instead of x, and a skip transcoder adds
 * `x @ W_skip.T` (SAELens transcoder.py) with W_skip's gradient.
 */
import { architecture } from '../../architectures/registry.ts';
import { mul, sumAll, type Grads, type StepInputs } from './types.ts';

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
  const train = architecture(cfg.architecture).training;
  if (!train.denseForward) throw new Error(`internal: ${cfg.architecture} has no dense step`);
  const coef = g.input('sparsity_coef', 'float32', []);
  // A transcoder's b_dec is its output's bias (another space): never subtracted from its input.
  const saeIn = y ? x : g.op('Sub', [x, p.b_dec]);
  const pre = g.op('Gemm', [saeIn, p.W_encT, p.b_enc], { transB: 1 });
  const fwd = train.denseForward({ g, cfg, pre, x, p });
  const mask = fwd.mask;
  // The op order below keeps few [batch, dSae] tensors alive at once (each is 400 MB at 4096 x 24576):
  // everything that reads the activations runs before the backward's [batch, dSae] products exist.
  const f = fwd.acts ?? mul(g, pre, mask);
  const extra: Record<string, string> = { hidden_pre: pre, feature_acts: f, ...fwd.outputs };
  let recon = g.op('Add', [g.op('MatMul', [f, p.W_dec]), p.b_dec]);
  if (p.W_skip) recon = g.op('Add', [recon, g.op('Gemm', [x, p.W_skip], { transB: 1 })]);
  extra.sae_out = recon;
  const e = g.op('Sub', [recon, y ?? x]);
  const losses: Record<string, string> = { mse: g.op('Div', [sumAll(g, mul(g, e, e)), batch]) };
  const dOut = mul(g, e, g.op('Div', [g.floats([2]), batch]));
  let gWdec = g.op('Gemm', [f, dOut], { transA: 1 });
  const grads: Record<string, string> = {};
  // Tokens of the batch on which each latent fired: the mask is 1 exactly where the activation is on.
  extra.fired = g.op('ReduceSum', [mask, g.ints([0])], { keepdims: 0 });
  const l0 = g.op('Div', [g.op('ReduceSum', [extra.fired], { keepdims: 0 }), batch]);
  const coefPerRow = g.op('Div', [coef, batch]);
  const fSum = g.op('ReduceSum', [f, g.ints([0])], { keepdims: 0 });
  const term = train.sparsity?.({ g, cfg, pre, x, p, f, fSum, l0, coef, coefPerRow, batch, plainL1: o.plainL1, bandwidth: o.bandwidth });
  Object.assign(losses, term?.losses);
  if (term?.dWdec) gWdec = g.op('Add', [gWdec, term.dWdec]);
  // The sparsity term's gradient on the activations is constant per latent: it rides in dF's Gemm as C.
  const dF = g.op('Gemm', term?.dFBias ? [dOut, p.W_dec, term.dFBias] : [dOut, p.W_dec], { transB: 1 });
  const dPre = mul(g, dF, mask);
  Object.assign(grads, term?.paramGrads?.(dF));
  grads.W_dec = gWdec;
  grads.W_encT = g.op('Gemm', [dPre, saeIn], { transA: 1 });
  grads.b_enc = g.op('ReduceSum', [dPre, g.ints([0])], { keepdims: 0 });
  const dOutSum = g.op('ReduceSum', [dOut, g.ints([0])], { keepdims: 0 });
  // An SAE's b_dec also reaches the loss through the encoder's input (x - b_dec); a transcoder's only through the output.
  grads.b_dec = y ? dOutSum : g.op('Sub', [dOutSum, g.op('MatMul', [grads.b_enc, p.W_encT])]);
  if (p.W_skip) grads.W_skip = g.op('Gemm', [dOut, x], { transA: 1 });
  return { grads, losses, l0, extra };
}

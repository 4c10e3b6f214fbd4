/**
 * The standard SAE (Bricken et al. 2023, "Towards Monosemanticity"; SAELens
 * `standard`): ReLU of the pre-activation, trained with an L1 penalty
 * weighted by decoder row norms (SAELens), or with `plainL1` the classic
 * tutorial's plain L1 with decoder rows kept at unit norm.
 */
import { NO_EXTRA, type SaeArchitectureImpl } from './architecture.ts';

export const standard: SaeArchitectureImpl = {
  name: 'standard',
  extraWeights: [],
  perLatent: true,
  activation: (g, pre) => ({ dense: g.op('Relu', [pre]) }),
  training: {
    step: 'dense',
    needsK: false,
    defaultCoef: 5,
    unitNormDecoder: false,
    // SAELens 6.18 starts b_dec at zero (saes/sae.py:337-341): the start moves the sparsity a coefficient buys
    // (at L1 40, L0 389 from the mean against 101 from zero), and SAELens recipes' coefficients should mean the same here.
    bDecInit: 'zeros',
    wholeBatch: false,
    auxK: false,
    ...NO_EXTRA,
    denseForward({ g, pre }) {
      // ReLU: the activations first, then the mask from them (0/1, and 0 where pre <= 0), so `pre` dies here.
      const acts = g.op('Relu', [pre]);
      return { acts, mask: g.op('Sign', [acts]) };
    },
    sparsity({ g, p, fSum, coef, coefPerRow, batch, plainL1 }) {
      if (plainL1) return { losses: { l1: g.op('Mul', [coef, g.op('Div', [g.op('ReduceSum', [fSum], { keepdims: 0 }), batch])]) }, dFBias: coefPerRow };
      const norms = g.op('Sqrt', [g.op('ReduceSum', [g.op('Mul', [p.W_dec, p.W_dec]), g.ints([1])], { keepdims: 1 })]); // [S, 1]
      const normRow = g.op('Reshape', [norms, g.ints([-1])]);
      // Σ_b Σ_s f[b,s]·‖W_dec[s]‖ = Σ_s fSum[s]·‖W_dec[s]‖; its W_dec gradient is fSum[s]·W_dec[s]/‖W_dec[s]‖.
      const l1 = g.op('Mul', [coef, g.op('Div', [g.op('ReduceSum', [g.op('Mul', [fSum, normRow])], { keepdims: 0 }), batch])]);
      const scale = g.op('Mul', [coefPerRow, g.op('Div', [g.op('Unsqueeze', [fSum, g.ints([1])]), norms])]);
      return { losses: { l1 }, dFBias: g.op('Mul', [coefPerRow, normRow]), dWdec: g.op('Mul', [scale, p.W_dec]) };
    },
    saved: () => ({ architecture: 'standard', extra: {} }),
  },
};

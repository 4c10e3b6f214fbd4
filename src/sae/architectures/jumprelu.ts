/**
 * JumpReLU SAEs (Rajamanoharan et al. 2024, "Jumping Ahead"; Gemma Scope): a
 * latent fires only when its pre-activation exceeds its own threshold:
 * `relu(h) * (h > threshold)`. Trained with an L0 penalty; the threshold is
 * learnt as `log_threshold` through straight-through pseudo-derivatives of a
 * rectangle kernel of width `bandwidth`.
 */
import type { SaeArchitectureImpl } from './architecture.ts';

export const jumprelu: SaeArchitectureImpl = {
  name: 'jumprelu',
  extraWeights: ['threshold'],
  perLatent: true,
  activation(g, pre, _cfg, weight) {
    const on = g.op('Greater', [pre, weight('threshold')]);
    return { dense: g.op('Where', [on, g.op('Relu', [pre]), g.floats([0])]) };
  },
  training: {
    step: 'dense',
    needsK: false,
    defaultCoef: 1e-3,
    unitNormDecoder: false,
    bDecInit: 'zeros',
    wholeBatch: false,
    auxK: false,
    extraParamShapes: (cfg) => ({ log_threshold: [cfg.dSae] }),
    initExtra: (cfg, o) => ({ log_threshold: new Float32Array(cfg.dSae).fill(Math.log(o.initThreshold)) }),
    denseForward({ g, pre, p }) {
      const theta = g.op('Exp', [p.log_threshold]);
      return { mask: g.op('Cast', [g.op('Greater', [pre, theta])], { to: 1 }) };
    },
    sparsity({ g, pre, p, coef, coefPerRow, l0, bandwidth }) {
      const theta = g.op('Exp', [p.log_threshold]);
      return {
        losses: { l0_penalty: g.op('Mul', [coef, l0]) },
        paramGrads(dF) {
          // d/dθ of pre·H(pre-θ) ≈ -θK and of H(pre-θ) ≈ -K, with K = rect((pre-θ)/ε)/ε; θ = exp(log θ).
          const u = g.op('Div', [g.op('Sub', [pre, theta]), g.floats([bandwidth])]);
          const K = g.op('Div', [g.op('Cast', [g.op('Less', [g.op('Abs', [u]), g.floats([0.5])])], { to: 1 }), g.floats([bandwidth])]);
          const perEntry = g.op('Add', [g.op('Mul', [g.op('Mul', [dF, theta]), K]), g.op('Mul', [coefPerRow, K])]);
          const dTheta = g.op('Neg', [g.op('ReduceSum', [perEntry, g.ints([0])], { keepdims: 0 })]);
          return { log_threshold: g.op('Mul', [dTheta, theta]) };
        },
      };
    },
    saved: (_cfg, p) => ({ architecture: 'jumprelu', extra: { threshold: p.log_threshold.map(Math.exp) } }),
  },
};

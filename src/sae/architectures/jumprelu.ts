/**
 * JumpReLU SAEs (Rajamanoharan et al. 2024; Gemma Scope): a latent fires
 * only when its pre-activation exceeds its own threshold:
 * `relu(h) * (h > threshold)`.
 */
import type { SaeArchitectureImpl } from './architecture.ts';

export const jumprelu: SaeArchitectureImpl = {
  name: 'jumprelu',
  extraWeights: ['threshold'],
  activation(g, pre, _cfg, weight) {
    const on = g.op('Greater', [pre, weight('threshold')]);
    return { dense: g.op('Where', [on, g.op('Relu', [pre]), g.floats([0])]) };
  },
};

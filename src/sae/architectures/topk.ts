/**
 * TopK SAEs (Gao et al. 2024, "Scaling and evaluating sparse autoencoders"):
 * the k largest pre-activations per token, through ReLU; all others 0.
 */
import type { SaeArchitectureImpl } from './architecture.ts';

export const topk: SaeArchitectureImpl = {
  name: 'topk',
  extraWeights: [],
  activation(g, pre, cfg) {
    const [values, indices] = g.opN('TopK', [pre, g.ints([cfg.k!])], 2, { axis: -1, largest: 1, sorted: 1 });
    return { values: g.op('Relu', [values]), indices };
  },
};

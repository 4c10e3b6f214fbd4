/**
 * BatchTopK SAEs (Bussmann et al. 2024): in training, the k x batch largest
 * activations over the whole batch; at inference, a threshold estimated in
 * training (a running mean of each batch's smallest kept activation), stored
 * per latent as `threshold` and saved as SAELens's jumprelu.
 */
import { NO_EXTRA, type SaeArchitectureImpl } from './architecture.ts';
import { jumprelu } from './jumprelu.ts';

export const batchtopk: SaeArchitectureImpl = {
  name: 'batchtopk',
  extraWeights: ['threshold'],
  perLatent: true,
  activation: jumprelu.activation,
  training: {
    step: 'dense',
    needsK: true,
    defaultCoef: 0,
    unitNormDecoder: true,
    bDecInit: 'mean',
    wholeBatch: true,
    auxK: false,
    ...NO_EXTRA,
    denseForward({ g, cfg, pre, x }) {
      const relu = g.op('Relu', [pre]);
      const kB = g.op('Mul', [g.ints([cfg.k!]), g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([1])])]);
      const [top] = g.opN('TopK', [g.op('Reshape', [relu, g.ints([-1])]), kB], 2, { axis: 0, largest: 1, sorted: 0 });
      const t = g.op('Max', [g.op('ReduceMin', [top], { keepdims: 0 }), g.floats([1e-12])]);
      return { mask: g.op('Cast', [g.op('GreaterOrEqual', [relu, t])], { to: 1 }), outputs: { batch_threshold: t } };
    },
    saved: (cfg, _p, running) => ({ architecture: 'jumprelu', extra: { threshold: new Float32Array(cfg.dSae).fill(running ?? 0) } }),
  },
};

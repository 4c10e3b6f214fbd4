/**
 * BatchTopK SAEs (Bussmann et al. 2024): in training, the k x batch largest
 * activations over the whole batch; at inference, a threshold estimated in
 * training (stored per latent as `threshold`, like JumpReLU).
 */
import type { SaeArchitectureImpl } from './architecture.ts';
import { jumprelu } from './jumprelu.ts';

export const batchtopk: SaeArchitectureImpl = {
  name: 'batchtopk',
  extraWeights: ['threshold'],
  activation: jumprelu.activation,
};

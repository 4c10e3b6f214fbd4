/**
 * The standard SAE (Bricken et al. 2023, "Towards Monosemanticity"; SAELens
 * `standard`): ReLU of the pre-activation. Trained with an L1 penalty
 * weighted by decoder norms (see train/denseStep.ts).
 */
import type { SaeArchitectureImpl } from './architecture.ts';

export const standard: SaeArchitectureImpl = {
  name: 'standard',
  extraWeights: [],
  activation: (g, pre) => ({ dense: g.op('Relu', [pre]) }),
};

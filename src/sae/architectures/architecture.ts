/**
 * What an SAE architecture contributes: its weights and its activation
 * function, written into an ONNX graph after `hidden_pre = sae_in @ W_enc + b_enc`.
 */
import type { GraphBuilder } from '../../runtime/graph.ts';
import type { SaeArchitecture, SaeConfig } from '../config.ts';

/** An activation's graph outputs: dense acts [n, dSae], or top-k values and indices [n, k]. */
export type ActivationOut = { readonly dense: string } | { readonly values: string; readonly indices: string };

/** One SAE architecture. */
export interface SaeArchitectureImpl {
  /** Name in cfg.json. */
  readonly name: SaeArchitecture;
  /** Weight tensors beyond W_enc, b_enc, W_dec, b_dec. */
  readonly extraWeights: readonly string[];
  /** Adds the activation function to `g`, reading `pre` [n, dSae]; weight names are initializers. */
  activation(g: GraphBuilder, pre: string, cfg: SaeConfig, weight: (name: string) => string): ActivationOut;
}

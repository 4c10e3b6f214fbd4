/**
 * What an SAE architecture owns, as SAELens keeps it per architecture in its
 * `saes/` folder: its extra weights, its activation function (written into
 * an ONNX graph after `hidden_pre = sae_in @ W_enc + b_enc`), and how it
 * trains (initialisation, b_dec start, decoder-norm rule, default
 * coefficient, its pieces of the step graph, and what it is saved as).
 * A new activation is one file here plus a line in registry.ts; transcoders
 * (another input and output, an optional skip) are a kind of dictionary,
 * not an architecture, and train with every architecture.
 */
import type { GraphBuilder } from '../../runtime/graph.ts';
import type { SaeArchitecture, SaeConfig } from '../config.ts';

/** An activation's graph outputs: dense acts [n, dSae], or top-k values and indices [n, k]. */
export type ActivationOut = { readonly dense: string } | { readonly values: string; readonly indices: string };

/** Trainable parameters by name, in the trainer's layout (see train/params.ts). */
export type TrainParams = Record<string, Float32Array>;

/** What the dense step graph gives an architecture's forward (value names in `g`). */
export interface DenseForwardInputs {
  readonly g: GraphBuilder;
  readonly cfg: SaeConfig;
  /** Pre-activations [B, dSae]. */
  readonly pre: string;
  /** The step's input x [B, dIn] (for the batch's size). */
  readonly x: string;
  /** Parameter value names. */
  readonly p: Readonly<Record<string, string>>;
}

/** An architecture's forward in the dense step. */
export interface DenseForward {
  /** 0/1 [B, dSae]: where an activation is on (the gradient passes through it). */
  readonly mask: string;
  /** The activations [B, dSae]; `pre * mask` when absent. */
  readonly acts?: string;
  /** Scalar outputs of the step (BatchTopK's `batch_threshold`). */
  readonly outputs?: Readonly<Record<string, string>>;
}

/** What the dense step gives an architecture's sparsity term. */
export interface SparsityInputs extends DenseForwardInputs {
  /** Activations [B, dSae]. */
  readonly f: string;
  /** Σ over the batch of the activations [dSae]. */
  readonly fSum: string;
  /** Mean active latents per token (scalar). */
  readonly l0: string;
  /** Sparsity coefficient (scalar input), and divided by the whole batch's size. */
  readonly coef: string;
  readonly coefPerRow: string;
  /** The whole batch's size (scalar). */
  readonly batch: string;
  readonly plainL1: boolean;
  /** JumpReLU's kernel width. */
  readonly bandwidth: number;
}

/** An architecture's sparsity term in the dense step. */
export interface SparsityTerm {
  /** Loss terms (means per token), by name: `l1`, `l0_penalty`. */
  readonly losses: Readonly<Record<string, string>>;
  /** d loss / d f, constant per latent [dSae] or [1] (added in the backward's dF GEMM). */
  readonly dFBias?: string;
  /** Added to W_dec's gradient. */
  readonly dWdec?: string;
  /** Gradients of the architecture's own parameters, given dF = d loss / d f [B, dSae]. */
  paramGrads?(dF: string): Readonly<Record<string, string>>;
}

/** How an architecture trains. */
export interface ArchitectureTraining {
  /** The step: `dense` (forward and backward in one graph), or `topk` (k entries per row, scattered outside). */
  readonly step: 'dense' | 'topk';
  /** Needs `k`. */
  readonly needsK: boolean;
  /** The sparsity coefficient when none is given (unused where k sets the sparsity). */
  readonly defaultCoef: number;
  /** Decoder rows kept at unit norm after each step (else the L1 is weighted by their norms). */
  readonly unitNormDecoder: boolean;
  /** b_dec's start when none is given: zeros, or the first batch's mean. */
  readonly bDecInit: 'zeros' | 'mean';
  /** The dense step needs the whole batch in one graph run (a batch-wide top-k). */
  readonly wholeBatch: boolean;
  /** The AuxK loss on dead latents (Gao et al.). */
  readonly auxK: boolean;
  /** Trainable parameters beyond W_encT, b_enc, W_dec, b_dec: shapes. */
  extraParamShapes(cfg: SaeConfig): Record<string, number[]>;
  /** Their starting values. */
  initExtra(cfg: SaeConfig, o: { readonly initThreshold: number }): TrainParams;
  /** Dense step: the activation's forward. */
  denseForward?(s: DenseForwardInputs): DenseForward;
  /** Dense step: the sparsity term. */
  sparsity?(s: SparsityInputs): SparsityTerm;
  /**
   * What the trained SAE is saved as: its architecture and its extra
   * weights from the trainer's parameters (and the running estimate).
   */
  saved(cfg: SaeConfig, p: TrainParams, running: number | undefined): { architecture: SaeArchitecture; extra: TrainParams };
}

/** One SAE architecture. */
export interface SaeArchitectureImpl {
  /** Name in cfg.json. */
  readonly name: SaeArchitecture;
  /** Weight tensors beyond W_enc, b_enc, W_dec, b_dec, each [dSae]. */
  readonly extraWeights: readonly string[];
  /**
   * A latent's activation depends only on its own pre-activation (and its own
   * extra weights), so a few latents can be computed from their columns
   * alone; top-k's needs every pre-activation.
   */
  readonly perLatent: boolean;
  /** Adds the activation function to `g`, reading `pre` [n, dSae]; weight names are initializers. */
  activation(g: GraphBuilder, pre: string, cfg: SaeConfig, weight: (name: string) => string): ActivationOut;
  /** How it trains. */
  readonly training: ArchitectureTraining;
}

/** No parameters beyond the four every SAE has. */
export const NO_EXTRA = {
  extraParamShapes: (): Record<string, number[]> => ({}),
  initExtra: (): TrainParams => ({}),
};

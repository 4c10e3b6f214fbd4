/** What to train and how: plain readonly data with SAELens-like defaults. */
import type { Normalization, SaeArchitecture } from '../config.ts';

/** One SAE to train. */
export interface SaeSpec {
  /** Hook the SAE reads. */
  readonly hook: string;
  /**
   * A transcoder's output hook: the dictionary reads `hook` and learns to
   * produce this hook's activations (e.g. `blocks.L.mlp.hook_in` to
   * `blocks.L.hook_mlp_out`). Standard, jumprelu and batchtopk.
   */
  readonly hookOut?: string;
  /** A transcoder's affine skip connection W_skip [dOut, dIn], started at zero (SAELens's skip_transcoder). */
  readonly skip?: boolean;
  /** Architecture. */
  readonly architecture: SaeArchitecture;
  /** Latents. */
  readonly dSae: number;
  /** Active latents per token (topk, batchtopk). */
  readonly k?: number;
  /** Output folder (SAELens layout). */
  readonly out: string;
  /** Peak learning rate (default 3e-4). */
  readonly lr?: number;
  /** Sparsity coefficient: L1 for standard (default 5), L0 for jumprelu (default 1e-3). */
  readonly sparsityCoef?: number;
  /** Classic tutorial form of standard: plain L1, unit-norm decoder rows. */
  readonly plainL1?: boolean;
  /**
   * Initial decoder bias: `zeros` (SAELens 6.18, `saes/sae.py:337-341`) or
   * `mean`, the mean of the first batch (older SAELens's `b_dec_init_method:
   * mean`). Default: `mean` for topk and batchtopk, `zeros` otherwise (see
   * unit.ts, defaultBDecInit).
   */
  readonly bDecInit?: 'zeros' | 'mean';
  /** Input normalization (default none). */
  readonly normalizeActivations?: Normalization;
  /** Top-k: AuxK latents (default dIn / 2) and coefficient (default 1/32). */
  readonly auxK?: number;
  readonly auxCoef?: number;
  /** JumpReLU: kernel width (default 0.001) and initial threshold (default 0.001). */
  readonly bandwidth?: number;
  readonly initThreshold?: number;
}

/** Options of a training run. */
export interface TrainOptions {
  /** Corpus spec (see data/corpus.ts). */
  readonly corpus: string;
  /**
   * Train from this on-disk activation store (see data/activationStore.ts),
   * or from one `.safetensors` file whose `acts` tensor holds rows [N, d_in]
   * (read in order, cycling), instead of running the model.
   */
  readonly activations?: string;
  /** Use rows in the order they come (no shuffle buffer sampling), e.g. to match another trainer row for row. */
  readonly inOrder?: boolean;
  /** Training tokens. */
  readonly tokens: number;
  /** Tokens per row (default 128). */
  readonly contextSize?: number;
  /** Tokens per step (default 4096). */
  readonly batchSize?: number;
  /** Shuffle buffer size in batches (default 8). */
  readonly bufferBatches?: number;
  /** Rows per forward pass (default 8). */
  readonly rowsPerPass?: number;
  /** Seed for initialization and sampling (default 0). */
  readonly seed?: number;
  /** Linear warm-up steps of the learning rate (default 0). */
  readonly lrWarmupSteps?: number;
  /** Steps over which the learning rate decays linearly to 0 at the end (default 0). */
  readonly lrDecaySteps?: number;
  /** Linear warm-up steps of the sparsity coefficient (default 0). */
  readonly sparsityWarmupSteps?: number;
  /** Global gradient-norm limit (default 1). */
  readonly maxGradNorm?: number;
  /** Tokens without firing after which a latent counts as dead (default 1,000,000). */
  readonly deadWindowTokens?: number;
  /** Folder for `checkpoint.safetensors`; none means no checkpoints. */
  readonly checkpointDir?: string;
  /** Tokens between checkpoints (default 1,000,000). */
  readonly checkpointEveryTokens?: number;
  /** JSON-lines metrics log file. */
  readonly metricsLog?: string;
  /** Steps between metrics-log lines (default 10). */
  readonly logEverySteps?: number;
  /** Called after every step with the latest metrics. */
  readonly onStep?: (m: StepMetrics) => void;
  /**
   * This run trains SAE number `unit` of a sweep whose hooks put this one's
   * hook at `hookIndex`: seeds are drawn as the whole sweep in one process
   * would draw them, so a sweep spread over workers one SAE per job gives the
   * same weights as training all of them together.
   */
  readonly sweepPosition?: { readonly unit: number; readonly hookIndex: number };
  /** Stops training at the next step boundary, after writing a checkpoint (when checkpointing). */
  readonly signal?: AbortSignal;
  /**
   * SAELens's `model_name` for the saved cfg: an HF hub id. Default: the id
   * the model was loaded by, its HF cache folder's, or its config's
   * `_name_or_path`; else the folder's base name, with a warning.
   */
  readonly modelName?: string;
  /** Told what the saved cfg could not say exactly (e.g. a model_name that is not a hub id). */
  readonly onWarning?: (message: string) => void;
}

/** Metrics of one SAE at one step. */
export interface SaeMetrics {
  /** Output folder, naming the SAE. */
  readonly out: string;
  readonly loss: number;
  /**
   * SAELens's training `mse_loss`: ‖x - x̂‖² summed over d_in, averaged over
   * the batch's tokens. Not `eval`'s `mse`, which averages over d_in too
   * (mseLoss = mse x d_in).
   */
  readonly mseLoss: number;
  /** Mean active latents per token. */
  readonly l0: number;
  /** 1 - Σ‖x - x̂‖² / Σ‖x - mean x‖² over the batch. */
  readonly explainedVariance: number;
  /** Fraction of latents dead (not fired within the dead window). */
  readonly deadFraction: number;
  /** Other loss terms (`l1`, `l0_penalty`, `aux`). */
  readonly terms: Readonly<Record<string, number>>;
  readonly lr: number;
  readonly gradNorm: number;
}

/** Progress after one step. */
export interface StepMetrics {
  readonly step: number;
  readonly tokens: number;
  readonly totalTokens: number;
  readonly tokensPerSecond: number;
  readonly saes: readonly SaeMetrics[];
}

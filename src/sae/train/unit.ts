/**
 * One SAE being trained: its config, step runner, dead-latent tracker, and
 * the per-step schedule and metrics. The trainer drives several at once.
 */
import type { RuntimeOptions } from '../../runtime/session.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { architecture } from '../architectures/registry.ts';
import { outWidth, type SaeConfig } from '../config.ts';
import { Sae } from '../sae.ts';
import { saveSae } from '../saelensFormat.ts';
import { DeadTracker } from './deadTracker.ts';
import type { SaeMetrics, SaeSpec, TrainOptions } from './options.ts';
import { initParams, toSaeWeights } from './params.ts';
import { learningRate, sparsityCoefficient } from './schedule.ts';
import { StepRunner } from './stepRunner.ts';

/** The sparsity coefficient: the spec's, else the architecture's default. */
function defaultCoef(spec: SaeSpec): number {
  return spec.sparsityCoef ?? architecture(spec.architecture).training.defaultCoef;
}

/** Training state of one SAE. */
export class TrainUnit {
  readonly runner: StepRunner;
  readonly tracker: DeadTracker;
  /** BatchTopK: running estimate of the inference threshold. */
  threshold?: number;

  /**
   * `streamKey`: the activation stream the unit steps on (its hook, or a
   * transcoder's input and output hooks).
   */
  constructor(readonly spec: SaeSpec, readonly cfg: SaeConfig, private readonly o: TrainOptions, seed: number, readonly streamKey: string = cfg.hookName, runtime: RuntimeOptions = {}) {
    const params = initParams(cfg, seed, 0.1, spec.initThreshold ?? 0.001);
    // A transcoder's decoder writes another space at its own scale: its rows are never held at unit norm
    // (sparsify normalizes decoders only when not transcoding, trainer.py).
    const unitNorm = (architecture(cfg.architecture).training.unitNormDecoder && cfg.hookNameOut === undefined) || spec.plainL1 === true;
    this.runner = new StepRunner(cfg, params, {
      plainL1: spec.plainL1 === true, unitNormDecoder: unitNorm, emitGrads: false,
      bandwidth: spec.bandwidth ?? 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8,
    }, runtime);
    this.tracker = new DeadTracker(cfg.dSae, o.deadWindowTokens ?? 1_000_000);
  }

  /** With `bDecInit` `mean` (topk's default), sets b_dec to the mean of the first batch (older SAELens's `b_dec_init_method: mean`); zeros stay otherwise. */
  initDecoderBias(x: Tensor<'float32'>): void {
    if (defaultBDecInit(this.spec) !== 'mean') return;
    const [n, d] = x.shape;
    const b = new Float32Array(d);
    for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) b[i] += x.data[r * d + i] / n;
    this.runner.params.b_dec = b;
  }

  /** One step on x [B, dIn] (a transcoder's target y [B, dOut]); returns its metrics. */
  async step(x: Tensor<'float32'>, step: number, totalSteps: number, y?: Tensor<'float32'>): Promise<SaeMetrics> {
    const o = this.o;
    const lr = learningRate(step, totalSteps, this.spec.lr ?? 3e-4, o.lrWarmupSteps ?? 0, o.lrDecaySteps ?? 0);
    const coef = sparsityCoefficient(step, defaultCoef(this.spec), o.sparsityWarmupSteps ?? 0);
    const B = x.shape[0];
    let aux: { dead: Float32Array; k: number; scale: number } | undefined;
    if (architecture(this.cfg.architecture).training.auxK) {
      const dead = this.tracker.deadCount();
      const auxK = this.spec.auxK ?? Math.floor(outWidth(this.cfg) / 2);
      if (dead > 0) aux = { dead: this.tracker.deadMask(), k: Math.min(auxK, dead), scale: (this.spec.auxCoef ?? 1 / 32) * Math.min(dead / auxK, 1) };
    }
    const r = await this.runner.step(x, { lr, sparsityCoef: coef, maxGradNorm: o.maxGradNorm ?? 1, aux }, y);
    if (r.indices) this.tracker.fromIndices(r.indices, undefined, B);
    else this.tracker.fromCounts(r.fired!, B);
    if (r.batchThreshold !== undefined) this.threshold = this.threshold === undefined ? r.batchThreshold : 0.99 * this.threshold + 0.01 * r.batchThreshold;
    const terms: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.losses)) if (k !== 'loss' && k !== 'mse') terms[k] = v;
    return {
      out: this.spec.out,
      loss: r.losses.loss,
      mseLoss: r.losses.mse,
      l0: r.l0,
      explainedVariance: 1 - (r.losses.mse * B) / Math.max(r.varX, 1e-12),
      deadFraction: this.tracker.deadCount() / this.cfg.dSae,
      terms,
      lr,
      gradNorm: r.gradNorm,
    };
  }

  /** The trained SAE, with the input scale folded into its weights, saved as its architecture says (BatchTopK as jumprelu). */
  toSae(scale: number, runtime: RuntimeOptions = {}): Sae {
    const saved = architecture(this.cfg.architecture).training.saved(this.cfg, this.runner.params, this.threshold);
    const cfg: SaeConfig = { ...this.cfg, normalizeActivations: 'none', architecture: saved.architecture };
    return new Sae(cfg, toSaeWeights(this.cfg, this.runner.params, scale, this.threshold), runtime, this.spec.out);
  }

  /** Saves the SAE (SAELens folder) with its training densities. */
  save(scale: number): Sae {
    const sae = this.toSae(scale);
    saveSae(sae, this.spec.out, {
      log10Density: this.tracker.log10Density(),
      extraMetadata: { saescope_trained_architecture: this.cfg.architecture, saescope_training_tokens: this.tracker.tokens },
    });
    return sae;
  }
}

/** How b_dec starts: as given, else as the architecture starts it (see sae/architectures/). */
export function defaultBDecInit(spec: SaeSpec): 'zeros' | 'mean' {
  return spec.bDecInit ?? architecture(spec.architecture).training.bDecInit;
}

/**
 * One SAE being trained: its config, step runner, dead-latent tracker, and
 * the per-step schedule and metrics. The trainer drives several at once.
 */
import type { RuntimeOptions } from '../../runtime/session.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import type { SaeConfig } from '../config.ts';
import { Sae } from '../sae.ts';
import { saveSae } from '../saelensFormat.ts';
import { DeadTracker } from './deadTracker.ts';
import type { SaeMetrics, SaeSpec, TrainOptions } from './options.ts';
import { initParams, toSaeWeights } from './params.ts';
import { learningRate, sparsityCoefficient } from './schedule.ts';
import { StepRunner } from './stepRunner.ts';

/** Defaults that depend on the architecture. */
function defaultCoef(spec: SaeSpec): number {
  return spec.sparsityCoef ?? (spec.architecture === 'jumprelu' ? 1e-3 : 5);
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
    const unitNorm = cfg.architecture === 'topk' || cfg.architecture === 'batchtopk' || spec.plainL1 === true;
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
    if (this.cfg.architecture === 'topk') {
      const dead = this.tracker.deadCount();
      const auxK = this.spec.auxK ?? Math.floor(this.cfg.dIn / 2);
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

  /** The trained SAE, with the input scale folded into its weights. */
  toSae(scale: number, runtime: RuntimeOptions = {}): Sae {
    const thresholdArch = this.cfg.architecture === 'batchtopk';
    const threshold = thresholdArch ? new Float32Array(this.cfg.dSae).fill(this.threshold ?? 0) : undefined;
    // BatchTopK infers with a threshold, so it is saved as SAELens's jumprelu.
    const cfg: SaeConfig = { ...this.cfg, normalizeActivations: 'none', architecture: thresholdArch ? 'jumprelu' : this.cfg.architecture };
    return new Sae(cfg, toSaeWeights(cfg, this.runner.params, scale, threshold), runtime, this.spec.out);
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

/**
 * How b_dec starts: as given, else `mean` for topk and batchtopk (their fixed
 * k spends no latents on the data's mean: explained variance 0.9105 against
 * 0.9005 from zero in the sae-quality bench, and far better in short runs)
 * and `zeros` for standard and jumprelu, as SAELens 6.18 does
 * (`saes/sae.py:337-341`): there the start moves the sparsity a given
 * coefficient buys (at L1 40, L0 389 from the mean against 101 from zero),
 * and coefficients from SAELens recipes should mean the same here.
 */
export function defaultBDecInit(spec: SaeSpec): 'zeros' | 'mean' {
  return spec.bDecInit ?? (spec.architecture === 'topk' || spec.architecture === 'batchtopk' ? 'mean' : 'zeros');
}

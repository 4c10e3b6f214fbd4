/**
 * SAE evaluation as SAELens's `run_evals` reports it: reconstruction
 * (explained variance, MSE, cosine), shrinkage (L2 norms and ratio),
 * sparsity (L0, L1, dead and dense latents, log10 density histogram), and
 * model behaviour with the SAE spliced in at its hook: CE loss against the
 * clean model and zero-ablation (CE loss recovered) and KL to the clean
 * next-token distribution. BOS positions keep their clean activation, as in
 * training (their activations are outliers the SAE does not model).
 */
import { activationRows } from './rows.ts';
import type { HookedModel } from '../../model/hookedModel.ts';
import type { Sae } from '../sae.ts';
import { klDivergence, logSoftmax } from './lossMath.ts';
import { checkSaeFitsModel } from '../compat.ts';
import { outWidth, writeHook } from '../config.ts';
import { gatherPositions } from '../../data/activationSource.ts';

/** Options of `evaluateSae`. */
export interface EvalOptions {
  readonly corpus: string;
  /** Tokens to evaluate on. */
  readonly tokens: number;
  /** Tokens per row (default: the SAE's context size). */
  readonly contextSize?: number;
  /** Rows per forward pass (default 8). */
  readonly rowsPerPass?: number;
  /** Skip this many packed rows first (held-out data after the training rows). */
  readonly skipRows?: number;
  /** Histogram bins of log10 density (default 20, from -10 to 0). */
  readonly histogramBins?: number;
}

/** Evaluation results, grouped with SAELens's metric names. */
export interface EvalResult {
  readonly model_behavior_preservation: { kl_div_score: number; kl_div_with_ablation: number; kl_div_with_sae: number };
  readonly model_performance_preservation: { ce_loss_score: number; ce_loss_with_ablation: number; ce_loss_with_sae: number; ce_loss_without_sae: number };
  readonly reconstruction_quality: { explained_variance: number; mse: number; cossim: number };
  readonly shrinkage: { l2_norm_in: number; l2_norm_out: number; l2_ratio: number };
  readonly sparsity: { l0: number; l1: number };
  readonly features: {
    dead: number; dead_fraction: number; dense: number; dense_fraction: number;
    log10_density_histogram: { edges: number[]; counts: number[] };
  };
  readonly tokens: number;
  /** Entropy (nats) of the unigram distribution of the evaluated next tokens: the loss of a model that only knows token frequencies. */
  readonly unigram_entropy: number;
  /** What makes the loss-based scores unreliable here, in words (empty when nothing does). */
  readonly warnings: readonly string[];
}

/** Entropy in nats of the distribution given by `counts`. */
export function unigramEntropy(counts: Iterable<number>): number {
  const c = [...counts].filter((x) => x > 0);
  const n = c.reduce((a, b) => a + b, 0);
  return n > 0 ? -c.reduce((a, k) => a + (k / n) * Math.log(k / n), 0) : 0;
}

/**
 * Why CE loss recovered may mislead: zero-ablation scoring better than the
 * clean model (the score's denominator is then negative or tiny), or a clean
 * loss above the unigram entropy (the model predicts worse than token
 * frequencies: a wrong model, tokenizer or text).
 */
export function evalWarnings(cleanCe: number, zeroCe: number, unigram: number): string[] {
  const out: string[] = [];
  if (zeroCe <= cleanCe) out.push(`zero-ablating the hook gives a loss (${zeroCe.toFixed(4)}) no higher than the clean model's (${cleanCe.toFixed(4)}): CE loss recovered (ce_loss_score) is meaningless here`);
  if (cleanCe > unigram) out.push(`the clean model's loss (${cleanCe.toFixed(4)}) is above the unigram entropy of these tokens (${unigram.toFixed(4)}): it predicts worse than token frequencies (wrong model, tokenizer or text?), so the loss-based scores say little`);
  return out;
}

/** Evaluates an SAE on a model over held-out corpus tokens. */
export async function evaluateSae(model: HookedModel, sae: Sae, o: EvalOptions): Promise<EvalResult> {
  checkSaeFitsModel(sae, model);
  const hook = model.resolveHooks([sae.cfg.hookName])[0].name;
  // A transcoder is judged where it writes: its output against the output hook's activations, spliced in there.
  const out = model.resolveHooks([writeHook(sae.cfg)])[0].name;
  const transcoder = out !== hook;
  const { dSae } = sae.cfg;
  const dIn = outWidth(sae.cfg);
  const V = model.spec.dVocab;
  const acc = { n: 0, sqErr: 0, sumSq: 0, cos: 0, l0: 0, l1: 0, normIn: 0, normOut: 0, ratio: 0 };
  const sumX = new Float64Array(dIn);
  const fires = new Float64Array(dSae);
  const ce = { clean: 0, sae: 0, zero: 0, klSae: 0, klZero: 0, n: 0 };
  const lp = [new Float64Array(V), new Float64Array(V), new Float64Array(V)];
  const targets = new Float64Array(V);
  for await (const batch of activationRows(model, { ...o, contextSize: o.contextSize ?? sae.cfg.contextSize, hook, alsoCache: transcoder ? [out] : [] })) {
    const { rows, clean, keep } = batch;
    const x = { dtype: 'float32' as const, shape: [keep.length, sae.cfg.dIn], data: batch.acts };
    const acts = transcoder ? gatherPositions(clean.cache[out], keep) : batch.acts;
    const f = await sae.forward(x, transcoder ? { dtype: 'float32', shape: [keep.length, dIn], data: acts } : undefined);
    for (let r = 0; r < keep.length; r++) {
      let err = 0, xx = 0, yy = 0, xy = 0;
      for (let i = 0; i < dIn; i++) {
        const a = acts[r * dIn + i];
        const b = f.recon.data[r * dIn + i];
        err += (a - b) ** 2;
        xx += a * a;
        yy += b * b;
        xy += a * b;
        sumX[i] += a;
      }
      acc.sqErr += err;
      acc.sumSq += xx;
      acc.cos += xy / Math.max(Math.sqrt(xx * yy), 1e-12);
      acc.normIn += Math.sqrt(xx);
      acc.normOut += Math.sqrt(yy);
      acc.ratio += Math.sqrt(yy) / Math.max(Math.sqrt(xx), 1e-12);
      for (let p = f.codes.offsets[r]; p < f.codes.offsets[r + 1]; p++) {
        fires[f.codes.indices[p]]++;
        acc.l1 += f.codes.values[p];
      }
      acc.l0 += f.codes.offsets[r + 1] - f.codes.offsets[r];
    }
    acc.n += keep.length;
    const full = clean.cache[out];
    const spliced = Float32Array.from(full.data);
    const zeroed = Float32Array.from(full.data);
    keep.forEach((pos, r) => {
      spliced.set(f.recon.data.subarray(r * dIn, (r + 1) * dIn), pos * dIn);
      zeroed.fill(0, pos * dIn, (pos + 1) * dIn);
    });
    const withSae = await model.run(rows, { interventions: [{ kind: 'replace', hook: out, value: { ...full, data: spliced } }] });
    const withZero = await model.run(rows, { interventions: [{ kind: 'replace', hook: out, value: { ...full, data: zeroed } }] });
    const T = rows[0].length;
    for (let b = 0; b < rows.length; b++) {
      for (let t = 0; t + 1 < T; t++) {
        const at = (b * T + t) * V;
        const target = rows[b][t + 1];
        logSoftmax(clean.logits!.data.subarray(at, at + V), lp[0]);
        logSoftmax(withSae.logits!.data.subarray(at, at + V), lp[1]);
        logSoftmax(withZero.logits!.data.subarray(at, at + V), lp[2]);
        targets[target]++;
        ce.clean -= lp[0][target];
        ce.sae -= lp[1][target];
        ce.zero -= lp[2][target];
        ce.klSae += klDivergence(lp[0], lp[1]);
        ce.klZero += klDivergence(lp[0], lp[2]);
        ce.n++;
      }
    }
  }
  if (acc.n === 0) throw new Error(`evaluation read no tokens from '${typeof o.corpus === 'string' ? o.corpus : 'the given texts'}': the corpus is shorter than one row of ${o.contextSize ?? sae.cfg.contextSize} tokens (the context size); give more text or a smaller context size`);
  let meanSq = 0;
  for (let i = 0; i < dIn; i++) meanSq += (sumX[i] / acc.n) ** 2;
  const variance = acc.sumSq - acc.n * meanSq;
  const density = Array.from(fires, (c) => c / acc.n);
  const dead = density.filter((d) => d === 0).length;
  const dense = density.filter((d) => d > 0.1).length;
  const n = ce.n;
  const [cleanCe, saeCe, zeroCe] = [ce.clean / n, ce.sae / n, ce.zero / n];
  return {
    model_behavior_preservation: { kl_div_score: 1 - ce.klSae / Math.max(ce.klZero, 1e-12), kl_div_with_ablation: ce.klZero / n, kl_div_with_sae: ce.klSae / n },
    model_performance_preservation: { ce_loss_score: (zeroCe - saeCe) / (zeroCe - cleanCe), ce_loss_with_ablation: zeroCe, ce_loss_with_sae: saeCe, ce_loss_without_sae: cleanCe },
    reconstruction_quality: { explained_variance: 1 - acc.sqErr / variance, mse: acc.sqErr / (acc.n * dIn), cossim: acc.cos / acc.n },
    shrinkage: { l2_norm_in: acc.normIn / acc.n, l2_norm_out: acc.normOut / acc.n, l2_ratio: acc.ratio / acc.n },
    sparsity: { l0: acc.l0 / acc.n, l1: acc.l1 / acc.n },
    features: { dead, dead_fraction: dead / dSae, dense, dense_fraction: dense / dSae, log10_density_histogram: histogram(density, o.histogramBins ?? 20) },
    tokens: acc.n,
    unigram_entropy: unigramEntropy(targets),
    warnings: evalWarnings(cleanCe, zeroCe, unigramEntropy(targets)),
  };
}

/** Histogram of log10 density over [-10, 0]; never-firing latents land in the first bin. */
function histogram(density: number[], bins: number): { edges: number[]; counts: number[] } {
  const edges = Array.from({ length: bins + 1 }, (_, i) => -10 + (10 * i) / bins);
  const counts = new Array<number>(bins).fill(0);
  for (const d of density) {
    const l = Math.log10(d + 1e-10);
    counts[Math.min(bins - 1, Math.max(0, Math.floor(((l + 10) / 10) * bins)))]++;
  }
  return { edges, counts };
}

/**
 * The dictionary-size ladder: one SAE per width trained in one pass over the
 * same activations, each measured on held-out rows (explained variance, CE
 * loss recovered, description length) and against its neighbours (mean max
 * cosine similarity of decoder rows, MMCS). After Anthropic's dictionary
 * learning notes: the description length "bounces" (is lowest) and the MMCS
 * between consecutive sizes peaks where the width matches the number of true
 * factors. A bounce is reported only when it stands out of the noise: the
 * held-out rows are resampled by block (documents, or runs of rows), every
 * width on the same resample, and the lowest width's description length must
 * be below both neighbours' in 97.5% of resamples (a one-sided 95% interval
 * of each difference below zero); the MMCS peak likewise, resampling latents.
 */
import * as path from 'node:path';
import { crossNearest } from '../weightEffects.ts';
import type { HookedModel } from '../../model/hookedModel.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import type { SaeArchitecture } from '../../sae/config.ts';
import { activationRows } from '../../sae/eval/rows.ts';
import { evaluateSae } from '../../sae/eval/evaluate.ts';
import type { Sae } from '../../sae/sae.ts';
import type { SaeSpec, TrainOptions } from '../../sae/train/options.ts';
import { trainSaes, trainSaesOnRows } from '../../sae/train/trainer.ts';
import { DescriptionLengthMeter, type DescriptionLength } from './descriptionLength.ts';
import { Rng } from '../../tensor/random.ts';
import { needsK } from '../../sae/architectures/registry.ts';

/** One width of the ladder. */
export interface LadderRung {
  /** Latents (d_sae). */
  readonly width: number;
  /** Where the SAE was saved. */
  readonly dir: string;
  /** Held-out explained variance. */
  readonly explained_variance: number;
  /** Held-out CE loss recovered (SAELens's ce_loss_score); null without a model. */
  readonly ce_loss_score: number | null;
  /** Mean active latents per held-out token. */
  readonly l0: number;
  /** Fraction of latents that never fired on the held-out rows. */
  readonly dead_fraction: number;
  /** Description length on the held-out rows. */
  readonly description_length: DescriptionLength;
  /** Mean over this SAE's latents of the largest decoder cosine to the next smaller width's; null for the smallest. */
  readonly mmcs_smaller: number | null;
  /** Mean over this SAE's latents of the largest decoder cosine to the next larger width's; null for the largest. */
  readonly mmcs_larger: number | null;
}

/** The whole ladder. */
export interface Ladder {
  readonly hook: string;
  readonly architecture: SaeArchitecture;
  readonly k: number | null;
  readonly train_tokens: number;
  readonly eval_tokens: number;
  /** δ relative to RMS(x) in the description length. */
  readonly precision: number;
  readonly rungs: readonly LadderRung[];
  /** Widths where the curves bounce: the interior minimum of the description length, the interior peak of mmcs_larger; null where there is none that stands out of the noise. */
  readonly bounce: { readonly description_length: number | null; readonly mmcs: number | null };
  /** The bootstrap behind each bounce: the extreme width, its 95% interval, and the intervals of its differences from both neighbours. */
  readonly bounce_evidence: { readonly description_length: BounceEvidence | null; readonly mmcs: BounceEvidence | null };
}

/** Bootstrap evidence for (or against) a bounce at one width. */
export interface BounceEvidence {
  /** The width where the curve is lowest (description length) or highest (MMCS), interior or not. */
  readonly width: number;
  /** The curve's value there and its 95% bootstrap interval. */
  readonly value: number;
  readonly interval: readonly [number, number];
  /** 95% intervals of (value there - value at the next smaller width) and (value there - value at the next larger width); null at an end. */
  readonly vs_smaller: readonly [number, number] | null;
  readonly vs_larger: readonly [number, number] | null;
  /** Whether both differences exclude zero in the bounce's direction (and the width is interior). */
  readonly significant: boolean;
  readonly resamples: number;
  /** Blocks the held-out rows were resampled by (description length), or latents (MMCS). */
  readonly units: number;
}

/** What every ladder takes. */
export interface LadderOptions {
  readonly widths: readonly number[];
  readonly architecture: SaeArchitecture;
  /** Active latents (topk, batchtopk). */
  readonly k?: number;
  /** Training tokens (every width sees the same ones). */
  readonly tokens: number;
  /** Held-out tokens to measure on. */
  readonly evalTokens: number;
  /** Folder under which each width is saved as `width-<n>`. */
  readonly out: string;
  /** δ relative to RMS(x) (default 1/64). */
  readonly precision?: number;
  /** Bootstrap resamples for the bounce (default 400) and blocks the held-out rows are grouped into (default 32). */
  readonly resamples?: number;
  readonly blocks?: number;
  /** Training options shared by every width (learning rate, batch size, seed, ...). */
  readonly train?: Partial<Omit<TrainOptions, 'tokens' | 'corpus' | 'activations'>>;
  readonly lr?: number;
  readonly sparsityCoef?: number;
}

/** Checks that widths are positive integers, strictly increasing, at least two of them. */
export function checkWidths(widths: readonly number[], k?: number): void {
  if (widths.length < 2) throw new Error(`a ladder needs at least two widths, got ${widths.length}`);
  widths.forEach((w, i) => {
    if (!Number.isInteger(w) || w < 1) throw new Error(`width ${i + 1} must be a positive integer, got ${w}`);
    if (i > 0 && w <= widths[i - 1]) throw new Error(`widths must be strictly increasing: ${widths[i - 1]} then ${w}`);
  });
  if (k !== undefined && k > widths[0]) throw new Error(`k ${k} is larger than the smallest width ${widths[0]}`);
}

function specsFor(hook: string, o: LadderOptions): SaeSpec[] {
  checkWidths(o.widths, needsK(o.architecture) ? o.k : undefined);
  return o.widths.map((w) => ({ hook, architecture: o.architecture, dSae: w, k: o.k, lr: o.lr, sparsityCoef: o.sparsityCoef, out: path.join(o.out, `width-${w}`) }));
}

/**
 * Trains the ladder on `model`'s activations at `hook` from `corpus` and
 * measures it on held-out text: `evalCorpus`, or the same corpus after the
 * rows training read.
 */
export async function modelLadder(model: HookedModel, hook: string, o: LadderOptions & { readonly corpus: string; readonly evalCorpus?: string }): Promise<Ladder> {
  const name = model.resolveHooks([hook])[0].name;
  const specs = specsFor(name, o);
  const trained = await trainSaes(model, specs, { ...o.train, corpus: o.corpus, tokens: o.tokens });
  const held = { corpus: o.evalCorpus ?? o.corpus, skipRows: o.evalCorpus ? 0 : trained.rowsConsumed, tokens: o.evalTokens };
  const saes = trained.saes;
  const meters = saes.map((s) => new DescriptionLengthMeter(s, o.blocks ?? 32));
  // Each held-out context row (a document or a piece of one) goes to one block.
  let rowsSeen = 0;
  for await (const b of activationRows(model, { ...held, hook: name, contextSize: saes[0].cfg.contextSize })) {
    const T = b.rows[0].length;
    const x = { dtype: 'float32' as const, shape: [b.keep.length, saes[0].cfg.dIn], data: b.acts };
    const blockOf = (r: number) => rowsSeen + Math.floor(b.keep[r] / T);
    for (let i = 0; i < saes.length; i++) meters[i].add(b.acts, await saes[i].forward(x), blockOf);
    rowsSeen += b.rows.length;
  }
  const ce: number[] = [];
  for (const s of saes) ce.push((await evaluateSae(model, s, held)).model_performance_preservation.ce_loss_score);
  return finish(name, o, saes, meters, ce);
}

/** Trains and measures the ladder on rows already in memory (`train` and `heldOut`, each [N, d_in]). */
export async function rowsLadder(train: Tensor<'float32'>, heldOut: Tensor<'float32'>, o: LadderOptions & { readonly hook?: string }): Promise<Ladder> {
  const hook = o.hook ?? 'rows';
  const specs = specsFor(hook, o);
  if (heldOut.shape.length !== 2 || heldOut.shape[1] !== train.shape[1]) throw new Error(`held-out rows must be [N, ${train.shape[1]}], got [${heldOut.shape.join(', ')}]`);
  const { saes } = await trainSaesOnRows(train, specs, { ...o.train, tokens: o.tokens });
  const meters = saes.map((s) => new DescriptionLengthMeter(s, o.blocks ?? 32));
  const d = train.shape[1];
  for (let i = 0; i < saes.length; i++) {
    for (let a = 0; a < Math.min(heldOut.shape[0], o.evalTokens); a += 4096) {
      const n = Math.min(4096, heldOut.shape[0] - a, o.evalTokens - a);
      const data = heldOut.data.subarray(a * d, (a + n) * d);
      // Runs of 32 rows form the blocks the bootstrap resamples.
      meters[i].add(data, await saes[i].forward({ dtype: 'float32', shape: [n, d], data }), (r) => Math.floor((a + r) / 32));
    }
  }
  return finish(hook, o, saes, meters, saes.map(() => null));
}

/** Measures every rung (`ce`: CE loss recovered per width, null without a model) and finds the bounce. */
async function finish(hook: string, o: LadderOptions, saes: readonly Sae[], meters: readonly DescriptionLengthMeter[], ce: readonly (number | null)[]): Promise<Ladder> {
  /** Each latent's largest decoder cosine to b's. */
  const maxCos = async (a: Sae, b: Sae) => (await crossNearest(a, b, 1)).map((r) => r.values[0]);
  const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const rungs: LadderRung[] = [];
  const larger: number[][] = [];
  for (let i = 0; i < saes.length; i++) {
    const dl = meters[i].result({ datasetTokens: o.tokens, precision: o.precision });
    const up = i + 1 < saes.length ? await maxCos(saes[i], saes[i + 1]) : null;
    if (up) larger.push(up);
    rungs.push({
      width: o.widths[i], dir: path.join(o.out, `width-${o.widths[i]}`), explained_variance: dl.explained_variance, ce_loss_score: ce[i],
      l0: dl.l0, dead_fraction: dl.dead_fraction, description_length: dl,
      mmcs_smaller: i > 0 ? mean(await maxCos(saes[i], saes[i - 1])) : null,
      mmcs_larger: up ? mean(up) : null,
    });
  }
  for (const s of saes) await s.dispose();
  const R = o.resamples ?? 400;
  const rng = new Rng(o.train?.seed ?? 0);
  // Description length: every width on the same resample of blocks.
  const B = meters[0].blocks;
  const dlSamples = Array.from({ length: R }, () => {
    const w = new Float64Array(B);
    for (let k = 0; k < B; k++) w[rng.int(B)]++;
    return meters.map((m) => m.result({ datasetTokens: o.tokens, precision: o.precision }, w).bits_per_token);
  });
  const dlEvidence = bounceEvidence(rungs.map((r) => r.description_length.bits_per_token), dlSamples, -1, o.widths, B);
  // MMCS: each rung's latents resampled.
  const mmcsSamples = Array.from({ length: R }, () => larger.map((c) => {
    let s = 0;
    for (let k = 0; k < c.length; k++) s += c[rng.int(c.length)];
    return s / c.length;
  }));
  const mmcsEvidence = larger.length ? bounceEvidence(larger.map(mean), mmcsSamples, 1, o.widths, larger[0].length) : null;
  return {
    hook, architecture: o.architecture, k: o.k ?? null, train_tokens: o.tokens, eval_tokens: rungs[0].description_length.tokens, precision: o.precision ?? 1 / 64, rungs,
    bounce: { description_length: dlEvidence.significant ? dlEvidence.width : null, mmcs: mmcsEvidence?.significant ? mmcsEvidence.width : null },
    bounce_evidence: { description_length: dlEvidence, mmcs: mmcsEvidence },
  };
}

/** The q-quantile of xs (linear interpolation). */
function quantile(xs: readonly number[], q: number): number {
  const v = [...xs].sort((a, b) => a - b);
  const p = q * (v.length - 1);
  const lo = Math.floor(p);
  return v[lo] + (p - lo) * ((v[Math.min(lo + 1, v.length - 1)] ?? v[lo]) - v[lo]);
}

/**
 * Bootstrap evidence for a bounce at the curve's extreme (sign -1: lowest,
 * 1: highest): `samples[r][i]` is the curve at point i on resample r.
 */
export function bounceEvidence(point: readonly number[], samples: readonly (readonly number[])[], sign: 1 | -1, widths: readonly number[], units: number): BounceEvidence {
  let best = 0;
  point.forEach((y, i) => { if (sign * y > sign * point[best]) best = i; });
  const interval = (f: (s: readonly number[]) => number) => {
    const xs = samples.map(f);
    return [quantile(xs, 0.025), quantile(xs, 0.975)] as const;
  };
  const vsSmaller = best > 0 ? interval((s) => s[best] - s[best - 1]) : null;
  const vsLarger = best + 1 < point.length ? interval((s) => s[best] - s[best + 1]) : null;
  // Lowest: both differences below zero in 97.5% of resamples; highest: above zero.
  const clear = (iv: readonly [number, number] | null) => iv !== null && (sign < 0 ? iv[1] < 0 : iv[0] > 0);
  return {
    width: widths[best], value: point[best], interval: interval((s) => s[best]), vs_smaller: vsSmaller, vs_larger: vsLarger,
    significant: clear(vsSmaller) && clear(vsLarger), resamples: samples.length, units,
  };
}

/** The ladder as CSV, a row per width. */
export function ladderCsv(l: Ladder): string {
  const head = ['width', 'explained_variance', 'ce_loss_score', 'l0', 'dead_fraction', 'bits_per_token', 'bits_support', 'bits_values', 'bits_residual', 'bits_dictionary', 'mmcs_smaller', 'mmcs_larger'];
  const num = (v: number | null) => (v === null ? '' : String(Number(v.toPrecision(6))));
  const rows = l.rungs.map((r) => {
    const d = r.description_length;
    return [String(r.width), ...[r.explained_variance, r.ce_loss_score, r.l0, r.dead_fraction, d.bits_per_token, d.bits_support, d.bits_values, d.bits_residual, d.bits_dictionary, r.mmcs_smaller, r.mmcs_larger].map(num)].join(',');
  });
  return [head.join(','), ...rows].join('\n') + '\n';
}

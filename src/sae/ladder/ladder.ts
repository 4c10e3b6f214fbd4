/**
 * The dictionary-size ladder: one SAE per width trained in one pass over the
 * same activations, each measured on held-out rows (explained variance, CE
 * loss recovered, description length) and against its neighbours (mean max
 * cosine similarity of decoder rows, MMCS). After Anthropic's dictionary
 * learning notes: the description length "bounces" (is lowest) and the MMCS
 * between consecutive sizes peaks where the width matches the number of true
 * factors.
 */
import * as path from 'node:path';
import { crossNearest } from '../../analysis/weightEffects.ts';
import type { HookedModel } from '../../model/hookedModel.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import type { SaeArchitecture } from '../config.ts';
import { activationRows } from '../eval/rows.ts';
import { evaluateSae } from '../eval/evaluate.ts';
import type { Sae } from '../sae.ts';
import type { SaeSpec, TrainOptions } from '../train/options.ts';
import { trainSaes, trainSaesOnRows } from '../train/trainer.ts';
import { DescriptionLengthMeter, type DescriptionLength } from './descriptionLength.ts';

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
  /** Widths where the curves bounce: the interior minimum of the description length, the interior peak of mmcs_larger (null where the curve has none). */
  readonly bounce: { readonly description_length: number | null; readonly mmcs: number | null };
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
  checkWidths(o.widths, o.architecture === 'topk' || o.architecture === 'batchtopk' ? o.k : undefined);
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
  const meters = saes.map((s) => new DescriptionLengthMeter(s));
  for await (const b of activationRows(model, { ...held, hook: name, contextSize: saes[0].cfg.contextSize })) {
    const x = { dtype: 'float32' as const, shape: [b.keep.length, saes[0].cfg.dIn], data: b.acts };
    for (let i = 0; i < saes.length; i++) meters[i].add(b.acts, await saes[i].forward(x));
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
  const meters = saes.map((s) => new DescriptionLengthMeter(s));
  const d = train.shape[1];
  for (let i = 0; i < saes.length; i++) {
    for (let a = 0; a < Math.min(heldOut.shape[0], o.evalTokens); a += 4096) {
      const n = Math.min(4096, heldOut.shape[0] - a, o.evalTokens - a);
      const data = heldOut.data.subarray(a * d, (a + n) * d);
      meters[i].add(data, await saes[i].forward({ dtype: 'float32', shape: [n, d], data }));
    }
  }
  return finish(hook, o, saes, meters, saes.map(() => null));
}

/** Measures every rung (`ce`: CE loss recovered per width, null without a model) and finds the bounce. */
async function finish(hook: string, o: LadderOptions, saes: readonly Sae[], meters: readonly DescriptionLengthMeter[], ce: readonly (number | null)[]): Promise<Ladder> {
  const mmcs = async (a: Sae, b: Sae) => {
    const best = await crossNearest(a, b, 1);
    return best.reduce((s, r) => s + r.values[0], 0) / best.length;
  };
  const rungs: LadderRung[] = [];
  for (let i = 0; i < saes.length; i++) {
    const dl = meters[i].result({ datasetTokens: o.tokens, precision: o.precision });
    rungs.push({
      width: o.widths[i], dir: path.join(o.out, `width-${o.widths[i]}`), explained_variance: dl.explained_variance, ce_loss_score: ce[i],
      l0: dl.l0, dead_fraction: dl.dead_fraction, description_length: dl,
      mmcs_smaller: i > 0 ? await mmcs(saes[i], saes[i - 1]) : null,
      mmcs_larger: i + 1 < saes.length ? await mmcs(saes[i], saes[i + 1]) : null,
    });
  }
  for (const s of saes) await s.dispose();
  const dl = rungs.map((r) => r.description_length.bits_per_token);
  const peak = rungs.slice(0, -1).map((r) => r.mmcs_larger!);
  return {
    hook, architecture: o.architecture, k: o.k ?? null, train_tokens: o.tokens, eval_tokens: rungs[0].description_length.tokens, precision: o.precision ?? 1 / 64, rungs,
    bounce: { description_length: interiorExtreme(dl, -1, o.widths), mmcs: interiorExtreme(peak, 1, o.widths) },
  };
}

/** The width at the curve's best point (sign -1: lowest, 1: highest) when it is not an end of the curve. */
function interiorExtreme(ys: readonly number[], sign: 1 | -1, widths: readonly number[]): number | null {
  if (ys.length < 3) return null;
  let best = 0;
  ys.forEach((y, i) => { if (sign * y > sign * ys[best]) best = i; });
  return best > 0 && best < ys.length - 1 ? widths[best] : null;
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

/**
 * Conditional activation distributions, after the feature browser of
 * Anthropic's "Towards Monosemanticity" (2023): for each activation interval,
 * which tokens account for the firings there, or which firings match the
 * feature's explanation, with the log-likelihood ratio of a match in that
 * interval against the feature being off.
 *
 * The intervals are the scan's quantile bins: each keeps its firing count and
 * uniform samples of its firings (reservoirs: by default 32 firing tokens, and
 * a few examples with context), so a sample stands for count / samples
 * firings of its bin. The stacks are estimates from those samples, exact in
 * the bins' totals; every bin carries its sample size, and bins with fewer
 * samples than `minSamples` (and fewer than their firings) are marked.
 */
import type { ExampleView, FeatureDashboard } from './dashboard.ts';

/** A stacked histogram of a feature's firings over activation intervals. */
export interface ConditionalHistogram {
  /** What the stacks are: the firing token, or whether the context matches the explanation. */
  readonly by: 'token' | 'explanation';
  /** Activation intervals, low to high, with their firing counts, the samples the stacks come from, and whether those are too few to read. */
  readonly bins: readonly { readonly lo: number; readonly hi: number; readonly count: number; readonly sampled: number; readonly lowSample: boolean }[];
  /** The sample size below which a bin is marked. */
  readonly minSamples: number;
  /** One stack per label (tokens by overall weight, then `other`), estimated firings per bin. */
  readonly series: readonly { readonly label: string; readonly counts: readonly number[] }[];
  /**
   * With `by: 'explanation'`: per bin, log(P(match | bin) / P(match | off)),
   * add-one smoothed; the feature's off rate comes from its non-activating
   * contexts. Null per bin without samples; absent for tokens.
   */
  readonly logLikelihoodRatio?: readonly (number | null)[];
}

/** The token at an example's firing position. */
export function firingToken(e: ExampleView): string {
  return e.tokens[e.focus] ?? '';
}

/** An example's identity in a scan (its row and position). */
export function exampleKey(e: { readonly row: number; readonly pos: number }): string {
  return `${e.row}:${e.pos}`;
}

/** Default sample size under which an interval is marked as too few to read. */
export const MIN_SAMPLES = 32;

/**
 * The firings stacked by the token they fire on: the `topTokens` heaviest
 * tokens, then `other`. Uses each interval's token sample (32 by default);
 * dashboards without one fall back to the context examples.
 */
export function conditionalByToken(d: FeatureDashboard, topTokens = 6, minSamples = MIN_SAMPLES): ConditionalHistogram {
  const samples = d.quantiles.map((q) => (q.tokens ? q.tokens.map((t) => t.token) : q.examples.map(firingToken)));
  const weight = new Map<string, number>();
  d.quantiles.forEach((q, b) => {
    for (const t of samples[b]) weight.set(t, (weight.get(t) ?? 0) + q.count / samples[b].length);
  });
  const top = [...weight.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, topTokens).map(([t]) => t);
  const labels = [...top, 'other'];
  const series = labels.map((label) => ({ label, counts: new Array<number>(d.quantiles.length).fill(0) }));
  d.quantiles.forEach((q, b) => {
    for (const t of samples[b]) series[labels.indexOf(top.includes(t) ? t : 'other')].counts[b] += q.count / samples[b].length;
  });
  return { by: 'token', bins: binsOf(d, samples.map((x) => x.length), minSamples), minSamples, series };
}

/**
 * The firings stacked by whether their context matches the explanation:
 * `matches` holds a judgement per example key (examples without one count
 * as unjudged); `offMatched` / `offTotal` are the judgements of contexts
 * where the feature is off.
 */
export function conditionalByExplanation(d: FeatureDashboard, matches: ReadonlyMap<string, boolean>, offMatched: number, offTotal: number, minSamples = MIN_SAMPLES): ConditionalHistogram {
  const label = (e: ExampleView) => {
    const m = matches.get(exampleKey(e));
    return m === undefined ? 'unjudged' : m ? 'matches explanation' : 'does not match';
  };
  const series = stack(d, ['matches explanation', 'does not match', 'unjudged'], label).filter((s) => s.label !== 'unjudged' || s.counts.some((c) => c > 0));
  const pOff = (offMatched + 1) / (offTotal + 2);
  const llr = d.quantiles.map((q) => {
    const judged = q.examples.filter((e) => matches.has(exampleKey(e)));
    if (!judged.length) return null;
    const pOn = (judged.filter((e) => matches.get(exampleKey(e))).length + 1) / (judged.length + 2);
    return Math.log(pOn / pOff);
  });
  const judgedPerBin = d.quantiles.map((q) => q.examples.filter((e) => matches.has(exampleKey(e))).length);
  return { by: 'explanation', bins: binsOf(d, judgedPerBin, minSamples), minSamples, series, logLikelihoodRatio: llr };
}

function binsOf(d: FeatureDashboard, sampled: readonly number[], minSamples: number): ConditionalHistogram['bins'] {
  return d.quantiles.map((q, b) => ({ lo: q.lo, hi: q.hi, count: q.count, sampled: sampled[b], lowSample: sampled[b] < minSamples && sampled[b] < q.count }));
}

/** Estimated firings per (label, bin): each sample weighs its bin's count over its bin's samples. */
function stack(d: FeatureDashboard, labels: readonly string[], labelOf: (e: ExampleView) => string): { label: string; counts: number[] }[] {
  const out = labels.map((label) => ({ label, counts: new Array<number>(d.quantiles.length).fill(0) }));
  d.quantiles.forEach((q, b) => {
    for (const e of q.examples) out[labels.indexOf(labelOf(e))].counts[b] += q.count / q.examples.length;
  });
  return out;
}

/** A conditional histogram as CSV: a row per bin, a column per stack (and the LLR). */
export function conditionalCsv(c: ConditionalHistogram): string {
  const q = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const head = ['lo', 'hi', 'count', 'sampled', 'low_sample', ...c.series.map((s) => q(s.label)), ...(c.logLikelihoodRatio ? ['log_likelihood_ratio'] : [])];
  const rows = c.bins.map((b, i) => [b.lo, b.hi, b.count, b.sampled, b.lowSample ? 1 : 0, ...c.series.map((s) => Number(s.counts[i].toPrecision(6))), ...(c.logLikelihoodRatio ? [c.logLikelihoodRatio[i] ?? ''] : [])].join(','));
  return [head.join(','), ...rows].join('\n') + '\n';
}

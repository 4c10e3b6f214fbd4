/**
 * Conditional activation distributions, after the feature browser of
 * Anthropic's "Towards Monosemanticity" (2023): for each activation interval,
 * which tokens account for the firings there, or which firings match the
 * feature's explanation, with the log-likelihood ratio of a match in that
 * interval against the feature being off.
 *
 * The intervals are the scan's quantile bins: each keeps its firing count and
 * a uniform sample of its firings (reservoir), so a sampled example stands for
 * count / samples firings of its bin. The stacks are estimates from those
 * samples, exact in the bins' totals.
 */
import type { ExampleView, FeatureDashboard } from './dashboard.ts';

/** A stacked histogram of a feature's firings over activation intervals. */
export interface ConditionalHistogram {
  /** What the stacks are: the firing token, or whether the context matches the explanation. */
  readonly by: 'token' | 'explanation';
  /** Activation intervals, low to high, with their firing counts. */
  readonly bins: readonly { readonly lo: number; readonly hi: number; readonly count: number; readonly sampled: number }[];
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

/** The firings stacked by the token they fire on: the `topTokens` heaviest tokens, then `other`. */
export function conditionalByToken(d: FeatureDashboard, topTokens = 6): ConditionalHistogram {
  const weight = new Map<string, number>();
  for (const q of d.quantiles) for (const e of q.examples) weight.set(firingToken(e), (weight.get(firingToken(e)) ?? 0) + q.count / q.examples.length);
  const top = [...weight.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, topTokens).map(([t]) => t);
  const label = (e: ExampleView) => (top.includes(firingToken(e)) ? firingToken(e) : 'other');
  return { by: 'token', bins: binsOf(d), series: stack(d, [...top, 'other'], label) };
}

/**
 * The firings stacked by whether their context matches the explanation:
 * `matches` holds a judgement per example key (examples without one count
 * as unjudged); `offMatched` / `offTotal` are the judgements of contexts
 * where the feature is off.
 */
export function conditionalByExplanation(d: FeatureDashboard, matches: ReadonlyMap<string, boolean>, offMatched: number, offTotal: number): ConditionalHistogram {
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
  return { by: 'explanation', bins: binsOf(d), series, logLikelihoodRatio: llr };
}

function binsOf(d: FeatureDashboard): ConditionalHistogram['bins'] {
  return d.quantiles.map((q) => ({ lo: q.lo, hi: q.hi, count: q.count, sampled: q.examples.length }));
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
  const head = ['lo', 'hi', 'count', 'sampled', ...c.series.map((s) => q(s.label)), ...(c.logLikelihoodRatio ? ['log_likelihood_ratio'] : [])];
  const rows = c.bins.map((b, i) => [b.lo, b.hi, b.count, b.sampled, ...c.series.map((s) => Number(s.counts[i].toPrecision(6))), ...(c.logLikelihoodRatio ? [c.logLikelihoodRatio[i] ?? ''] : [])].join(','));
  return [head.join(','), ...rows].join('\n') + '\n';
}

/**
 * A heuristic namer for when no LLM endpoint is set: the most common
 * activating tokens of the top examples and the token before them. Always
 * stored and shown as a heuristic, never as an LLM explanation.
 */
import type { FeatureDashboard } from '../analysis/dashboard.ts';

/** A name like `"cat" (often after "the")`, or undefined when the feature never fired. */
export function heuristicName(d: FeatureDashboard): string | undefined {
  if (!d.top.length) return undefined;
  const focus = new Map<string, number>();
  const before = new Map<string, number>();
  for (const e of d.top) {
    const t = e.tokens[e.focus].trim() || e.tokens[e.focus];
    focus.set(t, (focus.get(t) ?? 0) + 1);
    if (e.focus > 0) {
      const p = e.tokens[e.focus - 1].trim() || e.tokens[e.focus - 1];
      before.set(`${p} ${t}`, (before.get(`${p} ${t}`) ?? 0) + 1);
    }
  }
  const top = [...focus].sort((a, b) => b[1] - a[1]);
  const share = top[0][1] / d.top.length;
  const words = top.slice(0, 3).map(([t]) => JSON.stringify(t)).join(', ');
  const bigram = [...before].sort((a, b) => b[1] - a[1])[0];
  const context = bigram && bigram[1] / d.top.length >= 0.4 ? ` (often in ${JSON.stringify(bigram[0])})` : '';
  return share >= 0.6 ? `${JSON.stringify(top[0][0])}${context}` : `tokens like ${words}${context}`;
}

/** Heuristic names of every feature that fired in a scan's dashboards. */
export function heuristicNames(dashboards: ReadonlyMap<number, FeatureDashboard>): Map<number, string> {
  const out = new Map<number, string>();
  for (const [f, d] of dashboards) {
    const n = heuristicName(d);
    if (n) out.set(f, n);
  }
  return out;
}

/**
 * The conditional activation distribution on the Feature page: a stacked bar
 * per activation interval (the scan's quantile bins), coloured by the firing
 * token, or by whether the context matches the explanation when it was
 * judged example by example (with the log-likelihood ratio per interval).
 */
import { Chart, BarController, BarElement, CategoryScale, Legend, LinearScale, Tooltip } from 'chart.js';
import type { C } from '../api.ts';
import { h } from '../dom.ts';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend);

type Histogram = NonNullable<C.FeatureResponse['conditional']>['token'];

const PALETTE = ['#c81e14', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf', '#bcbd22'];
const EXPLANATION_COLOURS: Record<string, string> = { 'matches explanation': '#2ca02c', 'does not match': '#c81e14', unjudged: '#bbbbbb' };

/** The section: a toggle (token / explanation) and one chart. */
export function conditionalSection(c: NonNullable<C.FeatureResponse['conditional']>): HTMLElement {
  const canvas = h('canvas', { id: 'conditional-chart', height: 110 }) as HTMLCanvasElement;
  const note = h('p', { id: 'conditional-note', class: 'note' });
  let chart: Chart | undefined;
  const show = (hist: Histogram) => {
    chart?.destroy();
    const colour = (label: string, i: number) => (hist.by === 'explanation' ? EXPLANATION_COLOURS[label] ?? '#888' : label === 'other' ? '#bbbbbb' : PALETTE[i % PALETTE.length]);
    chart = new Chart(canvas, {
      type: 'bar',
      data: {
        // Every bar says how many samples it is estimated from; a bar from too few is marked with '*'.
        labels: hist.bins.map((b) => `${b.lo.toFixed(2)}-${b.hi.toFixed(2)} (n=${b.sampled}${b.lowSample ? '*' : ''})`),
        datasets: hist.series.map((s, i) => ({ label: hist.by === 'token' ? JSON.stringify(s.label) : s.label, data: [...s.counts], backgroundColor: colour(s.label, i) })),
      },
      options: {
        animation: false,
        scales: { x: { stacked: true, title: { display: true, text: 'activation interval' } }, y: { stacked: true, title: { display: true, text: 'firings (estimated from samples)' } } },
        plugins: { legend: { display: true, position: 'right' } },
      },
    });
    canvas.dataset.by = hist.by;
    canvas.dataset.series = hist.series.map((s) => s.label).join('\u0001');
    canvas.dataset.samples = hist.bins.map((b) => b.sampled).join(',');
    const low = hist.bins.filter((b) => b.lowSample).length;
    const llr = hist.logLikelihoodRatio;
    note.textContent = llr
      ? `log-likelihood ratio of a match, per interval (low to high): ${llr.map((x) => (x === null ? '-' : x.toFixed(2))).join(', ')}`
      : 'Each sampled firing stands for its interval\'s count over its samples (n per bar).';
    if (low) note.textContent += ` ${low} interval(s) marked * rest on fewer than ${hist.minSamples} samples: read them with care.`;
  };
  const byToken = h('button', { id: 'cond-token', onclick: () => show(c.token) }, 'by token');
  const byExpl = h('button', { id: 'cond-explanation', disabled: !c.explanation, title: c.explanation ? '' : 'judge examples first: saescope score --conditional', onclick: () => c.explanation && show(c.explanation) }, 'by explanation match');
  const section = h('div', { id: 'conditional' }, h('h2', {}, 'Conditional distribution'), h('div', { class: 'row' }, byToken, byExpl), h('div', { class: 'chart' }, canvas), note);
  queueMicrotask(() => show(c.explanation ?? c.token));
  return section;
}

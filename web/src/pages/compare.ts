/** Compare: two texts side by side; features ranked by signed difference (A - B, text 1 minus text 2) with a coloured column, and a chart. */
import { Chart, BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip } from 'chart.js';
import { api, type C } from '../api.ts';
import { h, showError } from '../dom.ts';
import { featureLink, saeSelect } from './shared.ts';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

/** A cell coloured by a signed value: blue below zero (more in A), red above (more in B). */
function signedCell(v: number, max: number): HTMLElement {
  const a = max > 0 ? Math.min(1, Math.abs(v) / max) : 0;
  const bg = v >= 0 ? `rgba(200, 30, 20, ${(0.8 * a).toFixed(3)})` : `rgba(40, 90, 200, ${(0.8 * a).toFixed(3)})`;
  return h('td', { class: 'diff', style: `background: ${bg}` }, `${v >= 0 ? '+' : ''}${v.toFixed(2)}`);
}

export function comparePage(app: HTMLElement, info: C.InfoResponse): void {
  const sae = saeSelect(info);
  const a = h('textarea', { id: 'text-a', rows: 3 }) as HTMLTextAreaElement;
  const b = h('textarea', { id: 'text-b', rows: 3 }) as HTMLTextAreaElement;
  // The texts survive a reload (the session's).
  a.value = sessionStorage.getItem('compare.a') ?? 'The cat sat on the mat and slept.';
  b.value = sessionStorage.getItem('compare.b') ?? '"Hello!" said Tom. "Let\'s play ball!"';
  const button = h('button', { id: 'compare', onclick: () => void run() }, 'Compare') as HTMLButtonElement;
  const out = h('div', { id: 'comparison' });
  let chart: Chart | undefined;
  const run = async () => {
    if (button.disabled) return;
    showError(null);
    sessionStorage.setItem('compare.a', a.value);
    sessionStorage.setItem('compare.b', b.value);
    if (a.value === b.value) {
      chart?.destroy();
      chart = undefined;
      out.replaceChildren(h('p', { id: 'no-difference' }, 'The two texts are identical: no feature differs.'));
      return;
    }
    button.disabled = true;
    try {
      const r = await api.compare({ sae: sae.value, a: a.value, b: b.value, top: 15 });
      const rows = [...r.rows].sort((x, y) => y.diff - x.diff);
      const max = Math.max(0, ...rows.map((x) => Math.abs(x.diff)));
      const table = h('table', { class: 'list', id: 'diff-table' }, h('tr', {}, h('th', {}, 'feature'), h('th', {}, 'name'), h('th', {}, 'A'), h('th', {}, 'B'), h('th', {}, 'A - B')));
      for (const row of rows) table.append(h('tr', { 'data-feature': row.feature }, h('td', {}, featureLink(sae.value, row.feature)), h('td', {}, row.name ?? ''), h('td', {}, row.a.toFixed(2)), h('td', {}, row.b.toFixed(2)), signedCell(row.diff, max)));
      const canvas = h('canvas', { id: 'diff-chart', height: 110 });
      chart?.destroy();
      out.replaceChildren(h('p', {}, 'Ranked by A - B: features more active in A first, more active in B last.'), h('div', { class: 'chart' }, canvas), table);
      chart = new Chart(canvas, {
        type: 'bar',
        data: { labels: rows.map((x) => `#${x.feature}`), datasets: [{ label: 'A', data: rows.map((x) => x.a), backgroundColor: '#2a5ac8' }, { label: 'B', data: rows.map((x) => x.b), backgroundColor: '#c81e14' }] },
        options: { animation: false },
      });
    } catch (e) {
      // A failed comparison leaves no stale result under the error.
      chart?.destroy();
      chart = undefined;
      out.replaceChildren();
      showError(e);
    } finally {
      button.disabled = false;
    }
  };
  for (const t of [a, b]) {
    t.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        void run();
      }
    });
  }
  app.append(h('h1', {}, 'Compare'), h('div', { class: 'row' }, sae, button, h('small', {}, ' Ctrl+Enter')), h('div', { class: 'cols' }, h('div', {}, h('h3', {}, 'Text A'), a), h('div', {}, h('h3', {}, 'Text B'), b)), out);
}

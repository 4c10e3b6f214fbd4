/** Compare: two texts side by side, the difference table and a chart. */
import { Chart, BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip } from 'chart.js';
import { api, type C } from '../api.ts';
import { h, showError } from '../dom.ts';
import { featureLink, saeSelect } from './shared.ts';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

export function comparePage(app: HTMLElement, info: C.InfoResponse): void {
  const sae = saeSelect(info);
  const a = h('textarea', { id: 'text-a', rows: 3 }) as HTMLTextAreaElement;
  const b = h('textarea', { id: 'text-b', rows: 3 }) as HTMLTextAreaElement;
  a.value = 'The cat sat on the mat and slept.';
  b.value = '"Hello!" said Tom. "Let\'s play ball!"';
  const out = h('div', { id: 'comparison' });
  let chart: Chart | undefined;
  const run = async () => {
    showError(null);
    try {
      const r = await api.compare({ sae: sae.value, a: a.value, b: b.value, top: 15 });
      const table = h('table', { class: 'list', id: 'diff-table' }, h('tr', {}, h('th', {}, 'feature'), h('th', {}, 'A'), h('th', {}, 'B'), h('th', {}, 'B - A')));
      for (const row of r.rows) table.append(h('tr', {}, h('td', {}, featureLink(sae.value, row.feature)), h('td', {}, row.a.toFixed(2)), h('td', {}, row.b.toFixed(2)), h('td', {}, row.diff.toFixed(2))));
      const canvas = h('canvas', { id: 'diff-chart', height: 110 });
      out.replaceChildren(h('div', { class: 'chart' }, canvas), table);
      chart?.destroy();
      chart = new Chart(canvas, {
        type: 'bar',
        data: { labels: r.rows.map((x) => `#${x.feature}`), datasets: [{ label: 'A', data: r.rows.map((x) => x.a), backgroundColor: '#3a7bd5' }, { label: 'B', data: r.rows.map((x) => x.b), backgroundColor: '#e25a28' }] },
        options: { animation: false },
      });
    } catch (e) {
      showError(e);
    }
  };
  app.append(h('h1', {}, 'Compare'), h('div', { class: 'row' }, sae, h('button', { id: 'compare', onclick: () => void run() }, 'Compare')), h('div', { class: 'cols' }, h('div', {}, h('h3', {}, 'Text A'), a), h('div', {}, h('h3', {}, 'Text B'), b)), out);
}

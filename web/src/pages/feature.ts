/** Feature: a Neuronpedia-like dashboard, editable name/notes/tags, and steering from here. */
import { Chart, BarController, BarElement, CategoryScale, LinearScale, Tooltip } from 'chart.js';
import { api, type C } from '../api.ts';
import { h, highlighted, showError } from '../dom.ts';
import { featureLink } from './shared.ts';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

export async function featurePage(app: HTMLElement, _info: C.InfoResponse, sae: string, f: number): Promise<void> {
  const r = await api.feature(sae, f);
  const d = r.dashboard;
  const rec = r.record;
  const name = h('input', { id: 'name', value: rec?.name ?? '', placeholder: 'name' }) as HTMLInputElement;
  const notes = h('textarea', { id: 'notes', rows: 2, placeholder: 'notes' }) as HTMLTextAreaElement;
  notes.value = rec?.notes ?? '';
  const tags = h('input', { id: 'tags', value: (rec?.tags ?? []).join(', '), placeholder: 'tags, comma-separated' }) as HTMLInputElement;
  const saved = h('span', { id: 'saved' });
  const save = async () => {
    try {
      await api.editFeature(sae, f, { name: name.value || null, notes: notes.value || null, tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean) });
      saved.textContent = 'saved';
    } catch (e) {
      showError(e);
    }
  };
  app.append(
    h('h1', {}, `Feature #${f} `, h('small', {}, sae)),
    h('div', { class: 'row' }, name, tags, h('button', { id: 'save', onclick: () => void save() }, 'Save'), saved, h('a', { href: `#/steer/${encodeURIComponent(sae)}/${f}`, id: 'steer-here' }, 'Steer with this feature')),
    notes,
  );
  const llm = r.explanations.find((e) => e.source === 'llm');
  const heur = r.explanations.find((e) => e.source === 'heuristic');
  if (llm) {
    const det = llm.scores.detection as { balancedAccuracy?: number } | undefined;
    const fz = llm.scores.fuzzing as { balancedAccuracy?: number } | undefined;
    app.append(h('p', { id: 'explanation' }, h('b', {}, 'Explanation: '), llm.explanation, h('small', {}, ` (${llm.explainerModel}; detection ${det?.balancedAccuracy?.toFixed(2) ?? '-'}, fuzzing ${fz?.balancedAccuracy?.toFixed(2) ?? '-'})`)));
  }
  if (heur) app.append(h('p', {}, h('b', {}, 'Heuristic name: '), heur.explanation));
  if (!d) {
    app.append(h('p', { id: 'no-dashboard' }, 'No scan data for this feature yet: run a scan job (Jobs) or `saescope scan` with this registry.'));
    return;
  }
  app.append(h('p', { id: 'stats' }, `density ${(100 * d.density).toFixed(3)}% · max activation `, h('span', { id: 'max-act' }, d.maxAct.toFixed(3)), ` · mean ${d.meanAct.toFixed(3)} · ${d.count} firings`));
  const canvas = h('canvas', { id: 'histogram', height: 90 });
  app.append(h('h2', {}, 'Activation histogram'), h('div', { class: 'chart' }, canvas));
  new Chart(canvas, {
    type: 'bar',
    data: { labels: d.histogram.edges.slice(0, -1).map((e) => e.toFixed(1)), datasets: [{ label: 'tokens', data: d.histogram.counts, backgroundColor: '#e25a28' }] },
    options: { animation: false, plugins: { legend: { display: false } }, scales: { x: { title: { display: true, text: 'activation' } } } },
  });
  const logits = (xs: { token: string; value: number }[], id: string) => h('ul', { class: 'logits', id }, ...xs.map((x) => h('li', {}, h('code', {}, JSON.stringify(x.token)), ` ${x.value.toFixed(2)}`)));
  app.append(h('div', { class: 'cols' },
    h('div', {}, h('h2', {}, 'Top positive logits'), logits(d.logits.positive, 'logits-pos')),
    h('div', {}, h('h2', {}, 'Top negative logits'), logits(d.logits.negative, 'logits-neg')),
    h('div', {}, h('h2', {}, 'Nearest features'), h('ul', { id: 'neighbors' }, ...d.neighbors.map((n) => h('li', {}, featureLink(sae, n.feature), ` cos ${n.cosine.toFixed(3)}`)))),
  ));
  app.append(h('h2', {}, 'Top examples'), h('div', { id: 'top-examples' }, ...d.top.map((e) => example(e, d.maxAct))));
  for (const q of [...d.quantiles].reverse()) {
    if (!q.examples.length) continue;
    app.append(h('h3', {}, `Activations ${q.lo.toFixed(2)} to ${q.hi.toFixed(2)} (${q.count} tokens)`), h('div', { class: 'quantile' }, ...q.examples.map((e) => example(e, d.maxAct))));
  }
}

function example(e: C.FeatureDashboard['top'][number], max: number): HTMLElement {
  return h('div', { class: 'example', 'data-act': e.act }, h('span', { class: 'act' }, e.act.toFixed(2)), highlighted(e.tokens, e.acts, max, e.focus));
}

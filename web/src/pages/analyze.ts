/** Analyze: a text's feature x token heatmap (Qwen-Scope style) and its top features with registry names. */
import { api, type C } from '../api.ts';
import { h, showError, tokenText } from '../dom.ts';
import { featureLink, saeSelect } from './shared.ts';

export function analyzePage(app: HTMLElement, info: C.InfoResponse): void {
  const sae = saeSelect(info);
  const text = h('textarea', { id: 'text', rows: 4, placeholder: 'Paste a text' }) as HTMLTextAreaElement;
  text.value = sessionStorage.getItem('analyze.text') ?? 'Once upon a time, there was a little cat named Tom.';
  const pool = h('select', { id: 'pool' }, h('option', { value: 'max' }, 'max'), h('option', { value: 'mean' }, 'mean'), h('option', { value: 'sum' }, 'sum'));
  const out = h('div', { id: 'analysis' });
  const run = async () => {
    showError(null);
    sessionStorage.setItem('analyze.text', text.value);
    try {
      render(out, sae.value, await api.analyze({ sae: sae.value, text: text.value, pool: pool.value as 'max', top: 12 }));
    } catch (e) {
      showError(e);
    }
  };
  app.append(h('h1', {}, 'Analyze'), h('div', { class: 'row' }, sae, h('label', {}, 'pool ', pool), h('button', { id: 'analyze', onclick: () => void run() }, 'Analyze')), text, out);
}

function render(out: HTMLElement, sae: string, r: C.AnalyzeResponse): void {
  const table = h('table', { class: 'heatmap', id: 'heatmap' });
  table.append(h('tr', {}, h('th', {}, 'feature'), ...r.tokens.map((t, j) => h('th', { class: `tok${r.pooled[j] ? '' : ' skip'}`, 'data-col': j }, tokenText(t)))));
  r.heatmap.features.forEach((f, i) => {
    const name = r.top.find((t) => t.feature === f)?.name;
    const row = h('tr', { 'data-feature': f }, h('th', {}, featureLink(sae, f, `#${f}${name ? ' ' + name : ''}`)));
    r.heatmap.normalized[i].forEach((v, j) => row.append(h('td', { 'data-col': j, title: r.heatmap.values[i][j].toFixed(3), style: `background: rgba(230, 90, 40, ${v.toFixed(3)})` }, r.heatmap.values[i][j] > 0 ? r.heatmap.values[i][j].toFixed(1) : '')));
    table.append(row);
  });
  table.addEventListener('mouseover', (e) => {
    const col = (e.target as HTMLElement).closest('[data-col]')?.getAttribute('data-col');
    for (const c of table.querySelectorAll('[data-col]')) c.classList.toggle('hover', c.getAttribute('data-col') === col);
  });
  const top = h('table', { class: 'list', id: 'top-features' }, h('tr', {}, h('th', {}, 'feature'), h('th', {}, 'name'), h('th', {}, 'score'), h('th', {}, 'tokens')));
  for (const t of r.top) top.append(h('tr', {}, h('td', {}, featureLink(sae, t.feature)), h('td', {}, t.name ?? ''), h('td', {}, t.score.toFixed(2)), h('td', {}, String(t.count))));
  out.replaceChildren(h('h2', {}, 'Feature x token heatmap'), h('div', { class: 'scroll' }, table), h('h2', {}, 'Top features'), top);
}

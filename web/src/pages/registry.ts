/** Registry: search features by name, explanation and tag; export JSON. */
import { api, type C } from '../api.ts';
import { h, showError } from '../dom.ts';
import { featureLink, saeSelect } from './shared.ts';

export function registryPage(app: HTMLElement, info: C.InfoResponse): void {
  const sae = saeSelect(info);
  const search = h('input', { id: 'search', placeholder: 'search names, explanations, notes' }) as HTMLInputElement;
  const tag = h('input', { id: 'tag', placeholder: 'tag', size: 10 }) as HTMLInputElement;
  const out = h('div', { id: 'registry' });
  const saeByDir = new Map(info.saes.map((s) => [s.name, s.name]));
  const run = async () => {
    showError(null);
    try {
      const r = await api.registry({ search: search.value, tag: tag.value, sae: sae.value });
      const table = h('table', { class: 'list', id: 'registry-table' }, h('tr', {}, h('th', {}, 'feature'), h('th', {}, 'name'), h('th', {}, 'explanation'), h('th', {}, 'tags'), h('th', {}, 'confidence')));
      for (const f of r.features) table.append(h('tr', {}, h('td', {}, featureLink(saeByDir.get(sae.value) ?? sae.value, f.feature)), h('td', {}, f.name ?? ''), h('td', {}, f.explanation ?? ''), h('td', {}, f.tags.join(', ')), h('td', {}, f.confidence === null ? '' : String(f.confidence))));
      out.replaceChildren(h('p', {}, `${r.features.length} features`), table);
    } catch (e) {
      showError(e);
    }
  };
  app.append(
    h('h1', {}, 'Registry'),
    h('div', { class: 'row' }, sae, search, tag, h('button', { id: 'search-btn', onclick: () => void run() }, 'Search'), h('a', { id: 'export', href: `/api/registry/export?sae=${encodeURIComponent(sae.value)}`, download: 'registry.json' }, 'Export JSON')),
    out,
  );
  sae.addEventListener('change', () => document.getElementById('export')!.setAttribute('href', `/api/registry/export?sae=${encodeURIComponent(sae.value)}`));
  void run();
}

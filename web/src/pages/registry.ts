/**
 * Registry: every feature the registry knows for an SAE (scanned, named or
 * explained) with its label, density and max; search (Enter or the button),
 * sort by a column (click its header; again to reverse) and page through.
 */
import { api, type C } from '../api.ts';
import { h, showError } from '../dom.ts';
import { featureLink, saeSelect } from './shared.ts';
import { densityScatter } from './scatter.ts';

const PAGE = 100;

export function registryPage(app: HTMLElement, info: C.InfoResponse, initial?: string): void {
  const sae = saeSelect(info);
  if (initial && info.saes.some((s) => s.name === initial)) sae.value = initial;
  const search = h('input', { id: 'search', type: 'search', placeholder: 'search names, explanations, tags or an index' }) as HTMLInputElement;
  const out = h('div', { id: 'registry' });
  // The sort, page and search are kept for the session, so Back from a feature returns to the same page.
  const kept = JSON.parse(sessionStorage.getItem('registry.state') ?? 'null') as { sae: string; sort: string; desc: boolean; offset: number; search: string } | null;
  const state = { sort: 'feature', desc: false, offset: 0 };
  if (kept && kept.sae === sae.value) {
    Object.assign(state, { sort: kept.sort, desc: kept.desc, offset: kept.offset });
    search.value = kept.search;
  }
  const run = async () => {
    showError(null);
    sessionStorage.setItem('registry.state', JSON.stringify({ sae: sae.value, ...state, search: search.value }));
    try {
      const r = await api.registry({ sae: sae.value, search: search.value.trim(), sort: state.sort, desc: String(state.desc), offset: String(state.offset), limit: String(PAGE) });
      const head = (key: string, label: string) => h('th', { class: 'sortable', 'data-sort': key, onclick: () => {
        state.desc = state.sort === key ? !state.desc : key !== 'feature' && key !== 'name';
        state.sort = key;
        state.offset = 0;
        void run();
      } }, label, state.sort === key ? (state.desc ? ' ▼' : ' ▲') : '');
      const table = h('table', { class: 'list', id: 'registry-table' }, h('tr', {}, head('feature', 'feature'), head('name', 'name / explanation'), head('density', 'density'), head('max', 'max act'), h('th', {}, 'tags')));
      for (const f of r.features) {
        table.append(h('tr', { 'data-feature': f.feature },
          h('td', {}, featureLink(sae.value, f.feature)),
          h('td', {}, f.name ? h('b', {}, f.name) : '', f.name && f.explanation ? ' · ' : '', f.explanation ? h('span', { class: 'expl' }, f.explanation) : ''),
          h('td', {}, f.density === null ? '' : `${(100 * f.density).toFixed(3)}%`),
          h('td', {}, f.maxAct === null ? '' : f.maxAct.toFixed(2)),
          h('td', {}, f.tags.join(', '))));
      }
      const last = Math.min(r.total, r.offset + r.features.length);
      const pager = (where: string) => h('div', { class: 'row pager', id: where === 'top' ? 'pager' : 'pager-bottom' },
        h('button', { id: where === 'top' ? 'page-prev' : 'page-prev-bottom', disabled: r.offset === 0, onclick: () => { state.offset = Math.max(0, state.offset - PAGE); void run(); } }, '← previous'),
        h('span', { id: where === 'top' ? 'page-info' : 'page-info-bottom' }, r.total ? `${r.offset + 1}-${last} of ${r.total} features` : 'no features'),
        h('button', { id: where === 'top' ? 'page-next' : 'page-next-bottom', disabled: last >= r.total, onclick: () => { state.offset += PAGE; void run(); } }, 'next →'));
      out.replaceChildren(pager('top'), r.total ? table : h('p', { id: 'registry-empty' }, search.value ? 'Nothing matches.' : 'No features yet: run a scan (Jobs, or saescope scan with this registry).'), ...(r.total > PAGE ? [pager('bottom')] : []));
    } catch (e) {
      out.replaceChildren();
      showError(e);
    }
  };
  const form = h('form', { class: 'row', onsubmit: (e: Event) => {
    e.preventDefault();
    state.offset = 0;
    void run();
  } }, sae, search, h('button', { id: 'search-btn', type: 'submit' }, 'Search'), api.exportUrl(sae.value) ? h('a', { id: 'export', href: api.exportUrl(sae.value)!, download: 'registry.json' }, 'Export JSON') : '');
  const scatter = h('div', { id: 'density-scatter' });
  // Search every served SAE at once (a static site has one registry per SAE: the list above searches it).
  const everywhere = h('input', { id: 'search-all', type: 'search', placeholder: 'search every SAE by name or explanation' }) as HTMLInputElement;
  const found = h('div', { id: 'search-all-results' });
  const all = h('form', { class: 'row', onsubmit: async (e: Event) => {
    e.preventDefault();
    if (!everywhere.value.trim()) return;
    try {
      const r = await api.search(everywhere.value.trim());
      found.replaceChildren(r.results.length
        ? h('table', { class: 'list' }, ...r.results.map((x) => h('tr', { 'data-sae': x.sae, 'data-feature': x.feature }, h('td', {}, x.sae), h('td', {}, featureLink(x.sae, x.feature)), h('td', {}, x.name ?? x.explanation ?? ''))))
        : h('p', {}, 'Nothing matches in any SAE.'));
    } catch (err) {
      showError(err);
    }
  } }, everywhere, h('button', { id: 'search-all-btn', type: 'submit' }, 'Search all SAEs'));
  app.append(h('h1', {}, 'Registry'), form, app.dataset.jobs === 'false' ? '' : all, found, scatter, out);
  void densityScatter(scatter, sae.value);
  sae.addEventListener('change', () => {
    void densityScatter(scatter, sae.value);
    document.getElementById('export')?.setAttribute('href', api.exportUrl(sae.value) ?? '');
    state.offset = 0;
    void run();
  });
  void run();
}

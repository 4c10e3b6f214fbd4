/**
 * Analyze: a text's feature x token heatmap (Qwen-Scope style) on one shared
 * white-to-red scale with a legend (per-row scaling as an option), its top
 * features with their names, and a click on a token lists that token's
 * features. The last result is kept for the session, so Back shows it again.
 */
import { api, type C } from '../api.ts';
import { h, heat, heatLegend, showError, tokenText } from '../dom.ts';
import { featureLink, saeSelect } from './shared.ts';

type Saved = { sae: string; text: string; pool: string; perRow: boolean; result: C.AnalyzeResponse; token?: number };

export function analyzePage(app: HTMLElement, info: C.InfoResponse): void {
  const sae = saeSelect(info);
  const text = h('textarea', { id: 'text', rows: 4, placeholder: 'Paste a text' }) as HTMLTextAreaElement;
  text.value = sessionStorage.getItem('analyze.text') ?? 'Once upon a time, there was a little cat named Tom.';
  const pool = h('select', { id: 'pool' }, h('option', { value: 'max' }, 'max'), h('option', { value: 'mean' }, 'mean'), h('option', { value: 'sum' }, 'sum'));
  const perRow = h('input', { id: 'per-row', type: 'checkbox', title: 'scale each feature by its own maximum instead of the shared one' }) as HTMLInputElement;
  const rowsSel = h('select', { id: 'rows', title: 'heatmap rows' }, ...[6, 12, 24, 48].map((n) => h('option', { value: String(n) }, `${n} rows`))) as HTMLSelectElement;
  rowsSel.value = sessionStorage.getItem('analyze.rows') ?? '12';
  const button = h('button', { id: 'analyze', onclick: () => void run() }, 'Analyze') as HTMLButtonElement;
  const out = h('div', { id: 'analysis' });
  let saved: Saved | undefined;
  const show = () => {
    if (!saved) return;
    sessionStorage.setItem('analyze.saved', JSON.stringify(saved));
    render(out, saved, (tok) => {
      saved!.token = tok;
      sessionStorage.setItem('analyze.saved', JSON.stringify(saved));
    });
  };
  const run = async () => {
    // One request at a time: the button is busy until the answer comes.
    if (button.disabled) return;
    showError(null);
    sessionStorage.setItem('analyze.text', text.value);
    sessionStorage.setItem('analyze.rows', rowsSel.value);
    button.disabled = true;
    button.textContent = 'Analyzing...';
    out.setAttribute('aria-busy', 'true');
    try {
      const result = await api.analyze({ sae: sae.value, text: text.value, pool: pool.value as 'max', top: Number(rowsSel.value) });
      saved = { sae: sae.value, text: text.value, pool: pool.value, perRow: perRow.checked, result };
      show();
    } catch (e) {
      out.replaceChildren();
      showError(e);
    } finally {
      button.disabled = false;
      button.textContent = 'Analyze';
      out.removeAttribute('aria-busy');
    }
  };
  // Ctrl+Enter (or Cmd+Enter) in the text runs it.
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void run();
    }
  });
  perRow.addEventListener('change', () => {
    if (saved) {
      saved.perRow = perRow.checked;
      show();
    }
  });
  app.append(
    h('h1', {}, 'Analyze'),
    h('div', { class: 'row' }, sae, h('label', {}, 'pool ', pool), rowsSel, h('label', {}, perRow, ' scale per row'), button, h('small', {}, ' Ctrl+Enter')),
    text, out,
  );
  // Back to this page shows the last result of the session.
  try {
    const prev = JSON.parse(sessionStorage.getItem('analyze.saved') ?? 'null') as Saved | null;
    if (prev && info.saes.some((s) => s.name === prev.sae)) {
      saved = prev;
      sae.value = prev.sae;
      pool.value = prev.pool;
      perRow.checked = prev.perRow;
      text.value = prev.text;
      show();
    }
  } catch {
    sessionStorage.removeItem('analyze.saved');
  }
}

function render(out: HTMLElement, s: Saved, onToken: (tok: number) => void): void {
  const r = s.result;
  // The scale's top is the largest activation on a pooled token: BOS (greyed, skipped) would wash out every other cell.
  const shared = Math.max(0, ...r.heatmap.values.flatMap((row) => row.filter((_, j) => r.pooled[j])));
  const table = h('table', { class: 'heatmap', id: 'heatmap' });
  table.append(h('tr', {}, h('th', {}, 'feature'), ...r.tokens.map((t, j) => h('th', { class: `tok${r.pooled[j] ? '' : ' skip'}`, 'data-col': j, title: 'click: this token\'s features' }, tokenText(t)))));
  r.heatmap.features.forEach((f, i) => {
    const name = r.top.find((t) => t.feature === f)?.name;
    const rowMax = Math.max(0, ...r.heatmap.values[i].filter((_, j) => r.pooled[j]));
    const row = h('tr', { 'data-feature': f }, h('th', { class: 'fname' }, featureLink(s.sae, f, `#${f}${name ? ' ' + name : ''}`)));
    r.heatmap.values[i].forEach((v, j) => row.append(h('td', { 'data-col': j, 'data-value': v, title: v.toFixed(3), style: `background: ${heat(v, s.perRow ? rowMax : shared)}` }, v > 0 ? v.toFixed(1) : '')));
    table.append(row);
  });
  table.addEventListener('mouseover', (e) => {
    const col = (e.target as HTMLElement).closest('[data-col]')?.getAttribute('data-col');
    for (const c of table.querySelectorAll('[data-col]')) c.classList.toggle('hover', c.getAttribute('data-col') === col);
  });
  const tokenPanel = h('div', { id: 'token-features' });
  const pick = (j: number) => {
    for (const c of table.querySelectorAll('th.tok')) c.classList.toggle('picked', c.getAttribute('data-col') === String(j));
    // Every feature active at the token (from the server), not only the heatmap's rows.
    const rows = r.active
      ? r.active[j].map((x) => ({ f: x.feature, v: x.act, name: r.top.find((t) => t.feature === x.feature)?.name ?? null }))
      : r.heatmap.features.map((f, i) => ({ f, v: r.heatmap.values[i][j], name: r.top.find((t) => t.feature === f)?.name ?? null })).filter((x) => x.v > 0).sort((a, b) => b.v - a.v);
    tokenPanel.replaceChildren(
      h('h3', {}, `Features at token ${j} `, h('code', {}, tokenText(r.tokens[j])), h('small', {}, ` (${rows.length} active)`)),
      rows.length
        ? h('table', { class: 'list' }, ...rows.map((x) => h('tr', { 'data-feature': x.f }, h('td', {}, featureLink(s.sae, x.f)), h('td', {}, x.name ?? ''), h('td', {}, x.v.toFixed(3)))))
        : h('p', {}, 'No feature fires at this token.'),
    );
    onToken(j);
  };
  table.addEventListener('click', (e) => {
    const th = (e.target as HTMLElement).closest('th.tok');
    if (th) pick(Number(th.getAttribute('data-col')));
  });
  const top = h('table', { class: 'list', id: 'top-features' }, h('tr', {}, h('th', {}, 'feature'), h('th', {}, 'name'), h('th', {}, 'score'), h('th', {}, 'tokens')));
  for (const t of r.top) top.append(h('tr', {}, h('td', {}, featureLink(s.sae, t.feature)), h('td', { class: 'name' }, t.name ?? ''), h('td', {}, t.score.toFixed(2)), h('td', {}, String(t.count))));
  out.replaceChildren(
    h('h2', {}, 'Feature x token heatmap'),
    heatLegend(s.perRow ? 1 : shared, s.perRow ? 'each row scaled to its own maximum' : 'activation, one scale for every row'),
    h('div', { class: 'scroll' }, table), tokenPanel, h('h2', {}, 'Top features'), top,
  );
  if (s.token !== undefined && s.token < r.tokens.length) pick(s.token);
}

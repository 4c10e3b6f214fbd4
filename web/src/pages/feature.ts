/**
 * Feature: a Neuronpedia-like dashboard; browse by index (jump, previous,
 * next, random); the name, notes and tags edited with optimistic concurrency
 * (only changed fields are sent, and an edit from a stale copy is refused
 * with a 409 instead of wiping another tab's change); Explain with the
 * configured LLM; steering from here.
 */
import { Chart, BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, Tooltip } from 'chart.js';
import { api, ApiError, type C } from '../api.ts';
import { h, heat, highlighted, showError, tokenText } from '../dom.ts';
import { featureLink } from './shared.ts';
import { conditionalSection } from './conditional.ts';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, Tooltip);

export async function featurePage(app: HTMLElement, info: C.InfoResponse, sae: string, index: string, params = new URLSearchParams()): Promise<void> {
  const f = /^\d{1,9}$/.test(index) ? Number(index) : NaN;
  const width = info.saes.find((s) => s.name === sae)?.dSae;
  if (width === undefined) {
    app.append(h('p', { id: 'no-feature' }, `No SAE named '${sae}' here (known: ${info.saes.map((s) => s.name).join(', ')}).`));
    return;
  }
  const go = (n: number) => (location.hash = `#/feature/${encodeURIComponent(sae)}/${((n % width) + width) % width}`);
  const jump = h('input', { id: 'jump', type: 'number', min: 0, max: width - 1, placeholder: `0-${width - 1}`, size: 7 }) as HTMLInputElement;
  const nav = h('form', { class: 'row', id: 'feature-nav', onsubmit: (e: Event) => {
    e.preventDefault();
    const n = Number(jump.value);
    if (jump.value.trim() === '' || !Number.isInteger(n) || n < 0 || n >= width) showError(`give a feature index in [0, ${width})`);
    else go(n);
  } },
  h('button', { type: 'button', id: 'prev', onclick: () => go(f - 1) }, '← previous'),
  h('button', { type: 'button', id: 'next', onclick: () => go(f + 1) }, 'next →'),
  h('button', { type: 'button', id: 'random', onclick: () => go(Math.floor(Math.random() * width)) }, 'random'),
  h('label', {}, 'feature ', jump), h('button', { type: 'submit', id: 'jump-go' }, 'Go'));
  if (!Number.isInteger(f) || f < 0 || f >= width) {
    app.append(h('h1', {}, 'Feature'), nav, h('p', { id: 'no-feature' }, index === '' ? `Give a feature index of ${sae}: 0 to ${width - 1}.` : Number.isNaN(f) ? `'${index}' is not a feature index: ${sae} has features 0 to ${width - 1}.` : `No feature ${f} in ${sae}: indices run from 0 to ${width - 1}.`));
    return;
  }
  const r = await api.feature(sae, f);
  const d = r.dashboard;
  let rec = r.record;
  const name = h('input', { id: 'name', value: rec?.name ?? '', placeholder: 'name' }) as HTMLInputElement;
  const notes = h('textarea', { id: 'notes', rows: 2, placeholder: 'notes' }) as HTMLTextAreaElement;
  notes.value = rec?.notes ?? '';
  const tags = h('input', { id: 'tags', value: (rec?.tags ?? []).join(', '), placeholder: 'tags, comma-separated' }) as HTMLInputElement;
  const saved = h('span', { id: 'saved' });
  const tagList = () => tags.value.split(',').map((t) => t.trim()).filter(Boolean);
  const save = async () => {
    showError(null);
    // Only what changed since the page loaded is sent, with the version it started from.
    const patch: { name?: string | null; notes?: string | null; tags?: string[] } = {};
    if ((name.value || null) !== (rec?.name ?? null)) patch.name = name.value || null;
    if ((notes.value || null) !== (rec?.notes ?? null)) patch.notes = notes.value || null;
    if (tagList().join('\u0000') !== (rec?.tags ?? []).join('\u0000')) patch.tags = tagList();
    if (!Object.keys(patch).length) {
      saved.textContent = 'nothing changed';
      return;
    }
    try {
      rec = (await api.editFeature(sae, f, { ...patch, base: rec?.updatedAt ?? null })) as C.FeatureRecord;
      saved.textContent = 'saved';
      retitle();
    } catch (e) {
      saved.textContent = '';
      if (e instanceof ApiError && e.status === 409) showError(`Not saved: ${e.message}. Your text is still in the boxes; copy it, reload, and save again.`);
      else showError(e);
    }
  };
  let label = r.explanations.find((e) => e.source === 'llm') ?? r.explanations.find((e) => e.source === 'neuronpedia')
    ?? r.explanations.find((e) => e.source === 'carried') ?? r.explanations.find((e) => e.source === 'heuristic');
  const labelEl = h('small', { id: 'feature-label' }, rec?.name || label?.explanation || '');
  /** The heading and the tab's title follow the name (after Save) and the best explanation (after Explain). */
  const retitle = () => {
    labelEl.textContent = rec?.name || label?.explanation || '';
    // Only the page on screen names the tab (one left behind by a newer navigation is detached).
    if (app.isConnected) document.title = `Feature ${sae} #${f}${labelEl.textContent ? ` ${labelEl.textContent}` : ''} · saescope`;
  };
  retitle();
  app.append(
    h('h1', {}, `Feature #${f} `, labelEl, h('small', {}, ` ${sae}`)),
    nav,
    // A static site cannot save: it shows the record and offers no edit it would refuse.
    app.dataset.jobs === 'false'
      ? h('div', { class: 'row', id: 'record-view' }, rec?.name ? h('b', {}, rec.name) : '', (rec?.tags ?? []).length ? ` tags: ${rec!.tags.join(', ')}` : '', rec?.notes ? h('p', {}, rec.notes) : '', h('a', { href: `#/steer/${encodeURIComponent(sae)}/${f}`, id: 'steer-here' }, 'Steer with this feature'))
      : h('div', { class: 'row' }, name, tags, h('button', { id: 'save', onclick: () => void save() }, 'Save'), saved, h('a', { href: `#/steer/${encodeURIComponent(sae)}/${f}`, id: 'steer-here' }, 'Steer with this feature')),
    app.dataset.jobs === 'false' ? '' : notes,
  );
  const expl = h('div', { id: 'explanations' });
  const showExplanations = (list: C.ExplanationRecord[]) => {
    const llm = list.find((e) => e.source === 'llm');
    const np = list.find((e) => e.source === 'neuronpedia');
    const heur = list.find((e) => e.source === 'heuristic');
    expl.replaceChildren();
    if (llm) {
      const det = llm.scores.detection as { balancedAccuracy?: number } | undefined;
      const fz = llm.scores.fuzzing as { balancedAccuracy?: number } | undefined;
      expl.append(h('p', { id: 'explanation' }, h('b', {}, 'Explanation: '), llm.explanation, h('small', {}, ` (${llm.explainerModel}; detection ${det?.balancedAccuracy?.toFixed(2) ?? '-'}, fuzzing ${fz?.balancedAccuracy?.toFixed(2) ?? '-'})`)));
    }
    if (np) expl.append(h('p', {}, h('b', {}, 'Neuronpedia: '), np.explanation, h('small', {}, np.explainerModel ? ` (${np.explainerModel})` : '')));
    // Lineage: explanations carried over from the matching latents of other SAEs (`saescope match --carry-names`).
    const carried = list.filter((e) => e.source === 'carried');
    if (carried.length) {
      expl.append(h('div', { id: 'lineage' }, h('b', {}, 'This feature in other SAEs: '), ...carried.map((e) => {
        // Stored by the source SAE's identity; the server adds its current name and whether it is served here.
        const from = e.scores.carriedFrom as { sae: string; name?: string; served?: boolean; feature: number } | undefined;
        const cos = e.scores.cosine as number | undefined;
        const label = from ? `${from.name ?? from.sae} #${from.feature}` : '';
        const link = from && from.served !== false && from.name ? featureLink(from.name, from.feature, label) : h('span', { class: 'not-served', title: 'this SAE is not served here' }, label);
        return h('p', { class: 'lineage-row' }, link, ` (decoder cosine ${cos?.toFixed(2) ?? '-'}): `, e.explanation);
      })));
    }
    if (heur) expl.append(h('p', { id: 'heuristic-name' }, h('b', {}, 'Heuristic name: '), heur.explanation));
  };
  showExplanations(r.explanations);
  app.append(explanationTable(r.explanations));
  app.append(expl);
  if (r.explainer && d) {
    const btn = h('button', { id: 'explain' }, 'Explain with the LLM') as HTMLButtonElement;
    btn.addEventListener('click', async () => {
      showError(null);
      btn.disabled = true;
      btn.textContent = 'explaining...';
      try {
        const list = (await api.explain(sae, f)).explanations;
        showExplanations(list);
        label = list.find((e) => e.source === 'llm') ?? label;
        retitle();
      } catch (e) {
        showError(e);
      } finally {
        btn.disabled = false;
        btn.textContent = 'Explain with the LLM';
      }
    });
    app.append(btn);
  }
  if (!d) {
    if (r.scanned) app.append(h('p', { id: 'no-dashboard' }, 'This feature did not fire in the scan, so it has no examples.'));
    else {
      // Records are kept per weights: an SAE folder that was overwritten is a new SAE with no scan yet.
      app.append(h('p', { id: 'no-dashboard' }, `No scan for these weights (SAE ${sae}, ${r.saeId}): its dashboards, names and calibrations start empty. `,
        app.dataset.jobs === 'true' ? h('a', { id: 'offer-scan', href: `#/jobs/scan/${encodeURIComponent(sae)}` }, 'Scan it on the Jobs page') : 'Scan it with `saescope scan` and this registry.'));
    }
    return;
  }
  if (d.count === 0) {
    app.append(h('p', { id: 'dead-feature' }, `This feature never fired on the ${sae} scan's tokens (a dead latent): there are no examples, histogram or distributions to show.`));
    return;
  }
  app.append(h('p', { id: 'stats' }, `density ${(100 * d.density).toFixed(3)}% · max activation `, h('span', { id: 'max-act' }, d.maxAct.toFixed(3)), ` · mean ${d.meanAct.toFixed(3)} · ${d.count} firings`));
  if (!r.calibration && r.calibrations.length) app.append(h('p', { id: 'calibration' }, `${r.calibrations.length} stored calibration(s), none applied: the presets are the defaults (apply one from the Steer page's sweep or saescope registry calibration apply).`));
  if (r.calibration) {
    const c = r.calibration;
    app.append(h('p', { id: 'calibration' }, `Steering (applied calibration): the concept shows at ${c.onset?.toFixed(2) ?? '-'}x, the text breaks at ${c.breakpoint?.toFixed(2) ?? '-'}x of the typical max ${c.typicalMax.toFixed(2)}; `,
      c.usable ? 'the presets sit between them' : `no usable range (${c.noUsableRange ?? 'onset not before breakpoint'}): the presets are the defaults`, c.weak ? ' (weak evidence: a short sweep)' : ''));
  }
  app.append(testBox(sae, f, params.get('text') ?? ''));
  const canvas = h('canvas', { id: 'histogram', height: 90 });
  const logScale = h('input', { id: 'hist-log', type: 'checkbox' }) as HTMLInputElement;
  app.append(h('h2', {}, 'Activation histogram'), h('label', {}, logScale, ' log scale'), h('div', { class: 'chart' }, canvas));
  logScale.checked = params.get('log') === '1';
  const histChart = new Chart(canvas, {
    type: 'bar',
    data: { labels: d.histogram.edges.slice(0, -1).map((e) => e.toFixed(1)), datasets: [{ label: 'tokens', data: d.histogram.counts, backgroundColor: '#c81e14' }] },
    options: { animation: false, plugins: { legend: { display: false } }, scales: { x: { title: { display: true, text: 'activation' } }, y: { type: logScale.checked ? 'logarithmic' : 'linear' } } },
  });
  canvas.dataset.scale = logScale.checked ? 'logarithmic' : 'linear';
  // Rare high activations vanish on a linear axis: the log scale shows them.
  logScale.addEventListener('change', () => {
    histChart.options.scales!.y = { type: logScale.checked ? 'logarithmic' : 'linear' };
    histChart.update();
    canvas.dataset.scale = logScale.checked ? 'logarithmic' : 'linear';
  });
  if (r.conditional) app.append(conditionalSection(r.conditional));
  const logits = (xs: { token: string; value: number }[], id: string) => h('ul', { class: 'logits', id }, ...xs.map((x) => h('li', {}, h('code', {}, JSON.stringify(x.token)), ` ${x.value.toFixed(2)}`)));
  app.append(h('div', { class: 'cols' },
    h('div', {}, h('h2', {}, 'Top positive logits'), logits(d.logits.positive, 'logits-pos')),
    h('div', {}, h('h2', {}, 'Top negative logits'), logits(d.logits.negative, 'logits-neg')),
    h('div', {}, h('h2', {}, 'Nearest features'), h('ul', { id: 'neighbors' }, ...d.neighbors.map((n) => h('li', {}, featureLink(sae, n.feature), ` cos ${n.cosine.toFixed(3)}`, r.labels[n.feature] ? h('span', { class: 'name' }, ` ${r.labels[n.feature]}`) : null)))),
  ));
  const expand = r.documents ? (e: Example) => api.document(sae, f, e) : undefined;
  app.append(h('h2', {}, 'Top examples'), h('div', { id: 'top-examples' }, ...d.top.map((e) => example(e, d.maxAct, expand))));
  for (const q of [...d.quantiles].reverse()) {
    if (!q.examples.length) continue;
    app.append(h('h3', {}, `Activations ${q.lo.toFixed(2)} to ${q.hi.toFixed(2)} (${q.count} tokens)`), h('div', { class: 'quantile' }, ...q.examples.map((e) => example(e, d.maxAct, expand))));
  }
}

type Example = C.FeatureDashboard['top'][number];

/**
 * An example's window with its activations; where the server can read the
 * scan's corpus, a toggle shows the whole document instead (the window's
 * activations in place, the rest of the document uncoloured: the scan kept
 * no activations there).
 */
function example(e: Example, max: number, expand?: (e: Example) => Promise<C.DocumentResponse>): HTMLElement {
  const window = highlighted(e.tokens, e.acts, max, e.focus);
  const box = h('div', { class: 'example', 'data-act': e.act }, h('span', { class: 'act' }, e.act.toFixed(2)), window);
  if (!expand) return box;
  let doc: HTMLElement | undefined;
  const toggle = h('button', { type: 'button', class: 'expand link' }, 'whole document') as HTMLButtonElement;
  toggle.addEventListener('click', async () => {
    if (doc) {
      const open = doc.isConnected;
      (open ? doc : window).replaceWith(open ? window : doc);
      toggle.textContent = open ? 'whole document' : 'window only';
      return;
    }
    showError(null);
    toggle.disabled = true;
    toggle.textContent = 'loading…';
    try {
      const r = await expand(e);
      const cut = r.first > 0 || r.first + r.tokens.length < r.total ? ` (tokens ${r.first}-${r.first + r.tokens.length - 1} of ${r.total})` : '';
      doc = h('div', { class: 'document', 'data-doc': r.doc },
        h('div', { class: 'doc-head' }, `document ${r.doc}, ${r.total} tokens${cut}; fired at its token ${r.first + r.focus}`),
        documentTokens(r, max));
      window.replaceWith(doc);
      toggle.textContent = 'window only';
    } catch (err) {
      showError(err);
      toggle.textContent = 'whole document';
    } finally {
      toggle.disabled = false;
    }
  });
  box.append(toggle);
  return box;
}

/** A document's tokens: the example's window in heat colours, the rest as plain text. */
function documentTokens(r: C.DocumentResponse, max: number): HTMLElement {
  const line = h('div', { class: 'tokens' });
  r.tokens.forEach((t, i) => {
    const a = r.acts[i];
    line.append(a === null
      ? h('span', { class: 'tok plain', title: 'outside the example\'s window: not kept by the scan' }, tokenText(t))
      : h('span', { class: `tok${i === r.focus ? ' focus' : ''}`, title: a.toFixed(3), style: `background: ${heat(a, max)}` }, tokenText(t)));
  });
  return line;
}

/** Every explanation of the feature, with its source, explainer, prompt version and scores (Neuronpedia lists them all too). */
function explanationTable(list: readonly C.ExplanationRecord[]): HTMLElement {
  if (!list.length) return h('div', { id: 'all-explanations' });
  const score = (e: C.ExplanationRecord, k: string) => ((e.scores[k] as { balancedAccuracy?: number } | undefined)?.balancedAccuracy?.toFixed(2) ?? '');
  return h('details', { id: 'all-explanations' }, h('summary', {}, `All ${list.length} explanations`),
    h('table', { class: 'list' }, h('tr', {}, ...['explanation', 'source', 'explainer', 'prompt', 'detection', 'fuzzing', 'when'].map((t) => h('th', {}, t))),
      ...list.map((e) => h('tr', { 'data-source': e.source }, h('td', {}, e.explanation), h('td', {}, e.source), h('td', {}, e.explainerModel ?? ''), h('td', {}, e.promptVersion ?? ''),
        h('td', {}, score(e, 'detection')), h('td', {}, score(e, 'fuzzing')), h('td', {}, e.createdAt.slice(0, 10))))));
}

/** Test the feature on your own text: its activation on each token, from the same analysis the Analyze page runs. */
function testBox(sae: string, f: number, initial: string): HTMLElement {
  const text = h('textarea', { id: 'test-text', rows: 2, placeholder: 'Type a text to see where this feature fires' }) as HTMLTextAreaElement;
  text.value = initial;
  const share = h('a', { id: 'share', href: '#' }, 'link to this') as HTMLAnchorElement;
  const out = h('div', { id: 'test-result' });
  const button = h('button', { id: 'test-run' }, 'Test') as HTMLButtonElement;
  const run = async () => {
    if (button.disabled || !text.value.trim()) return;
    showError(null);
    button.disabled = true;
    try {
      const r = await api.analyze({ sae, text: text.value, top: 1 });
      const acts = (r.active ?? []).map((tok) => tok.find((x) => x.feature === f)?.act ?? 0);
      const max = Math.max(0, ...acts);
      // A link that opens this feature with this text tested (and the histogram's scale).
      const q = new URLSearchParams({ text: text.value });
      if ((document.getElementById('hist-log') as HTMLInputElement | null)?.checked) q.set('log', '1');
      share.href = `#/feature/${encodeURIComponent(sae)}/${f}?${q}`;
      out.replaceChildren(h('p', { class: 'test-tokens' }, ...r.tokens.map((t, i) => h('span', { class: 'tok', 'data-act': acts[i], title: acts[i].toFixed(3), style: `background: ${heat(acts[i], max)}` }, tokenText(t)))),
        h('small', { id: 'test-max' }, max > 0 ? `max ${max.toFixed(3)}` : 'The feature does not fire on this text.'));
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
    }
  };
  button.addEventListener('click', () => void run());
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void run();
    }
  });
  if (initial) queueMicrotask(() => void run());
  return h('div', { id: 'test-box' }, h('h2', {}, 'Test it on your text'), text, h('div', { class: 'row' }, button, h('small', {}, ' Ctrl+Enter '), share), out);
}

/** Steer: steered and unsteered outputs side by side, streaming; and a sweep view plotting metrics against magnitude. */
import { Chart, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip } from 'chart.js';
import { api, type C } from '../api.ts';
import { h, showError } from '../dom.ts';
import { saeSelect } from './shared.ts';

Chart.register(LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);

export function steerPage(app: HTMLElement, info: C.InfoResponse, saeName?: string, featureText?: string): void {
  const sae = saeSelect(info);
  if (saeName && info.saes.some((s) => s.name === saeName)) sae.value = saeName;
  // A link that names an SAE or feature this server lacks says so, instead of quietly showing another.
  const linkProblem = saeName && !info.saes.some((s) => s.name === saeName)
    ? `No SAE named '${saeName}' here (known: ${info.saes.map((s) => s.name).join(', ')}); showing ${sae.value}.`
    : featureText !== undefined && !/^\d{1,9}$/.test(featureText) ? `'${featureText}' in the link is not a feature index.` : undefined;
  const feature = featureText !== undefined && /^\d{1,9}$/.test(featureText) ? Number(featureText) : undefined;
  const width = () => info.saes.find((s) => s.name === sae.value)?.dSae ?? 0;
  // The prompt is kept for the session; a deep link with junk leaves the features box empty.
  const prompt = h('input', { id: 'prompt', value: sessionStorage.getItem('steer.prompt') ?? 'Once upon a time,', size: 50 }) as HTMLInputElement;
  prompt.addEventListener('input', () => sessionStorage.setItem('steer.prompt', prompt.value));
  prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      void run();
    }
  });
  const linked = feature !== undefined && Number.isInteger(feature) && feature >= 0 && feature < width() ? String(feature) : '';
  const problem = linkProblem ?? (feature !== undefined && !linked ? `No feature ${feature} in ${sae.value}: indices run from 0 to ${width() - 1}.` : undefined);
  const features = h('input', { id: 'features', value: linked, size: 12, placeholder: 'e.g. 12, 40', title: 'feature indices, comma-separated' }) as HTMLInputElement;
  const mode = h('select', { id: 'mode' }, ...['light', 'medium', 'strong'].map((p) => h('option', { value: p }, `${p} (${info.presets[p]}x typical max by default; a feature's applied calibration sets its own)`)), h('option', { value: 'strength' }, 'strength'), h('option', { value: 'clamp' }, 'clamp to'));
  mode.value = 'medium';
  // Several values (comma-separated) compare them side by side.
  const value = h('input', { id: 'value', value: '10', size: 10, title: 'a value, or several separated by commas to compare them side by side' }) as HTMLInputElement;
  const compare = h('select', { id: 'compare', title: 'one steered output, or several side by side (decoded together in one batch)' },
    h('option', { value: 'together' }, 'features together'), h('option', { value: 'each' }, 'each feature on its own'), h('option', { value: 'presets' }, 'light, medium and strong side by side')) as HTMLSelectElement;
  const valueLabel = h('label', { id: 'value-label', hidden: true }, 'value ', value);
  mode.addEventListener('change', () => (valueLabel.hidden = !['strength', 'clamp'].includes(mode.value)));
  const positions = h('select', { id: 'positions' }, ...['all', 'prompt', 'generated'].map((p) => h('option', { value: p }, p)));
  const seed = h('input', { id: 'seed', value: '0', size: 4, type: 'number' }) as HTMLInputElement;
  const length = h('input', { id: 'length', value: '40', size: 4, type: 'number', min: 1, max: info.limits.maxNewTokens }) as HTMLInputElement;
  // Greedy by default: the steered and unsteered outputs then differ only by the steering.
  const temperature = h('input', { id: 'temperature', value: '0', size: 4, type: 'number', min: 0, max: 10, step: 'any' }) as HTMLInputElement;
  const chat = h('input', { id: 'chat', type: 'checkbox', title: info.chat ? "wrap the prompt as a user turn of the model's chat template" : 'this model has no chat template' }) as HTMLInputElement;
  chat.disabled = !info.chat;
  const plain = h('pre', { id: 'unsteered', class: 'gen' });
  const cols = h('div', { class: 'cols', id: 'steer-cols' });
  let steered: HTMLElement[] = [];
  /** One column for the unsteered output and one per variant, each headed by what it steers. */
  const columns = (labels: string[]) => {
    steered = labels.map((_, i) => h('pre', { id: i === 0 ? 'steered' : `steered-${i}`, class: 'gen' }));
    cols.replaceChildren(h('div', {}, h('h3', {}, 'Unsteered'), plain), ...labels.map((l, i) => h('div', {}, h('h3', { class: 'variant-label' }, l), steered[i])));
  };
  columns(['Steered']);
  const status = h('p', { id: 'steer-status' });
  /** The features box as indices, or an error naming what is wrong (an empty box never steers feature 0). */
  const list = (): number[] | string => {
    const parts = features.value.split(',').map((x) => x.trim()).filter(Boolean);
    if (!parts.length) return 'give at least one feature index';
    const bad = parts.find((x) => !/^\d+$/.test(x) || Number(x) >= width());
    return bad === undefined ? parts.map(Number) : `'${bad}' is not a feature index of ${sae.value} (0 to ${width() - 1})`;
  };
  const num = (el: HTMLInputElement, what: string, lo: number, hi: number, int: boolean): number | string => {
    const v = Number(el.value);
    return el.value.trim() !== '' && Number.isFinite(v) && v >= lo && v <= hi && (!int || Number.isInteger(v)) ? v : `${what} must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}]`;
  };
  const steerButton = h('button', { id: 'steer', onclick: () => void run() }, 'Steer') as HTMLButtonElement;
  // The settings survive a reload (the session's), the features box only when no link names one.
  const kept = JSON.parse(sessionStorage.getItem('steer.settings') ?? '{}') as Record<string, string>;
  const fields: Record<string, HTMLInputElement | HTMLSelectElement> = { mode, length, temperature, seed, positions, value, compare };
  for (const [k, el] of Object.entries(fields)) if (typeof kept[k] === 'string') el.value = kept[k];
  if (!linked && featureText === undefined && typeof kept.features === 'string') features.value = kept.features;
  valueLabel.hidden = !['strength', 'clamp'].includes(mode.value);
  const keep = () => sessionStorage.setItem('steer.settings', JSON.stringify({ ...Object.fromEntries(Object.entries(fields).map(([k, el]) => [k, el.value])), features: features.value }));
  for (const el of [...Object.values(fields), features]) el.addEventListener('change', keep);
  const run = async () => {
    // One stream at a time: a second click while one runs does nothing.
    if (steerButton.disabled) return;
    showError(null);
    keep();
    const idx = list();
    const n = num(length, 'length', 1, info.limits.maxNewTokens, true);
    const t = num(temperature, 'temperature', 0, 10, false);
    const sd = num(seed, 'seed', 0, 2 ** 31, true);
    const m = mode.value;
    const numeric = ['strength', 'clamp'].includes(m);
    const vs = numeric ? value.value.split(',').map((x) => x.trim()) : [];
    const badValue = vs.find((x) => x === '' || !Number.isFinite(Number(x)) || Math.abs(Number(x)) > 1e6);
    const v = badValue !== undefined ? `'${badValue}' is not a value in [-1e6, 1e6] (give one, or several separated by commas)` : 0;
    if (compare.value === 'presets' && numeric) return showError('light, medium and strong side by side compare presets: choose a preset, or give several values separated by commas');
    const bad = [idx, n, t, sd, v].find((x) => typeof x === 'string');
    if (bad !== undefined) {
      status.textContent = '';
      return showError(bad);
    }
    // Each value (or preset) and, compared on their own, each feature is one variant; all decode in one batch.
    const makers: ((f: number) => C.SteerFeature)[] = numeric
      ? vs.map((x) => (f: number) => (m === 'strength' ? { feature: f, strength: Number(x) } : { feature: f, clamp: Number(x) }))
      : (compare.value === 'presets' ? ['light', 'medium', 'strong'] : [m]).map((p) => (f: number) => ({ feature: f, preset: p as 'medium' }));
    const groups = compare.value === 'each' ? (idx as number[]).map((f) => [f]) : [idx as number[]];
    const variants = groups.flatMap((g) => makers.map((make) => g.map(make)));
    if (variants.length > 16) return showError(`${variants.length} outputs to compare; at most 16 at once`);
    const describe = (fs: C.SteerFeature[]) => fs.map((s) => `#${s.feature} ${s.preset ?? (s.clamp !== undefined ? `clamp ${s.clamp}` : `${s.strength! >= 0 ? '+' : ''}${s.strength}`)}`).join(', ');
    columns(variants.length === 1 ? ['Steered'] : variants.map(describe));
    plain.textContent = prompt.value;
    for (const el of steered) el.textContent = prompt.value;
    status.textContent = 'generating...';
    steerButton.disabled = true;
    try {
      const request = variants.length === 1 ? { features: variants[0] } : { variants };
      await api.steer({ sae: sae.value, prompt: prompt.value, ...request, positions: positions.value as 'all', maxNewTokens: n as number, temperature: t as number, seed: sd as number, chat: chat.checked }, (e) => {
        if (e.kind === 'token') (e.which === 'steered' ? steered[e.variant ?? 0] : plain).textContent = prompt.value + e.text;
        if (e.kind === 'done') {
          const used = (ss: C.SteerStrengthUsed[]) => ss.map((s) => `#${s.feature} ${s.clamp !== undefined ? `clamp ${s.clamp}` : `${s.strength! >= 0 ? '+' : ''}${s.strength!.toFixed(2)}`}${s.preset ? ` (${s.preset}: ${s.multiple?.toFixed(2) ?? '?'}x typical max, ${s.presetSource === 'calibration' ? "from the feature's applied calibration" : `default multiple${s.presetReason ? `: ${s.presetReason}` : ''}`})` : ''}`).join(', ');
          const all = e.variants ?? [{ steered: e.steered, strengths: e.strengths, stopReason: '' }];
          status.textContent = `${e.contextNote ? `${e.contextNote}. ` : ''}strengths used: ${all.map((x) => used(x.strengths)).join(' | ')}`;
        }
        if (e.kind === 'error') {
          status.textContent = '';
          showError(e.error);
        }
      });
    } catch (e) {
      status.textContent = '';
      showError(e);
    } finally {
      steerButton.disabled = false;
    }
  };
  const sweepOut = h('div', { id: 'sweep' });
  let chart: Chart | undefined;
  const runSweep = async () => {
    showError(null);
    sweepOut.textContent = 'sweeping...';
    try {
      const idx = list();
      if (typeof idx === 'string') throw new Error(idx);
      const r = await api.sweep({ sae: sae.value, features: idx.slice(0, 1), prompts: [prompt.value], maxNewTokens: 20 });
      const canvas = h('canvas', { id: 'sweep-chart', height: 110 });
      const table = h('table', { class: 'list' }, h('tr', {}, h('th', {}, 'magnitude'), h('th', {}, 'feature act'), h('th', {}, 'KL'), h('th', {}, 'perplexity'), h('th', {}, 'distinct-2'), h('th', {}, 'text')));
      for (const x of r.records) table.append(h('tr', {}, h('td', {}, String(x.magnitude)), h('td', {}, x.featureAct.toFixed(2)), h('td', {}, x.kl.toFixed(3)), h('td', {}, x.perplexity.toFixed(1)), h('td', {}, x.distinct2.toFixed(2)), h('td', {}, x.text)));
      const c = r.features[0];
      const f = c.feature;
      const note = h('span', { id: 'calibration-state' });
      const apply = h('button', { id: 'apply-calibration', disabled: c.id === undefined }, 'Apply this calibration to the presets') as HTMLButtonElement;
      const undo = h('button', { id: 'undo-calibration', hidden: true }, 'Undo') as HTMLButtonElement;
      apply.onclick = async () => {
        try {
          await api.applyCalibration(sae.value, f, c.id!);
          note.textContent = ` applied: #${f}'s presets now follow this sweep.`;
          apply.hidden = true;
          undo.hidden = false;
        } catch (e) {
          showError(e);
        }
      };
      undo.onclick = async () => {
        try {
          const back = await api.undoCalibration(sae.value, f);
          note.textContent = back.calibration ? ' undone: the calibration applied before is used again.' : ' undone: the presets are the defaults again.';
          undo.hidden = true;
          apply.hidden = false;
        } catch (e) {
          showError(e);
        }
      };
      sweepOut.replaceChildren(...[
        h('p', { id: 'sweep-summary' }, `concept shows at ${c.onset ?? '-'}x, text breaks at ${c.breakpoint ?? '-'}x; `,
          c.usable ? `usable range [${c.usable[0]}, ${c.usable[1]})x; ${c.meanStages} stages before the break, ${c.meanDegraded} degraded outputs` : `no usable range: ${c.noUsableRange}`),
        r.settings.weak ? h('p', { id: 'weak-evidence', class: 'warn' }, `Weak evidence: ${r.settings.prompts.length} prompt x ${r.settings.maxNewTokens} tokens. Calibrate from the command line (saescope sweep, 3+ prompts, 32+ tokens) before relying on it.`) : null,
        h('p', {}, 'Stored, not applied: the presets are unchanged until you apply it. ', apply, undo, note),
        h('div', { class: 'chart' }, canvas), table].filter((x) => x !== null) as HTMLElement[]);
      chart?.destroy();
      const labels = r.records.map((x) => String(x.magnitude));
      chart = new Chart(canvas, {
        type: 'line',
        data: { labels, datasets: [
          { label: 'feature activation', data: r.records.map((x) => x.featureAct), borderColor: '#e25a28', yAxisID: 'y' },
          { label: 'KL', data: r.records.map((x) => x.kl), borderColor: '#3a7bd5', yAxisID: 'y1' },
          { label: 'log perplexity', data: r.records.map((x) => Math.log(x.perplexity)), borderColor: '#2a9d55', yAxisID: 'y1' },
          { label: 'distinct-2', data: r.records.map((x) => x.distinct2), borderColor: '#888', yAxisID: 'y1' },
        ] },
        options: { animation: false, scales: { y: { position: 'left' }, y1: { position: 'right' }, x: { title: { display: true, text: 'magnitude (x typical max)' } } } },
      });
    } catch (e) {
      sweepOut.textContent = '';
      showError(e);
    }
  };
  app.append(
    h('h1', {}, 'Steer'),
    ...(problem ? [h('p', { id: 'link-problem', class: 'warn' }, problem)] : []),
    h('div', { class: 'row' }, sae, h('label', {}, 'features ', features), mode, valueLabel, compare, h('label', {}, 'positions ', positions)),
    h('div', { class: 'row' }, h('label', {}, 'length ', length), h('label', {}, 'temperature ', temperature), h('label', {}, 'seed ', seed), h('label', {}, chat, ' chat')),
    h('div', { class: 'row' }, prompt, steerButton, app.dataset.jobs === 'false' ? '' : h('button', { id: 'run-sweep', onclick: () => void runSweep() }, 'Sweep magnitudes')),
    status,
    cols,
    // A static site has no registry to store a sweep's calibration in: it offers no sweep.
    ...(app.dataset.jobs === 'false' ? [] : [h('h2', {}, 'Sweep'), sweepOut]),
  );
}

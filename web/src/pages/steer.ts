/** Steer: steered and unsteered outputs side by side, streaming; and a sweep view plotting metrics against magnitude. */
import { Chart, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip } from 'chart.js';
import { api, type C } from '../api.ts';
import { h, showError } from '../dom.ts';
import { saeSelect } from './shared.ts';

Chart.register(LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);

export function steerPage(app: HTMLElement, info: C.InfoResponse, saeName?: string, feature?: number): void {
  const sae = saeSelect(info);
  if (saeName) sae.value = saeName;
  const prompt = h('input', { id: 'prompt', value: 'Once upon a time,', size: 50 }) as HTMLInputElement;
  const features = h('input', { id: 'features', value: String(feature ?? 0), size: 12, title: 'feature indices, comma-separated' }) as HTMLInputElement;
  const mode = h('select', { id: 'mode' }, ...['light', 'medium', 'strong'].map((p) => h('option', { value: p }, `${p} (${info.presets[p]}x typical max)`)), h('option', { value: 'strength' }, 'strength'), h('option', { value: 'clamp' }, 'clamp to'));
  mode.value = 'medium';
  const value = h('input', { id: 'value', value: '10', size: 6 }) as HTMLInputElement;
  const positions = h('select', { id: 'positions' }, ...['all', 'prompt', 'generated'].map((p) => h('option', { value: p }, p)));
  const seed = h('input', { id: 'seed', value: '0', size: 4 }) as HTMLInputElement;
  const chat = h('input', { id: 'chat', type: 'checkbox', title: info.chat ? "wrap the prompt as a user turn of the model's chat template" : 'this model has no chat template' }) as HTMLInputElement;
  chat.disabled = !info.chat;
  const plain = h('pre', { id: 'unsteered', class: 'gen' });
  const steered = h('pre', { id: 'steered', class: 'gen' });
  const status = h('p', { id: 'steer-status' });
  const list = () => features.value.split(',').map((x) => Number(x.trim())).filter((x) => !Number.isNaN(x));
  const run = async () => {
    showError(null);
    plain.textContent = prompt.value;
    steered.textContent = prompt.value;
    status.textContent = 'generating...';
    const m = mode.value;
    const fs = list().map((f) => (m === 'strength' ? { feature: f, strength: Number(value.value) } : m === 'clamp' ? { feature: f, clamp: Number(value.value) } : { feature: f, preset: m as 'medium' }));
    try {
      await api.steer({ sae: sae.value, prompt: prompt.value, features: fs, positions: positions.value as 'all', maxNewTokens: 40, seed: Number(seed.value), chat: chat.checked }, (e) => {
        if (e.kind === 'token') (e.which === 'steered' ? steered : plain).textContent = prompt.value + e.text;
        if (e.kind === 'done') status.textContent = `strengths: ${e.strengths.map((s) => `#${s.feature} ${s.clamp !== undefined ? `clamp ${s.clamp}` : `+${s.strength!.toFixed(2)}`}`).join(', ')}`;
        if (e.kind === 'error') showError(e.error);
      });
    } catch (e) {
      status.textContent = '';
      showError(e);
    }
  };
  const sweepOut = h('div', { id: 'sweep' });
  let chart: Chart | undefined;
  const runSweep = async () => {
    showError(null);
    sweepOut.textContent = 'sweeping...';
    try {
      const r = await api.sweep({ sae: sae.value, features: list().slice(0, 1), prompts: [prompt.value], maxNewTokens: 20 });
      const canvas = h('canvas', { id: 'sweep-chart', height: 110 });
      const table = h('table', { class: 'list' }, h('tr', {}, h('th', {}, 'magnitude'), h('th', {}, 'feature act'), h('th', {}, 'KL'), h('th', {}, 'perplexity'), h('th', {}, 'distinct-2'), h('th', {}, 'text')));
      for (const x of r.records) table.append(h('tr', {}, h('td', {}, String(x.magnitude)), h('td', {}, x.featureAct.toFixed(2)), h('td', {}, x.kl.toFixed(3)), h('td', {}, x.perplexity.toFixed(1)), h('td', {}, x.distinct2.toFixed(2)), h('td', {}, x.text)));
      const c = r.features[0];
      sweepOut.replaceChildren(h('p', {}, `concept shows at ${c.onset ?? '-'}x, text breaks at ${c.breakpoint ?? '-'}x, ${c.meanStages} stages`), h('div', { class: 'chart' }, canvas), table);
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
    h('div', { class: 'row' }, sae, h('label', {}, 'features ', features), mode, value, h('label', {}, 'positions ', positions), h('label', {}, 'seed ', seed), h('label', {}, chat, ' chat')),
    h('div', { class: 'row' }, prompt, h('button', { id: 'steer', onclick: () => void run() }, 'Steer'), h('button', { id: 'run-sweep', onclick: () => void runSweep() }, 'Sweep magnitudes')),
    status,
    h('div', { class: 'cols' }, h('div', {}, h('h3', {}, 'Unsteered'), plain), h('div', {}, h('h3', {}, 'Steered'), steered)),
    h('h2', {}, 'Sweep'), sweepOut,
  );
}

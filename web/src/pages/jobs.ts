/** Jobs: start training and scan jobs, watch progress, see loss and L0 curves. */
import { Chart, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip } from 'chart.js';
import { api, type C } from '../api.ts';
import { h, showError } from '../dom.ts';
import { saeSelect } from './shared.ts';

Chart.register(LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);

export function jobsPage(app: HTMLElement, info: C.InfoResponse): void {
  const corpus = h('input', { id: 'corpus', placeholder: 'corpus path (inside the data folders)', size: 40 }) as HTMLInputElement;
  const tokens = h('input', { id: 'tokens', value: '50000', size: 8 }) as HTMLInputElement;
  const hook = h('input', { id: 'hook', value: info.saes[0]?.hook ?? 'blocks.0.hook_resid_post', size: 26 }) as HTMLInputElement;
  const dSae = h('input', { id: 'dsae', value: '512', size: 6 }) as HTMLInputElement;
  const out = h('input', { id: 'out', value: 'runs/web-sae', size: 20 }) as HTMLInputElement;
  const sae = saeSelect(info, 'scan-sae');
  const list = h('div', { id: 'jobs' });
  const start = async (req: C.JobRequest) => {
    showError(null);
    try {
      await api.startJob(req);
      await refresh();
    } catch (e) {
      showError(e);
    }
  };
  const charts = new Map<string, Chart>();
  const refresh = async () => {
    const r = await api.jobs();
    list.replaceChildren(...r.jobs.map((j) => {
      const canvas = h('canvas', { height: 70, id: `curve-${j.id}` });
      const card = h('div', { class: 'job', 'data-status': j.status }, h('b', {}, `#${j.id} ${j.kind}`), ` ${j.status} · ${(100 * j.progress).toFixed(0)}% · ${j.message}`, h('progress', { max: 1, value: j.progress }));
      if (j.curve.length) {
        card.append(h('div', { class: 'chart' }, canvas));
        charts.get(j.id)?.destroy();
        charts.set(j.id, new Chart(canvas, {
          type: 'line',
          data: { labels: j.curve.map((c) => String(c.step)), datasets: [{ label: 'loss', data: j.curve.map((c) => c.loss), borderColor: '#e25a28', yAxisID: 'y' }, { label: 'L0', data: j.curve.map((c) => c.l0), borderColor: '#3a7bd5', yAxisID: 'y1' }] },
          options: { animation: false, scales: { y: { type: 'linear', position: 'left' }, y1: { position: 'right' } } },
        }));
      }
      return card;
    }));
  };
  app.append(
    h('h1', {}, 'Jobs'),
    h('div', { class: 'row' }, corpus, h('label', {}, 'tokens ', tokens)),
    h('div', { class: 'row' }, h('label', {}, 'hook ', hook), h('label', {}, 'd_sae ', dSae), h('label', {}, 'out ', out),
      h('button', { id: 'train', onclick: () => void start({ kind: 'train', hook: hook.value, architecture: 'topk', dSae: Number(dSae.value), k: 8, corpus: corpus.value, tokens: Number(tokens.value), out: out.value }) }, 'Train topk SAE')),
    h('div', { class: 'row' }, sae, h('button', { id: 'scan', onclick: () => void start({ kind: 'scan', sae: sae.value, corpus: corpus.value, tokens: Number(tokens.value) }) }, 'Scan')),
    list,
  );
  void refresh();
  const timer = setInterval(() => {
    if (!document.body.contains(list)) return clearInterval(timer);
    void refresh().catch(showError);
  }, 1000);
}

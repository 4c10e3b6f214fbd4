/**
 * Jobs: start training and scan jobs on the corpora the server offers, watch
 * progress with loss and L0 curves, stop or delete them; a finished training
 * job shows its explained variance and its SAE joins the menus.
 */
import { Chart, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip } from 'chart.js';
import { api, ApiError, type C } from '../api.ts';
import { h, showError } from '../dom.ts';

Chart.register(LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);

/** `scanSaeName`: preselect this SAE for a scan (the Feature page's offer for weights without a scan). */
export async function jobsPage(app: HTMLElement, info: C.InfoResponse, scanSaeName?: string): Promise<void> {
  const data = await api.data();
  const corpus = h('select', { id: 'corpus' }, ...data.corpora.map((c) => h('option', { value: c.path }, `${c.path} (${c.kind === 'folder' ? `${c.bytes} .txt files` : `${(c.bytes / 1024).toFixed(0)} KiB`})`))) as HTMLSelectElement;
  const tokens = h('input', { id: 'tokens', value: '50000', size: 8, type: 'number', min: 1 }) as HTMLInputElement;
  const hook = h('input', { id: 'hook', value: info.saes[0]?.hook ?? 'blocks.0.hook_resid_post', size: 26 }) as HTMLInputElement;
  const dSae = h('input', { id: 'dsae', value: '512', size: 6, type: 'number', min: 1 }) as HTMLInputElement;
  const out = h('input', { id: 'out', value: 'runs/web-sae', size: 20 }) as HTMLInputElement;
  const scanSae = h('select', { id: 'scan-sae' }) as HTMLSelectElement;
  const fillSaes = (i: C.InfoResponse) => {
    const keep = scanSae.value;
    scanSae.replaceChildren(...i.saes.map((s) => h('option', { value: s.name }, `${s.name} (${s.hook}, ${s.dSae})`)));
    if (i.saes.some((s) => s.name === keep)) scanSae.value = keep;
  };
  fillSaes(info);
  if (scanSaeName && info.saes.some((s) => s.name === scanSaeName)) scanSae.value = scanSaeName;
  const list = h('div', { id: 'jobs' });
  const start = async (req: C.JobRequest) => {
    showError(null);
    try {
      await api.startJob(req);
      await refresh();
    } catch (e) {
      // The output folder holds an SAE already: replace it only when the user says so (its records stay with the old weights).
      if (e instanceof ApiError && e.status === 409 && req.kind === 'train' && !req.overwrite && window.confirm(`${e.message}\n\nReplace it?`)) return start({ ...req, overwrite: true });
      showError(e);
    }
  };
  const act = async (id: string) => {
    showError(null);
    try {
      await api.deleteJob(id);
      await refresh();
    } catch (e) {
      showError(e);
    }
  };
  const charts = new Map<string, Chart>();
  const finished = new Set<string>();
  const refresh = async () => {
    const r = await api.jobs();
    // A training job that just finished added an SAE: offer it for scans.
    const fresh = r.jobs.filter((j) => j.kind === 'train' && j.status === 'done' && !finished.has(j.id));
    for (const j of r.jobs) if (j.status === 'done') finished.add(j.id);
    if (fresh.length) fillSaes(await api.info());
    list.replaceChildren(...[...r.jobs].reverse().map((j) => {
      const canvas = h('canvas', { height: 70, id: `curve-${j.id}` });
      const live = j.status === 'queued' || j.status === 'running';
      const card = h('div', { class: 'job', 'data-status': j.status, 'data-id': j.id },
        // Plain words: the status, the progress only while it means something, then what the job says.
        h('b', {}, `${j.kind} ${j.id}`), ` ${j.status}${j.status === 'running' ? ` · ${(100 * j.progress).toFixed(0)}%` : ''} · ${j.message}`,
        j.finalEv !== undefined ? h('span', { class: 'final-ev' }, ` · explained variance ${j.finalEv.toFixed(3)}`) : null,
        j.kind === 'train' && j.status === 'done' ? h('a', { class: 'report', href: `/api/jobs/${encodeURIComponent(j.id)}/report`, target: '_blank' }, ' report') : null,
        j.sae ? h('span', { class: 'job-sae', 'data-sae-id': j.sae.id }, ' · SAE ', h('a', { href: `#/registry/${encodeURIComponent(j.sae.name)}` }, j.sae.name)) : null,
        ' ', h('button', { class: live ? 'stop' : 'delete', onclick: () => void act(j.id) }, live ? 'Stop' : 'Delete'),
        j.status === 'stopped' || j.status === 'failed' ? h('button', { class: 'resume', onclick: async () => {
          showError(null);
          try {
            await api.resumeJob(j.id);
            await refresh();
          } catch (e) {
            showError(e);
          }
        } }, 'Resume') : null,
        h('progress', { max: 1, value: j.progress }));
      if (j.curve.length) {
        card.append(h('div', { class: 'chart' }, canvas));
        charts.get(j.id)?.destroy();
        charts.set(j.id, new Chart(canvas, {
          type: 'line',
          data: { labels: j.curve.map((c) => String(c.step)), datasets: [{ label: 'loss', data: j.curve.map((c) => c.loss), borderColor: '#c81e14', yAxisID: 'y' }, { label: 'L0', data: j.curve.map((c) => c.l0), borderColor: '#2a5ac8', yAxisID: 'y1' }] },
          options: { animation: false, scales: { y: { type: 'linear', position: 'left' }, y1: { position: 'right' } } },
        }));
      }
      return card;
    }));
  };
  app.append(
    h('h1', {}, 'Jobs'),
    data.corpora.length
      ? h('div', { class: 'row' }, h('label', {}, 'corpus ', corpus), h('label', {}, 'tokens ', tokens))
      : h('p', { id: 'no-corpora' }, 'No corpora are offered: put .txt or .jsonl files (or folders of .txt files) in the server\'s data folder (serve --data DIR, or the demo\'s --dir), or start the demo with --corpus FILE.'),
    h('div', { class: 'row' }, h('label', {}, 'hook ', hook), h('label', {}, 'd_sae ', dSae), h('label', {}, 'out ', out),
      h('button', { id: 'train', onclick: () => void start({ kind: 'train', hook: hook.value, architecture: 'topk', dSae: Number(dSae.value), k: 8, corpus: corpus.value, tokens: Number(tokens.value), out: out.value }) }, 'Train topk SAE')),
    h('div', { class: 'row' }, scanSae, h('button', { id: 'scan', onclick: () => void start({ kind: 'scan', sae: scanSae.value, corpus: corpus.value, tokens: Number(tokens.value) }) }, 'Scan')),
    list,
  );
  await refresh();
  const timer = setInterval(() => {
    if (!document.body.contains(list)) return clearInterval(timer);
    void refresh().catch(showError);
  }, 1000);
}

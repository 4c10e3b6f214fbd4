/**
 * Density against interpretability on the Registry page (the feature notes'
 * view): one point per feature with a scan and a scored explanation, log10
 * density across, the explanation's detection balanced accuracy up. A click
 * opens the feature.
 */
import { Chart, LinearScale, PointElement, ScatterController, Tooltip } from 'chart.js';
import { api } from '../api.ts';
import { h, showError } from '../dom.ts';

Chart.register(ScatterController, PointElement, LinearScale, Tooltip);

let current: Chart | undefined;

/** Fills `box` with the scatter for `sae` (or says why there is none). */
export async function densityScatter(box: HTMLElement, sae: string): Promise<void> {
  current?.destroy();
  current = undefined;
  box.replaceChildren(h('h2', {}, 'Density vs interpretability'));
  let points;
  try {
    points = (await api.scatter(sae)).points.filter((p) => p.density > 0);
  } catch (e) {
    showError(e);
    return;
  }
  if (!points.length) {
    box.append(h('p', { id: 'scatter-empty' }, 'No feature has both a scan and a scored explanation yet (saescope explain --score, or Explain on a Feature page).'));
    return;
  }
  const canvas = h('canvas', { id: 'scatter', height: 110, 'data-points': points.length }) as HTMLCanvasElement;
  box.append(h('div', { class: 'chart' }, canvas));
  current = new Chart(canvas, {
    type: 'scatter',
    data: { datasets: [{ label: 'features', data: points.map((p) => ({ x: Math.log10(p.density), y: p.detection, feature: p.feature })), backgroundColor: '#1f77b4' }] },
    options: {
      animation: false,
      scales: { x: { title: { display: true, text: 'log10 density' } }, y: { min: 0, max: 1, title: { display: true, text: 'detection balanced accuracy' } } },
      plugins: { tooltip: { callbacks: { label: (c) => `#${(c.raw as { feature: number }).feature}: density 10^${(c.parsed.x ?? 0).toFixed(2)}, detection ${(c.parsed.y ?? 0).toFixed(2)}` } } },
      onClick: (_e, els) => {
        const el = els[0];
        if (el) location.hash = `#/feature/${encodeURIComponent(sae)}/${points[el.index].feature}`;
      },
    },
  });
}

/**
 * A training report: one self-contained HTML page (Chart.js inlined, the data
 * embedded; it needs no network to view) with what the classic SAE tutorial
 * plots: loss, MSE, L0, explained variance and the dead fraction against
 * tokens (from the trainer's JSON-lines log), the log10 feature-density
 * histogram, the decoder-norm and encoder/decoder-cosine histograms, the most
 * and least frequent features, and the evaluation table in SAELens's metric
 * names.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { writeTextAtomic } from '../io/atomicFile.ts';
import { readJsonFile } from '../io/json.ts';
import { loadSae } from './load.ts';
import { loadSparsity } from './saelensFormat.ts';
import type { Sae } from './sae.ts';
import type { StepMetrics } from './train/options.ts';

/** What the page is made of. */
export interface ReportInput {
  readonly sae: Sae;
  /** The SAE's folder (names the SAE in the log and on the page). */
  readonly dir: string;
  /** The trainer's JSON-lines log, when there is one. */
  readonly log?: string;
  /** `saescope eval --json` output, when there is one. */
  readonly evaluation?: Record<string, unknown>;
}

/** A histogram of `values` in `bins` equal bins over their range. */
export function histogram(values: ArrayLike<number>, bins: number): { edges: number[]; counts: number[] } {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) continue;
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  if (!Number.isFinite(lo)) return { edges: [], counts: [] };
  if (hi === lo) hi = lo + 1e-6;
  const w = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) counts[Math.min(bins - 1, Math.floor((values[i] - lo) / w))]++;
  return { edges: Array.from({ length: bins + 1 }, (_, i) => lo + i * w), counts };
}

/** Reads the log's steps for the SAE saved in `dir` (the first SAE when the log names none of them). */
export function readTrainingLog(file: string, dir: string): { tokens: number[]; series: Record<string, number[]> } {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  const tokens: number[] = [];
  const series: Record<string, number[]> = { loss: [], mse_loss: [], l0: [], explained_variance: [], dead_fraction: [] };
  const want = path.resolve(dir);
  lines.forEach((line, i) => {
    let m: StepMetrics;
    try {
      m = JSON.parse(line) as StepMetrics;
    } catch {
      throw new Error(`${file}:${i + 1}: not a JSON line`);
    }
    if (!Array.isArray(m.saes) || !m.saes.length) throw new Error(`${file}:${i + 1}: not a training log line (no saes)`);
    const s = m.saes.find((x) => path.resolve(x.out) === want) ?? m.saes[0];
    tokens.push(m.tokens);
    series.loss.push(s.loss);
    // Logs written before the rename call it `mse`.
    series.mse_loss.push(s.mseLoss ?? (s as { mse?: number }).mse ?? NaN);
    series.l0.push(s.l0);
    series.explained_variance.push(s.explainedVariance);
    series.dead_fraction.push(s.deadFraction);
  });
  if (!tokens.length) throw new Error(`${file}: the log has no steps`);
  return { tokens, series };
}

/** Per-latent decoder norms and encoder/decoder cosines. */
function latentGeometry(sae: Sae): { norms: Float32Array; cosines: Float32Array } {
  const { dIn, dSae } = sae.cfg;
  const We = sae.weights.W_enc.data;
  const Wd = sae.weights.W_dec.data;
  const norms = new Float32Array(dSae);
  const cosines = new Float32Array(dSae);
  const encSq = new Float64Array(dSae);
  const dot = new Float64Array(dSae);
  for (let i = 0; i < dIn; i++) {
    const row = i * dSae;
    for (let j = 0; j < dSae; j++) {
      const e = We[row + j];
      encSq[j] += e * e;
      dot[j] += e * Wd[j * dIn + i];
    }
  }
  for (let j = 0; j < dSae; j++) {
    let s = 0;
    for (let i = 0; i < dIn; i++) s += Wd[j * dIn + i] ** 2;
    norms[j] = Math.sqrt(s);
    const den = Math.sqrt(encSq[j]) * norms[j];
    cosines[j] = den > 0 ? dot[j] / den : 0;
  }
  return { norms, cosines };
}

/** Flattens SAELens's grouped metrics (`group.metric`), numbers only. */
function evalRows(e: Record<string, unknown>): [string, number][] {
  const rows: [string, number][] = [];
  for (const [group, v] of Object.entries(e)) {
    if (typeof v === 'number') rows.push([group, v]);
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (typeof x === 'number') rows.push([`${group}.${k}`, x]);
    }
  }
  return rows;
}

/** Chart.js inlined as one `<script>` element, so a page needs no network to show its plots. */
export function chartJsScript(): string {
  // The UMD build (one file, a global Chart) sits beside the package's CommonJS entry.
  const js = fs.readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.js'), 'utf8');
  return `<script>${js.replace(/<\/script/gi, '<\\/script')}</script>`;
}

/** The report's HTML. */
export function trainingReport(r: ReportInput): string {
  const { sae } = r;
  const log10 = loadSparsity(r.dir, sae.cfg.dSae);
  const geo = latentGeometry(sae);
  const curves = r.log ? readTrainingLog(r.log, r.dir) : undefined;
  const order = log10 ? [...log10.keys()].sort((a, b) => log10[b] - log10[a]) : [];
  const data = {
    title: `${path.basename(path.resolve(r.dir))}: ${sae.cfg.architecture} SAE, ${sae.cfg.dIn} x ${sae.cfg.dSae}${sae.cfg.k ? `, k ${sae.cfg.k}` : ''}, ${sae.cfg.hookName}`,
    curves,
    density: log10 ? histogram(log10.map((v) => Math.max(v, -10)), 40) : (r.evaluation?.features as { log10_density_histogram?: { edges: number[]; counts: number[] } } | undefined)?.log10_density_histogram,
    norms: histogram(geo.norms, 40),
    cosines: histogram(geo.cosines, 40),
    top: order.slice(0, 20).map((f) => [f, log10![f]]),
    bottom: order.slice(-20).reverse().map((f) => [f, log10![f]]),
    evaluation: r.evaluation ? evalRows(r.evaluation) : [],
  };
  // JSON inside <script>: no '<' may close the element early.
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>saescope training report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1100px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1.2em; }
.card { border: 1px solid #ddd; padding: 0.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border-bottom: 1px solid #eee; padding: 2px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.none { color: #888; }
</style>
${chartJsScript()}
</head><body>
<h1 id="title"></h1>
<h2>Training</h2>
<div class="grid" id="curves"></div>
<h2>Latents</h2>
<div class="grid">
<div class="card"><h3>log10 feature density</h3><canvas id="chart-density"></canvas></div>
<div class="card"><h3>Decoder norms</h3><canvas id="chart-norms"></canvas></div>
<div class="card"><h3>Encoder/decoder cosine</h3><canvas id="chart-cosines"></canvas></div>
</div>
<div class="grid">
<div class="card"><h3>Most frequent features</h3><table id="top"></table></div>
<div class="card"><h3>Least frequent features</h3><table id="bottom"></table></div>
</div>
<h2>Evaluation</h2>
<table id="evaluation"></table>
<script>
const data = ${json};
document.getElementById('title').textContent = data.title;
const color = '#c81e14';
const line = (id, label, xs, ys) => new Chart(document.getElementById(id), { type: 'line',
  data: { labels: xs, datasets: [{ label, data: ys, borderColor: color, pointRadius: 0, borderWidth: 1.5 }] },
  options: { animation: false, plugins: { legend: { display: false } }, scales: { x: { type: 'linear', title: { display: true, text: 'tokens' } }, y: { title: { display: true, text: label } } } } });
// Each bar is labelled by its bin's range, with enough digits that neighbouring bins read differently (decoder norms all near 1 included).
const binLabels = (edges) => {
  const width = Math.abs(edges[1] - edges[0]) || 1;
  const digits = Math.min(8, Math.max(2, Math.ceil(-Math.log10(width)) + 1));
  return edges.slice(0, -1).map((e, i) => e.toFixed(digits) + '-' + edges[i + 1].toFixed(digits));
};
const hist = (id, h, label) => new Chart(document.getElementById(id), { type: 'bar',
  data: { labels: binLabels(h.edges), datasets: [{ label: 'latents', data: h.counts, backgroundColor: color }] },
  options: { animation: false, plugins: { legend: { display: false } }, scales: { x: { title: { display: true, text: label } } } } });
const curves = document.getElementById('curves');
if (data.curves) {
  for (const [key, label] of [['loss', 'loss'], ['mse_loss', 'MSE loss (Σ over d_in, per token)'], ['l0', 'L0'], ['explained_variance', 'explained variance'], ['dead_fraction', 'dead fraction']]) {
    const card = document.createElement('div');
    card.className = 'card';
    card.innerHTML = '<h3></h3><canvas></canvas>';
    card.querySelector('h3').textContent = label;
    card.querySelector('canvas').id = 'chart-' + key;
    curves.append(card);
    line('chart-' + key, label, data.curves.tokens, data.curves.series[key]);
  }
} else curves.innerHTML = '<p class="none">No training log was given (saescope train --log FILE, or --report).</p>';
if (data.density) hist('chart-density', data.density, 'log10 density'); else document.getElementById('chart-density').replaceWith(Object.assign(document.createElement('p'), { className: 'none', textContent: 'No sparsity.safetensors and no evaluation.' }));
hist('chart-norms', data.norms, 'decoder row norm');
hist('chart-cosines', data.cosines, 'cosine');
const table = (id, head, rows) => {
  const t = document.getElementById(id);
  const tr = (cells, tag) => { const r = document.createElement('tr'); for (const c of cells) { const x = document.createElement(tag); x.textContent = c; if (tag === 'td' && typeof c === 'number') x.className = 'num'; r.append(x); } return r; };
  t.append(tr(head, 'th'));
  for (const r of rows) t.append(tr(r, 'td'));
  if (!rows.length) t.replaceWith(Object.assign(document.createElement('p'), { className: 'none', textContent: 'none' }));
};
table('top', ['feature', 'log10 density'], data.top.map(([f, d]) => [f, Number(d.toFixed(3))]));
table('bottom', ['feature', 'log10 density'], data.bottom.map(([f, d]) => [f, Number(d.toFixed(3))]));
table('evaluation', ['metric (SAELens name)', 'value'], data.evaluation.map(([k, v]) => [k, Number(v.toPrecision(5))]));
</script>
</body></html>
`;
}

/** Writes the report of the SAE in `dir` (log: `dir/train_log.jsonl` when present and none is given). */
export function writeReport(dir: string, out: string, o: { log?: string; evalFile?: string } = {}): void {
  const log = o.log ?? (fs.existsSync(path.join(dir, 'train_log.jsonl')) ? path.join(dir, 'train_log.jsonl') : undefined);
  const evaluation = o.evalFile ? readJsonFile(o.evalFile) : undefined;
  writeTextAtomic(out, trainingReport({ sae: loadSae(dir), dir, log, evaluation }));
}

/**
 * The ladder as one self-contained HTML page (Chart.js inlined): description
 * length (total and its parts), explained variance, CE loss recovered and
 * MMCS against the width on a log axis, with the bounce marked, and the table.
 */
import { chartJsScript } from '../../sae/report.ts';
import type { Ladder } from './ladder.ts';

/** The ladder report's HTML. */
export function ladderReport(l: Ladder): string {
  const data = {
    title: `Dictionary-size ladder: ${l.architecture}${l.k ? `, k ${l.k}` : ''} SAEs at ${l.hook}`,
    subtitle: `${l.train_tokens} training tokens per width, measured on ${l.eval_tokens} held-out tokens; description length at precision ${l.precision} of RMS(x)`,
    widths: l.rungs.map((r) => r.width),
    total: l.rungs.map((r) => r.description_length.bits_per_token),
    parts: {
      support: l.rungs.map((r) => r.description_length.bits_support),
      values: l.rungs.map((r) => r.description_length.bits_values),
      residual: l.rungs.map((r) => r.description_length.bits_residual),
      dictionary: l.rungs.map((r) => r.description_length.bits_dictionary),
    },
    ev: l.rungs.map((r) => r.explained_variance),
    ce: l.rungs.map((r) => r.ce_loss_score),
    mmcsSmaller: l.rungs.map((r) => r.mmcs_smaller),
    mmcsLarger: l.rungs.map((r) => r.mmcs_larger),
    bounce: l.bounce,
    evidence: l.bounce_evidence,
    table: l.rungs.map((r) => [r.width, r.explained_variance, r.ce_loss_score, r.l0, r.dead_fraction, r.description_length.bits_per_token, r.mmcs_smaller, r.mmcs_larger]),
  };
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>saescope ladder</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1100px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1.2em; }
.card { border: 1px solid #ddd; padding: 0.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border-bottom: 1px solid #eee; padding: 2px 8px; text-align: right; font-variant-numeric: tabular-nums; }
.bounce { font-weight: 600; }
</style>
${chartJsScript()}
</head><body>
<h1 id="title"></h1>
<p id="subtitle"></p>
<p id="bounce" class="bounce"></p>
<div class="grid">
<div class="card"><h3>Description length (bits per token)</h3><canvas id="chart-dl"></canvas></div>
<div class="card"><h3>MMCS with the neighbouring widths</h3><canvas id="chart-mmcs"></canvas></div>
<div class="card"><h3>Explained variance</h3><canvas id="chart-ev"></canvas></div>
<div class="card"><h3>CE loss recovered</h3><canvas id="chart-ce"></canvas></div>
</div>
<h2>Table</h2>
<table id="table"></table>
<script>
const data = ${json};
document.getElementById('title').textContent = data.title;
document.getElementById('subtitle').textContent = data.subtitle;
const b = data.bounce;
document.getElementById('bounce').textContent = (b.description_length || b.mmcs)
  ? 'Bounce: ' + [b.description_length ? 'description length lowest at width ' + b.description_length : '', b.mmcs ? 'MMCS peaks at width ' + b.mmcs : ''].filter(Boolean).join('; ')
  : 'No bounce: neither the lowest width of the description length nor the MMCS peak stands out of the resampling noise (95% intervals of the differences from both neighbours) over these widths.';
const iv = (e) => e ? ' [' + e.width + ': ' + (e.vs_smaller ? 'vs smaller ' + e.vs_smaller.map((v) => v.toPrecision(3)).join(' to ') : 'an end') + '; ' + (e.vs_larger ? 'vs larger ' + e.vs_larger.map((v) => v.toPrecision(3)).join(' to ') : 'an end') + ']' : '';
document.getElementById('bounce').textContent += ' Evidence: description length' + iv(data.evidence.description_length) + '; MMCS' + iv(data.evidence.mmcs) + '.';
const colors = ['#c81e14', '#1f5fbf', '#2a9d3f', '#8a4fbf', '#d08a00'];
const pts = (ys) => data.widths.map((x, i) => ({ x, y: ys[i] })).filter((p) => p.y !== null);
const marker = (at, ys) => at ? [{ label: 'bounce', data: [{ x: at, y: ys[data.widths.indexOf(at)] }], showLine: false, pointRadius: 9, pointStyle: 'crossRot', borderColor: '#000', borderWidth: 2 }] : [];
const chart = (id, series, extra = []) => new Chart(document.getElementById(id), { type: 'line',
  data: { datasets: [...series.map(([label, ys], i) => ({ label, data: pts(ys), borderColor: colors[i % colors.length], backgroundColor: colors[i % colors.length], pointRadius: 3, borderWidth: 1.5 })), ...extra] },
  options: { animation: false, scales: { x: { type: 'logarithmic', title: { display: true, text: 'width (latents)' } } } } });
chart('chart-dl', [['total', data.total], ['which latents fire', data.parts.support], ['values', data.parts.values], ['residual', data.parts.residual], ['dictionary', data.parts.dictionary]], marker(b.description_length, data.total));
chart('chart-mmcs', [['vs next larger', data.mmcsLarger], ['vs next smaller', data.mmcsSmaller]], marker(b.mmcs, data.mmcsLarger));
chart('chart-ev', [['explained variance', data.ev]]);
if (data.ce.some((v) => v !== null)) chart('chart-ce', [['CE loss recovered', data.ce]]);
else document.getElementById('chart-ce').replaceWith(Object.assign(document.createElement('p'), { textContent: 'No model: CE loss recovered needs one.' }));
const t = document.getElementById('table');
const tr = (cells, tag) => { const r = document.createElement('tr'); for (const c of cells) { const x = document.createElement(tag); x.textContent = c === null ? '' : typeof c === 'number' ? String(Number(c.toPrecision(4))) : c; r.append(x); } return r; };
t.append(tr(['width', 'explained variance', 'CE loss recovered', 'L0', 'dead fraction', 'bits per token', 'MMCS smaller', 'MMCS larger'], 'th'));
for (const r of data.table) t.append(tr(r, 'td'));
</script>
</body></html>
`;
}

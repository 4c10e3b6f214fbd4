/** A standalone HTML page with the feature x token heatmap (no scripts, no network). */
import type { TextFeatures } from '../analysis/textFeatures.ts';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Renders the heatmap rows (features) x columns (tokens), color = activation / row max. */
export function heatmapHtml(r: TextFeatures, names: ReadonlyMap<number, string> = new Map(), title = 'saescope heatmap'): string {
  const head = r.tokens.map((t, i) => `<th class="tok${r.pooled[i] ? '' : ' skip'}">${esc(JSON.stringify(t).slice(1, -1))}</th>`).join('');
  const body = r.heatmap.features.map((f, i) => {
    const cells = r.heatmap.normalized[i].map((v, j) => `<td style="background:rgba(220,60,30,${v.toFixed(3)})" title="${r.heatmap.values[i][j].toFixed(3)}">${r.heatmap.values[i][j] > 0 ? r.heatmap.values[i][j].toFixed(1) : ''}</td>`).join('');
    return `<tr><th class="feat">#${f}${names.get(f) ? ' ' + esc(names.get(f)!) : ''}</th>${cells}</tr>`;
  }).join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title><style>
body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ddd;padding:3px 5px;text-align:center;min-width:2.2em}th.tok{font-family:monospace;white-space:pre}
th.skip{color:#aaa}th.feat{text-align:left;white-space:nowrap}</style></head><body>
<h1>${esc(title)}</h1><p>Rows: top features; columns: tokens; color: activation divided by the row's maximum (hover for the value).</p>
<table><tr><th></th>${head}</tr>
${body}
</table></body></html>
`;
}

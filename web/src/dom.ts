/** Tiny DOM helpers. */

/** Creates an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | ((e: Event) => void)> = {}, ...children: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v as EventListener);
    else if (typeof v === 'boolean') {
      if (v) el.setAttribute(k, '');
    } else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** Shows an error in the page's alert bar (or clears it). */
export function showError(e: unknown): void {
  const bar = document.getElementById('error')!;
  if (!e) {
    bar.hidden = true;
    bar.textContent = '';
    return;
  }
  bar.hidden = false;
  bar.textContent = e instanceof Error ? e.message : String(e);
}

/** A token as shown: spaces as '·', newlines as '⏎', tabs as '→' (escaped by textContent). */
export function tokenText(t: string): string {
  return t.replace(/\n/g, '⏎').replace(/\t/g, '→').replace(/ /g, '·') || '∅';
}

/** The shared white-to-red scale: a value's colour at `v / max` (clamped to [0, 1]). */
export function heat(v: number, max: number): string {
  const a = max > 0 ? Math.max(0, Math.min(1, v / max)) : 0;
  // White (255,255,255) to red (200,30,20).
  const c = (w: number, r: number) => Math.round(w + (r - w) * a);
  return `rgb(${c(255, 200)}, ${c(255, 30)}, ${c(255, 20)})`;
}

/** A legend for `heat`: the gradient from 0 to `max`, with the label. */
export function heatLegend(max: number, label: string): HTMLElement {
  return h('div', { class: 'legend', id: 'legend' }, h('span', {}, '0'), h('span', { class: 'ramp', style: `background: linear-gradient(to right, ${heat(0, 1)}, ${heat(1, 1)})` }), h('span', {}, max.toFixed(2)), h('small', {}, ` ${label}`));
}

/** Text with each token's background by its activation relative to `max`. */
export function highlighted(tokens: readonly string[], acts: readonly number[], max: number, focus = -1): HTMLElement {
  const line = h('div', { class: 'tokens' });
  tokens.forEach((t, i) => {
    const span = h('span', { class: `tok${i === focus ? ' focus' : ''}`, title: acts[i].toFixed(3), style: `background: ${heat(acts[i], max)}` }, tokenText(t));
    line.append(span);
  });
  return line;
}

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

/** A token as shown: visible whitespace, escaped by textContent. */
export function tokenText(t: string): string {
  return t.replace(/\n/g, '⏎').replace(/ /g, '\u00a0') || '∅';
}

/** Text with each token's background by its activation relative to `max`. */
export function highlighted(tokens: readonly string[], acts: readonly number[], max: number, focus = -1): HTMLElement {
  const line = h('div', { class: 'tokens' });
  tokens.forEach((t, i) => {
    const a = max > 0 ? acts[i] / max : 0;
    const span = h('span', { class: `tok${i === focus ? ' focus' : ''}`, title: acts[i].toFixed(3), style: `background: rgba(230, 90, 40, ${a.toFixed(3)})` }, tokenText(t));
    line.append(span);
  });
  return line;
}

/** Controls shared by pages. */
import type { C } from '../api.ts';
import { h } from '../dom.ts';

/** A select of the server's SAEs. */
export function saeSelect(info: C.InfoResponse, id = 'sae'): HTMLSelectElement {
  return h('select', { id, name: 'sae' }, ...info.saes.map((s) => h('option', { value: s.name }, `${s.name} (${s.hookOut ? `transcoder ${s.hook} -> ${s.hookOut}` : s.hook}, ${s.dSae})`)));
}

/** A link to a feature's dashboard. */
export function featureLink(sae: string, f: number, label?: string): HTMLAnchorElement {
  return h('a', { href: `#/feature/${encodeURIComponent(sae)}/${f}`, class: 'feature-link', 'data-feature': f }, label ?? `#${f}`);
}

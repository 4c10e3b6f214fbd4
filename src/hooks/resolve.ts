/**
 * Resolves hook names and globs (`blocks.*.hook_resid_post`) against a
 * model's hook points, once, naturally sorted. `*` matches within one dotted
 * segment run (no dots), `**` matches anything. Unknown names are errors that
 * list the valid hooks.
 */
import { naturalCompare, type HookPoint } from './points.ts';

/** Resolves names and globs to hook points; throws on a pattern that matches nothing. */
export function resolveHooks(patterns: readonly string[], points: readonly HookPoint[]): HookPoint[] {
  const byName = new Map(points.map((p) => [p.name, p]));
  const found = new Map<string, HookPoint>();
  for (const pat of patterns) {
    if (!pat.includes('*')) {
      const p = byName.get(pat);
      if (!p) throw unknownHook(pat, points);
      found.set(p.name, p);
      continue;
    }
    const re = globToRegExp(pat);
    const hits = points.filter((p) => re.test(p.name));
    if (hits.length === 0) throw unknownHook(pat, points);
    for (const p of hits) found.set(p.name, p);
  }
  return [...found.values()].sort((a, b) => naturalCompare(a.name, b.name));
}

/** Looks up one exact hook name. */
export function requireHook(name: string, points: readonly HookPoint[]): HookPoint {
  const p = points.find((q) => q.name === name);
  if (!p) throw unknownHook(name, points);
  return p;
}

function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  const parts = esc.split('**').map((p) => p.replace(/\*/g, '[^.]*'));
  return new RegExp('^' + parts.join('.*') + '$');
}

function unknownHook(name: string, points: readonly HookPoint[]): Error {
  const layers = Math.max(0, ...points.map((p) => p.layer + 1)) - 1;
  const block0 = points.filter((p) => p.layer === 0).map((p) => p.name.replace(/^blocks\.0\./, 'blocks.{L}.'));
  const global = points.filter((p) => p.layer < 0 || p.name.startsWith('ln_final')).map((p) => p.name);
  return new Error(
    `unknown hook '${name}'. Valid hooks (L = 0..${Math.max(0, layers - 1)}): ${[...global, ...block0].join(', ')}`,
  );
}

/** Paths from requests are read only inside the configured folders. */
import * as path from 'node:path';

/** Resolves `p` (plus an optional `[a:b]` slice or `:field`) inside one of `roots`; throws naming the path otherwise. */
export function confinedPath(p: string, roots: readonly string[], what: string): string {
  if (typeof p !== 'string' || !p) throw new Error(`${what}: a path is required`);
  if (p.startsWith('npm:')) return p;
  const m = /^(.*?)((?::\w+)?(?:\[\d*:\d*\])?)$/.exec(p)!;
  const abs = path.resolve(roots[0] ?? '.', m[1]);
  for (const r of roots) {
    const rel = path.relative(path.resolve(r), abs);
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) return abs + m[2];
  }
  throw new Error(`${what} '${p}' is outside the data folders this server may read`);
}

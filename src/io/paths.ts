/**
 * Paths from outside (requests, queue jobs) are read and written only inside
 * configured folders. Containment is checked on real paths (symlinks
 * resolved: the path's deepest existing ancestor, then the rest), so a link
 * inside a folder cannot lead a read or a write outside it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The real path of `p`, resolving symlinks in its deepest existing ancestor (for paths about to be created). */
export function realPathOf(p: string): string {
  const abs = path.resolve(p);
  let head = abs;
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(head), ...tail.reverse());
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return abs;
      tail.push(path.basename(head));
      head = parent;
    }
  }
}

/** Whether the real path `real` is `root`'s real path or inside it. */
export function isInside(real: string, root: string): boolean {
  const rel = path.relative(realPathOf(root), real);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Resolves `p` (plus an optional `[a:b]` slice or `:field`) inside one of `roots`; throws naming the path otherwise. */
export function confinedPath(p: string, roots: readonly string[], what: string): string {
  if (typeof p !== 'string' || !p) throw new Error(`${what}: a path is required`);
  if (p.startsWith('npm:')) return p;
  if (p.includes('\0')) throw new Error(`${what}: a path may not contain NUL`);
  const m = /^(.*?)((?::\w+)?(?:\[\d*:\d*\])?)$/.exec(p)!;
  const real = realPathOf(path.resolve(roots[0] ?? '.', m[1]));
  for (const r of roots) if (isInside(real, r)) return real + m[2];
  throw new Error(`${what} '${p}' is outside the data folders this server may read`);
}

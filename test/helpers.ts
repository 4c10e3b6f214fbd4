/** Shared test helpers: fixture paths, the ../shared skip rule, comparisons. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The project root. */
export const root = ROOT;
/** Committed fixtures. */
export const fixtures = path.join(ROOT, 'test', 'fixtures');
/** ../shared beside the project (CI always has it; a user's clone may not). */
export const shared = path.resolve(ROOT, '..', 'shared');
/** The real TinyStories-656K model folder. */
export const tinyStories = path.join(shared, 'models', 'TinyStories-656K');

/** A `skip` option for tests that need ../shared: false when present, else the reason. */
export function needsShared(): false | string {
  return fs.existsSync(tinyStories) ? false : `needs ../shared/models/TinyStories-656K beside the project (absent at ${shared})`;
}

/** A fresh temporary folder. */
export function tmpDir(prefix = 'saescope-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Largest |a - b| over arrays, broadcasting `b` when it is shorter and divides `a`. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length % b.length !== 0) throw new Error(`cannot compare ${a.length} with ${b.length} elements`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i % b.length]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/**
 * The docs cannot rot: every ```sh block of each guide in docs/guides/ runs,
 * in order, as one bash script (`set -euo pipefail`), from a fresh folder
 * with ../shared beside it and `saescope` meaning this checkout's command;
 * every relative link in README.md and docs/ points at a file that exists.
 * (The README's library example runs in test/package.test.ts, against the
 * installed package.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { needsShared, root, shared, tmpDir } from './helpers.ts';

const GUIDES = path.join(root, 'docs', 'guides');

/** The guide's ```sh blocks, in order, joined into one script. */
export function shellBlocks(markdown: string): string {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]).join('\n');
}

for (const guide of fs.readdirSync(GUIDES).filter((f) => f.endsWith('.md')).sort()) {
  test(`docs/guides/${guide}: every command runs`, { skip: needsShared() }, () => {
    const script = shellBlocks(fs.readFileSync(path.join(GUIDES, guide), 'utf8'));
    assert.ok(script.includes('saescope '), 'the guide runs saescope');
    const base = tmpDir();
    fs.symlinkSync(shared, path.join(base, 'shared'));
    const work = path.join(base, 'work');
    fs.mkdirSync(work);
    const prelude = `set -euo pipefail\nsaescope() { ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(root, 'bin', 'saescope.js'))} "$@"; }\n`;
    const r = spawnSync('bash', ['-c', prelude + script], { cwd: work, encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.equal(r.status, 0, `${guide} failed (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
  });
}

test('every relative link in README.md and docs/ resolves', () => {
  const files = ['README.md', ...fs.readdirSync(path.join(root, 'docs'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md') && !f.startsWith('api')).map((f) => path.join('docs', f))];
  const broken: string[] = [];
  for (const f of files) {
    const text = fs.readFileSync(path.join(root, f), 'utf8');
    for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(m[1])) continue;
      if (!fs.existsSync(path.join(root, path.dirname(f), m[1]))) broken.push(`${f}: ${m[1]}`);
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(fs.readFileSync(path.join(root, 'README.md'), 'utf8').split('\n').length <= 200, 'the README stays short: details belong in docs/');
});

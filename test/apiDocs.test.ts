/**
 * The API reference: TypeDoc builds it from src/index.ts (`npm run docs:api`
 * writes docs/api/) with warnings as errors, so every exported function,
 * class, interface, type and constant must carry a doc comment and every
 * {@link} must resolve (typedoc.json).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { root, tmpDir } from './helpers.ts';

test('the API reference builds with every exported symbol documented', () => {
  const out = tmpDir();
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, `typedoc failed:\n${r.stdout}\n${r.stderr}`);
  for (const page of ['index.html', 'functions/loadModel.html', 'classes/Registry.html']) assert.ok(fs.existsSync(path.join(out, page)), `docs/api has ${page}`);
});

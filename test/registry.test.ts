/** The feature registry: edits, search, exchange JSON, migrations, concurrency, crashes, bad files. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Registry } from '../src/registry/registry.ts';
import { MIGRATIONS } from '../src/registry/schema.ts';
import { importRegistry } from '../src/registry/exchange.ts';
import { root, tmpDir } from './helpers.ts';

const WORKER = path.join(root, 'test', 'workers', 'registryWriter.ts');

test('features are created, edited, searched, explained and exchanged as JSON', () => {
  const reg = Registry.open(path.join(tmpDir(), 'r.db'));
  reg.set('ts', 'sae1', 12, { name: 'cats', description: 'fires on cat', confidence: 0.8, tags: ['animals'] });
  reg.set('ts', 'sae1', 12, { notes: 'checked by hand' });
  reg.set('ts', 'sae1', 3, { name: 'dialogue quotes', examples: ['"Hi," said Tom.'] });
  const id = reg.addExplanation('ts', 'sae1', 7, { explanation: 'the word dog', source: 'llm', explainerModel: 'x', promptVersion: 'v1', scores: {} });
  reg.scoreExplanation(id, { detection: { accuracy: 0.9 } });
  const cat = reg.get('ts', 'sae1', 12)!;
  assert.equal(cat.name, 'cats');
  assert.equal(cat.notes, 'checked by hand', 'edits merge');
  assert.deepEqual(reg.list({ search: 'cat' }).map((r) => r.feature), [12]);
  assert.deepEqual(reg.list({ tag: 'animals' }).map((r) => r.feature), [12]);
  assert.deepEqual(reg.list({ search: 'dog' }).map((r) => r.feature), [7], 'search covers explanations');
  assert.deepEqual(reg.explanations('ts', 'sae1', 7)[0].scores, { detection: { accuracy: 0.9 } });
  // Seed-style exchange JSON into a named SAE; a key that is not an index is refused.
  const other = Registry.open(path.join(tmpDir(), 'o.db'));
  assert.equal(importRegistry(other, { 12: { name: 'cats', confidence: 'high' }, 3: { name: 'quotes', examples: ['"Hi"'] } }, { model: 'ts', sae: 'sae1' }).features, 2);
  assert.equal(other.get('ts', 'sae1', 12)!.confidence, 0.75);
  assert.equal(other.get('ts', 'sae1', 12)!.confidenceLabel, 'high');
  assert.throws(() => importRegistry(other, { abc: { name: 'x' } }, { model: 'ts', sae: 'sae1' }), /key 'abc' is not a feature index/);
  assert.throws(() => importRegistry(other, { 1: { confidence: 'sure' } }, { model: 'ts', sae: 'sae1' }), /confidence must be a number in \[0, 1\] or one of low, medium, high, got "sure"/);
  assert.throws(() => reg.set('ts', 'sae1', 1, { confidence: 2 }), /confidence must be in \[0, 1\]/);
  assert.throws(() => reg.set('ts', 'sae1', -1, { name: 'x' }), /non-negative integer/);
});

test('an older registry migrates forward and keeps its data', () => {
  const file = path.join(tmpDir(), 'old.db');
  const db = new Database(file);
  db.exec(MIGRATIONS[0]);
  db.pragma('user_version = 1');
  db.prepare("INSERT INTO features (model, sae, feature, name, updated_at) VALUES ('m', 's', 5, 'kept', 'then')").run();
  db.close();
  const reg = Registry.open(file);
  assert.equal(reg.version, MIGRATIONS.length);
  // Neither 'm' nor 's' is a path here: the row is kept under unresolved entries that name them.
  const sae = reg.identities.saes().find((e) => e.locations.some((l) => l.path === 's'))!;
  assert.equal(sae.status, 'unresolved');
  const model = reg.identities.models().find((e) => e.name === 'm')!;
  assert.equal(reg.get(model.id, sae.id, 5)!.name, 'kept');
  reg.setDashboards(model.id, sae.id, new Map([[5, { density: 0.1 }]]));
  assert.deepEqual(reg.dashboard(model.id, sae.id, 5), { density: 0.1 });
});

test('a file that is not a database is refused and left untouched', () => {
  const file = path.join(tmpDir(), 'notes.db');
  fs.writeFileSync(file, 'these are my notes, not a database\n');
  assert.throws(() => Registry.open(file), /notes\.db: not a saescope registry \(not an SQLite database\); nothing was changed/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'these are my notes, not a database\n');
});

test('8 concurrent writer processes making 500 edits each lose none', async () => {
  const file = path.join(tmpDir(), 'busy.db');
  Registry.open(file).close();
  await Promise.all(Array.from({ length: 8 }, (_, id) => new Promise<void>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', WORKER, 'edits', file, String(id), '500'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer ${id} exited ${code}: ${err}`))));
  })));
  const reg = Registry.open(file);
  assert.equal(reg.list({ model: 'm', sae: 's', limit: 1e6 }).length, 8 * 500 + 1);
  assert.equal(reg.get('m', 's', 3 * 100000 + 500)!.name, 'w3-499');
  assert.equal(reg.get('m', 's', 0)!.tags.length, 8 * 500, 'every concurrent read-modify-write landed');
});

test('a process killed in the middle of writing leaves the database readable with every committed edit', async () => {
  const file = path.join(tmpDir(), 'crash.db');
  Registry.open(file).close();
  const p = spawn(process.execPath, ['--import', 'tsx', WORKER, 'bulk', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if ((out.match(/committed/g) ?? []).length >= 5) {
        clearInterval(check);
        p.kill('SIGKILL');
        resolve();
      }
    }, 5);
  });
  await new Promise((r) => p.on('exit', r));
  const committed = Math.max(...[...out.matchAll(/committed (\d+)/g)].map((m) => Number(m[1])));
  const reg = Registry.open(file);
  const rows = reg.list({ model: 'm', sae: 'bulk', limit: 1e7 });
  assert.ok(rows.length >= (committed + 1) * 2000, `${rows.length} rows, ${committed + 1} batches committed`);
  assert.equal(rows.length % 2000, 0, 'no half-written batch');
  const db = new Database(file, { readonly: true });
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
});

/**
 * The research record's identities (issue 27): an SAE is its content, a model
 * its hub revision or content; copies and spellings find one record, changed
 * weights are a new SAE; a path-keyed registry written by the previous
 * release migrates without losing a row; export then import round-trips.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { exportRegistry, importRegistry } from '../src/registry/exchange.ts';
import { Registry } from '../src/registry/registry.ts';
import { saeIdentity } from '../src/sae/identity.ts';
import { loadSae } from '../src/sae/load.ts';
import { Sae } from '../src/sae/sae.ts';
import { saveSae } from '../src/sae/saelensFormat.ts';
import { loadModel } from '../src/model/load.ts';
import { saelensModelName } from '../src/sae/train/trainer.ts';
import { defaultJobsDir, readSaeList, saeListFile } from '../src/server/saes.ts';
import { fixtures, root, tmpDir } from './helpers.ts';

const CLI = ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts')];

/** A copy of the committed topk SAE fixture in `dir`. */
function copySae(dir: string): string {
  fs.cpSync(path.join(fixtures, 'sae-topk'), dir, { recursive: true });
  return dir;
}

test('an SAE is its content: copies, spellings and symlinks are one SAE; one changed weight or hook is another', () => {
  const dir = tmpDir();
  const a = copySae(path.join(dir, 'a'));
  const b = copySae(path.join(dir, 'copy-of-a'));
  fs.symlinkSync(a, path.join(dir, 'link'));
  const reg = Registry.open(path.join(dir, 'r.db'));
  const ids = [a, `${a}/`, path.join(dir, '.', 'a'), path.relative(process.cwd(), a), b, path.join(dir, 'link')].map((p) => reg.saeEntry(loadSae(p), p).id);
  assert.equal(new Set(ids).size, 1, 'every spelling, the copy and the symlink resolve to one SAE');
  const entry = reg.identities.sae(ids[0])!;
  assert.deepEqual(entry.locations.map((l) => l.path).sort(), [fs.realpathSync(a), fs.realpathSync(b)].sort(), 'locations are real paths, each once');
  assert.equal(entry.name, 'a', 'named after the folder it was first seen in');

  // One float of W_dec changed, in the same folder: a new SAE, under a new name.
  const sae = loadSae(a);
  const w = { ...sae.weights, W_dec: { ...sae.weights.W_dec, data: sae.weights.W_dec.data.slice() } };
  w.W_dec.data[5] += 1e-6;
  saveSae(new Sae(sae.cfg, w), a);
  const changed = reg.saeEntry(loadSae(a), a);
  assert.notEqual(changed.id, ids[0]);
  assert.equal(changed.name, 'a', 'the folder\'s new weights take its name');
  const old = reg.identities.sae(ids[0])!;
  assert.match(old.name, /^a@[0-9a-f]{8}$/, 'the overwritten SAE keeps a suffixed name');
  assert.equal(old.locations[0].path, fs.realpathSync(a), 'the old SAE is still listed, with its last location');
  assert.ok(old.locations.some((l) => l.path === fs.realpathSync(b)), 'and the copy that still holds it');

  // The hook is part of what the SAE means; its metadata is not.
  assert.notEqual(saeIdentity(loadSae(b, { hook: 'blocks.1.hook_resid_post' })), ids[0]);
  const cfg = JSON.parse(fs.readFileSync(path.join(b, 'cfg.json'), 'utf8'));
  cfg.metadata.dataset_path = 'another/dataset';
  cfg.metadata.context_size = 7;
  fs.writeFileSync(path.join(b, 'cfg.json'), JSON.stringify(cfg));
  assert.equal(saeIdentity(loadSae(b)), ids[0]);
  reg.close();
});

test('SAE names are unique: an explicit name another SAE holds is refused naming it; a derived one is de-duplicated', () => {
  const dir = tmpDir();
  const reg = Registry.open(path.join(dir, 'r.db'));
  const a = copySae(path.join(dir, 'one', 'sae'));
  const b = path.join(dir, 'two', 'sae');
  const sae = loadSae(a);
  const w = { ...sae.weights, b_enc: { ...sae.weights.b_enc, data: sae.weights.b_enc.data.map((x) => x + 0.5) } };
  saveSae(new Sae(sae.cfg, w), b);
  assert.equal(reg.saeEntry(loadSae(a), a, 'mine').name, 'mine');
  assert.throws(() => reg.saeEntry(loadSae(b), b, 'mine'), /the SAE name 'mine' is taken by another SAE \(sae-[0-9a-f]{32}, 64 latents, last seen at .*one\/sae\)/);
  assert.equal(reg.saeEntry(loadSae(b), b).name, 'sae');
  const third = copySae(path.join(dir, 'three', 'sae'));
  const t = loadSae(third);
  saveSae(new Sae(t.cfg, { ...t.weights, b_dec: { ...t.weights.b_dec, data: t.weights.b_dec.data.map((x) => x - 1) } }), third);
  assert.equal(reg.saeEntry(loadSae(third), third).name, 'sae-2');
  assert.throws(() => reg.saeEntry(loadSae(a), a, 'has space'), /SAE name 'has space' is not allowed/);
  reg.close();
});

test('a model is its HF revision in the cache layout, else its content; spellings and copies of a folder are one model', () => {
  const dir = tmpDir();
  const reg = Registry.open(path.join(dir, 'r.db'));
  const folder = path.join(dir, 'tiny');
  fs.cpSync(path.join(fixtures, 'tiny-llama'), folder, { recursive: true });
  const copy = path.join(dir, 'elsewhere');
  fs.cpSync(folder, copy, { recursive: true });
  const id = reg.modelAt(folder).id;
  assert.match(id, /^model-[0-9a-f]{32}$/);
  for (const p of [`${folder}/`, path.relative(process.cwd(), folder), copy]) assert.equal(reg.modelAt(p).id, id);
  // config.json's meaning, not its bytes: whitespace and _name_or_path do not matter; a real field does.
  const cfgFile = path.join(copy, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, _name_or_path: '/some/where' }, null, 4));
  assert.equal(reg.modelAt(copy).id, id);
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, rms_norm_eps: 1e-3 }));
  assert.notEqual(reg.modelAt(copy).id, id);
  // An HF cache snapshot is its id and revision.
  const rev = 'a'.repeat(40);
  const snap = path.join(dir, 'hub', 'models--org--tiny-model', 'snapshots', rev);
  fs.cpSync(folder, snap, { recursive: true });
  assert.equal(reg.modelAt(snap).id, `hf:org/tiny-model@${rev}`);
  // Weights rewritten in place are hashed again (the stored hash is kept by stat signature).
  const st = path.join(folder, 'model.safetensors');
  const bytes = fs.readFileSync(st);
  bytes[bytes.length - 1] ^= 1;
  fs.writeFileSync(st, bytes);
  assert.notEqual(reg.modelAt(folder).id, id);
  reg.close();
});

test('a registry written by the previous release (paths as keys) migrates to identities and loses no row', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'registry.db');
  fs.copyFileSync(path.join(fixtures, 'registry-v6', 'registry.db'), file);
  // The folders the old keys named, beside the registry; 'gone/sae' and 'gone-model' are not there.
  copySae(path.join(dir, 'sae-topk'));
  fs.cpSync(path.join(fixtures, 'tiny-llama'), path.join(dir, 'tiny-llama'), { recursive: true });
  const before = new Database(file, { readonly: true });
  const count = (db: Database.Database, t: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
  const tables = ['features', 'explanations', 'dashboards', 'steering', 'steering_descriptions', 'llm_cache'];
  const n0 = Object.fromEntries(tables.map((t) => [t, count(before, t)]));
  before.close();

  const reg = Registry.open(file);
  assert.ok(reg.migration, 'the path keys were migrated on open');
  const sae = reg.identities.sae(saeIdentity(loadSae(path.join(fixtures, 'sae-topk'))))!;
  assert.ok(sae, 'the SAE folder resolved to its content identity');
  assert.equal(sae.locations[0].path, fs.realpathSync(path.join(dir, 'sae-topk')));
  const model = reg.modelAt(path.join(dir, 'tiny-llama'));
  assert.equal(reg.migration!.models['tiny-llama'], model.id);
  assert.equal(reg.migration!.saes['sae-topk'], sae.id);
  assert.equal(reg.migration!.saes['./sae-topk/'], sae.id, 'both spellings merged');
  // Features: feature 2 existed under both spellings; the newer row wins and the older name is kept in its notes.
  const feats = reg.list({ model: model.id, sae: sae.id, limit: 100 });
  assert.deepEqual(feats.map((f) => f.feature), [1, 2, 3]);
  const f2 = reg.get(model.id, sae.id, 2)!;
  assert.equal(f2.name, 'dogs');
  assert.match(f2.notes!, /renamed later/);
  assert.match(f2.notes!, /also named 'dogs \(older\)'/);
  assert.deepEqual(f2.tags, ['animal'], 'tags of both rows kept');
  const f1 = reg.get(model.id, sae.id, 1)!;
  assert.deepEqual([f1.name, f1.description, f1.confidence, f1.notes, f1.tags, f1.examples], ['cats', 'the word cat', 0.8, 'seen in stories', ['animal'], ['the cat sat']]);
  const e1 = reg.explanations(model.id, sae.id, 1);
  assert.deepEqual(e1.map((e) => e.source).sort(), ['heuristic', 'llm']);
  assert.deepEqual(e1.find((e) => e.source === 'llm')!.scores, { detection: { balancedAccuracy: 0.82 }, fuzzing: { balancedAccuracy: 0.71 } });
  assert.equal(reg.explanations(model.id, sae.id, 3)[0].explanation, 'commas in lists');
  assert.deepEqual(reg.dashboard(model.id, sae.id, 4), { density: 0.2, maxAct: 1.25, top: [] });
  assert.deepEqual(reg.calibration(model.id, sae.id, 1), { feature: 1, onset: 2, breakpoint: 6 });
  assert.equal(reg.steeringDescriptions(model.id, sae.id, 3)[0].description, 'more commas');
  assert.equal(reg.cachedAnswer('k1'), 'an answer');
  // The gone SAE and model: kept under unresolved entries, with every row.
  const gone = reg.identities.saes().find((s) => s.status === 'unresolved')!;
  assert.equal(gone.locations[0].path, 'gone/sae');
  assert.equal(reg.list({ sae: gone.id, limit: 10 })[0].name, 'kept though gone');
  const goneModel = reg.identities.models().find((m) => m.status === 'unresolved')!;
  assert.equal(goneModel.name, 'gone-model');
  assert.equal(reg.explanations(goneModel.id, gone.id, 7)[0].explanation, 'orphan explanation');
  assert.deepEqual(reg.calibration(goneModel.id, gone.id, 7), { feature: 7, onset: 1 });
  reg.close();
  // Every row is there: the one collision (feature 2) merged into one row, everything else one for one.
  const after = new Database(file, { readonly: true });
  for (const t of tables) assert.equal(count(after, t === 'steering' ? 'calibrations' : t), n0[t] - (t === 'features' ? 1 : 0), t);
  assert.equal(count(after, 'calibration_applied'), n0.steering, 'every calibration the old registry held is still the applied one');
  after.close();
  // registry doctor names what could not be attached.
  const doctor = JSON.parse(execFileSync(process.execPath, [...CLI, 'registry', 'doctor', '--registry', file, '--json'], { encoding: 'utf8' }));
  assert.deepEqual(doctor.unresolved.map((s: { name: string; features: number }) => [s.name, s.features]), [['unresolved-sae', 2]], 'feature 7 under the kept model and under the gone one');
  assert.deepEqual(doctor.unresolvedModels.map((m: { name: string }) => m.name), ['gone-model']);
  // Opening again changes nothing.
  const again = Registry.open(file);
  assert.equal(again.migration, undefined);
  again.close();
});

test('registry export then import into an empty registry gives equal records; seed-style JSON with confidence words imports', () => {
  const dir = tmpDir();
  const reg = Registry.open(path.join(dir, 'a.db'));
  const saeDir = copySae(path.join(dir, 'sae'));
  const keys = { model: reg.modelAt(path.join(fixtures, 'tiny-llama')).id, sae: reg.saeEntry(loadSae(saeDir), saeDir, 'topk-64').id };
  reg.set(keys.model, keys.sae, 3, { name: 'commas', description: 'list commas', confidence: 0.6, notes: 'n', tags: ['punct', 'syntax'], examples: ['a, b'] });
  reg.set(keys.model, keys.sae, 9, { name: 'sure', confidenceLabel: 'medium' });
  const id = reg.addExplanation(keys.model, keys.sae, 3, { explanation: 'commas between items', source: 'llm', explainerModel: 'gpt-x', promptVersion: 'saescope-v1', scores: {} });
  reg.scoreExplanation(id, { detection: { balancedAccuracy: 0.9 }, fuzzing: { balancedAccuracy: 0.7 } });
  reg.addExplanation(keys.model, keys.sae, 3, { explanation: 'punctuation', source: 'neuronpedia', explainerModel: 'np', promptVersion: null, scores: { np: 1 } });
  reg.setHeuristicNames(keys.model, keys.sae, new Map([[3, ','], [5, 'the']]));
  reg.setCalibration(keys.model, keys.sae, 3, { onset: 1, breakpoint: 4, typicalMax: 2 });
  reg.setSteeringDescriptions(keys.model, keys.sae, [{ feature: 3, prompt: 'Once', magnitude: 2, description: 'commas', similarity: 0.4, method: 'lexical' }]);
  reg.setDashboards(keys.model, keys.sae, new Map([[3, { density: 0.1, maxAct: 2 }]]));
  const exported = exportRegistry(reg, keys, { dashboards: true });
  reg.close();

  const empty = Registry.open(path.join(dir, 'b.db'));
  const rep = importRegistry(empty, JSON.parse(JSON.stringify(exported)));
  assert.deepEqual(rep.keys, keys, 'imported under the same identities');
  assert.equal(empty.identities.sae(keys.sae)!.name, 'topk-64');
  const again = exportRegistry(empty, keys, { dashboards: true });
  assert.deepEqual(again, exported, 'export -> import -> export is the identity');
  assert.equal(empty.get(keys.model, keys.sae, 9)!.confidence, 0.5);
  // Importing twice adds no duplicate explanations.
  assert.equal(importRegistry(empty, exported).explanations, 0);
  assert.deepEqual(exportRegistry(empty, keys, { dashboards: true }), exported);
  // The seed shape, with confidence words.
  importRegistry(empty, { 12: { name: 'rivers', description: 'water', confidence: 'high', examples: ['the river'] }, 13: { name: 'x', confidence: 0.3 } }, keys);
  const r12 = empty.get(keys.model, keys.sae, 12)!;
  assert.deepEqual([r12.name, r12.confidence, r12.confidenceLabel, r12.examples], ['rivers', 0.75, 'high', ['the river']]);
  assert.equal(empty.get(keys.model, keys.sae, 13)!.confidenceLabel, null);
  assert.throws(() => importRegistry(empty, { 1: { name: 'x' } }), /need the SAE and model to file them under/);
  empty.close();
});

test('saescope sae add|list|remove manage the SAEs serve serves from a data folder', async () => {
  const data = tmpDir();
  const a = copySae(path.join(data, 'a'));
  const run = (...args: string[]) => JSON.parse(execFileSync(process.execPath, [...CLI, 'sae', ...args, '--data', data, '--json'], { encoding: 'utf8' }) || 'null');
  execFileSync(process.execPath, [...CLI, 'sae', 'add', `mine=${a}`, '--data', data, '--registry', path.join(data, 'r.db')], { encoding: 'utf8' });
  assert.deepEqual(run('list'), [{ dir: fs.realpathSync(a), name: 'mine', exists: true }]);
  assert.deepEqual(readSaeList(saeListFile(defaultJobsDir(data))), [{ dir: fs.realpathSync(a), name: 'mine' }], 'the list serve reads');
  // Adding the same folder again (another spelling) keeps one entry.
  execFileSync(process.execPath, [...CLI, 'sae', 'add', `${a}/`, '--data', data], { encoding: 'utf8' });
  assert.equal(run('list').length, 1);
  const bad = spawnSync(process.execPath, [...CLI, 'sae', 'remove', 'nosuch', '--data', data], { encoding: 'utf8' });
  assert.match(bad.stderr, /nosuch: not in .*saes\.json \(listed: mine\)/);
  execFileSync(process.execPath, [...CLI, 'sae', 'remove', 'mine', '--data', data], { encoding: 'utf8' });
  assert.deepEqual(run('list'), []);
  assert.ok(fs.existsSync(path.join(a, 'cfg.json')), 'the files stay');
});

test('SAELens model_name: the hub id of an HF cache folder, the config\'s _name_or_path, else the folder name with a warning', async () => {
  const dir = tmpDir();
  const snap = path.join(dir, 'models--org--tiny-model', 'snapshots', 'b'.repeat(40));
  fs.cpSync(path.join(fixtures, 'tiny-llama'), snap, { recursive: true });
  const warnings = [] as string[];
  assert.equal(saelensModelName(await loadModel(snap), (m) => warnings.push(m)), 'org/tiny-model');
  const named = path.join(dir, 'named');
  fs.cpSync(path.join(fixtures, 'tiny-llama'), named, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(named, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(named, 'config.json'), JSON.stringify({ ...cfg, _name_or_path: 'meta-llama/Llama-3.2-1B' }));
  assert.equal(saelensModelName(await loadModel(named), (m) => warnings.push(m)), 'meta-llama/Llama-3.2-1B');
  assert.equal(warnings.length, 0);
  assert.equal(saelensModelName(await loadModel(path.join(fixtures, 'tiny-llama')), (m) => warnings.push(m)), 'tiny-llama');
  assert.match(warnings[0], /names the model 'tiny-llama' \(its folder's name\): give --model-name/);
});

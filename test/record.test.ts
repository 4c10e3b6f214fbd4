/**
 * The research record as a user meets it (issue 27), on TinyStories-656K:
 * one scan is found by every spelling of the SAE's path, after a server
 * restart and in an exported site; retraining into a used folder is refused,
 * and an overwrite is a new SAE that inherits nothing; SAELens metadata names
 * the model, never a machine path.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { Registry } from '../src/registry/registry.ts';
import { saeIdentity } from '../src/sae/identity.ts';
import { loadSae } from '../src/sae/load.ts';
import { Sae } from '../src/sae/sae.ts';
import { saveSae } from '../src/sae/saelensFormat.ts';
import { buildServer } from '../src/server/app.ts';
import { keysOf, needsShared, saescopeCli, storiesCorpus, tinyStories, tmpDir, trainedSae } from './helpers.ts';

const skip = needsShared();
const h = { host: '127.0.0.1', 'content-type': 'application/json' };

test('one SAE scanned once is found by every spelling of its path, after a server restart, and in an exported site', { skip }, async () => {
  const work = tmpDir();
  const run = (...args: string[]) => saescopeCli(args, process.env, work);
  const dir = path.join(work, 'runs', 'topk_s0');
  fs.cpSync(await trainedSae(), dir, { recursive: true });
  fs.symlinkSync(dir, path.join(work, 'link'));
  const db = path.join(work, 'reg.db');
  const scan = await run('scan', '--model', tinyStories, '--sae', 'runs/topk_s0', '--corpus', `${storiesCorpus}[400:460]`, '--tokens', '3000', '--registry', db, '--json');
  assert.equal(scan.code, 0, scan.stderr);
  const reg = Registry.open(db);
  const keys = await keysOf(reg, tinyStories, dir);
  const f = reg.browse(keys.model, keys.sae, { sort: 'density', desc: true, limit: 1 }).rows[0].feature;
  reg.close();
  const set = await run('registry', 'set', '--registry', db, '--sae', 'runs/topk_s0', '--feature', String(f), '--name', 'story words');
  assert.equal(set.code, 0, set.stderr);

  // Every spelling, with and without the model (the model with a trailing slash), and the SAE's registry name.
  const moved = path.join(work, 'elsewhere', 'moved-sae');
  const spellings = ['./runs/topk_s0', 'runs/topk_s0/', dir, `${dir}/`, 'link', 'topk_s0'];
  for (const sae of spellings) {
    for (const model of [[], ['--model', `${tinyStories}/`]]) {
      const show = await run('registry', 'show', '--registry', db, ...model, '--sae', sae, '--feature', String(f));
      assert.equal(show.code, 0, `${sae}: ${show.stderr}`);
      const j = JSON.parse(show.stdout);
      assert.equal(j.feature.name, 'story words', sae);
      assert.ok(j.dashboard.count > 0, `${sae}: the scan's dashboard`);
    }
  }
  fs.mkdirSync(path.dirname(moved), { recursive: true });
  fs.renameSync(dir, moved);
  const afterMove = await run('conditional', '--registry', db, '--model', tinyStories, '--sae', 'elsewhere/moved-sae/', '--feature', String(f), '--json');
  assert.equal(afterMove.code, 0, `a moved folder: ${afterMove.stderr}`);
  fs.renameSync(moved, dir);
  const nowhere = await run('registry', 'show', '--registry', db, '--sae', 'runs/nosuch', '--feature', String(f));
  assert.notEqual(nowhere.code, 0);
  assert.match(nowhere.stderr, /--sae runs\/nosuch: no such SAE folder, and no SAE of that name/);
  const features = await run('features', '--registry', db, '--model', tinyStories, '--sae', './link/', '--top', '64', '--json', 'Once upon a time, there was a little girl.');
  assert.equal(features.code, 0, features.stderr);

  // The server, given one spelling; after a restart without --sae, the saved list serves it again.
  const model = await loadModel(tinyStories);
  const first = await buildServer(model, { saes: [{ dir: `${path.relative(process.cwd(), dir)}/` }], registry: db, dataDirs: [work] });
  const info = (await first.app.inject({ method: 'GET', url: '/api/info', headers: h })).json();
  assert.deepEqual(info.saes.map((s: { name: string; id: string; scanned: boolean }) => [s.name, s.id, s.scanned]), [['topk_s0', keys.sae, true]]);
  await first.app.close();
  const second = await buildServer(model, { saes: [], registry: db, dataDirs: [work] });
  const feat = (await second.app.inject({ method: 'GET', url: `/api/feature/topk_s0/${f}`, headers: h })).json();
  assert.equal(feat.record.name, 'story words');
  assert.equal(feat.saeId, keys.sae);
  assert.ok(feat.dashboard.count > 0);
  await second.app.close();

  // An exported site finds the record by identity from an absolute path.
  const site = path.join(work, 'site');
  const ex = await run('export-site', '--model', tinyStories, '--sae', `demo=${dir}`, '--registry', db, '--out', site, '--json');
  assert.equal(ex.code, 0, ex.stderr);
  const manifest = JSON.parse(fs.readFileSync(path.join(site, 'data', 'manifest.json'), 'utf8'));
  assert.equal(manifest.saes[0].id, keys.sae);
  const data = JSON.parse(fs.readFileSync(path.join(site, manifest.saes[0].features.path), 'utf8'));
  assert.equal(data.features[String(f)].record.name, 'story words');
  assert.ok(data.features[String(f)].dashboard.count > 0);
  // An SAE with no scan (new weights) is refused by name, or exported with a warning when allowed.
  const fresh = path.join(work, 'fresh');
  const s = loadSae(dir);
  saveSae(new Sae(s.cfg, { ...s.weights, b_enc: { ...s.weights.b_enc, data: s.weights.b_enc.data.map((x) => x * 0.5) } }), fresh);
  const refused = await run('export-site', '--model', tinyStories, '--sae', `new=${fresh}`, '--registry', db, '--out', path.join(work, 'site2'));
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /SAE new has no scan in .*reg\.db for these weights \(sae-[0-9a-f]{32}\): run saescope scan first, or pass --allow-empty/);
  assert.ok(!fs.existsSync(path.join(work, 'site2', 'data', 'manifest.json')), 'nothing was written');
  const allowed = await run('export-site', '--model', tinyStories, '--sae', `new=${fresh}`, '--registry', db, '--out', path.join(work, 'site2'), '--allow-empty');
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stderr, /warning: SAE new has no scan/);
});

test('train refuses a folder that holds an SAE; --overwrite makes a new SAE that inherits none of the old records', { skip }, async () => {
  const work = tmpDir();
  const run = (...args: string[]) => saescopeCli(args, process.env, work);
  const db = path.join(work, 'reg.db');
  const train = (...extra: string[]) => run('train', '--model', tinyStories, '--hook', 'blocks.1.hook_resid_pre', '--arch', 'topk', '--k', '4', '--corpus', `${storiesCorpus}[0:40]`,
    '--tokens', '4096', '--batch-size', '512', '--out', 'runs/a', '--quiet', ...extra);
  const first = await train('--expansion', '1');
  assert.equal(first.code, 0, first.stderr);
  // SAELens's model_name: the folder's base name (no hub id is known), with a warning naming the flag; never the machine path.
  const cfg = JSON.parse(fs.readFileSync(path.join(work, 'runs', 'a', 'cfg.json'), 'utf8'));
  assert.equal(cfg.metadata.model_name, 'TinyStories-656K');
  assert.equal(cfg.metadata.dataset_path, '', 'a local corpus is not a dataset SAELens could resolve');
  assert.match(first.stderr, /warning: the saved cfg\.json names the model 'TinyStories-656K'.*--model-name/);
  const oldId = saeIdentity(loadSae(path.join(work, 'runs', 'a')));
  const scan = await run('scan', '--model', tinyStories, '--sae', 'runs/a', '--corpus', `${storiesCorpus}[400:440]`, '--tokens', '2000', '--registry', db);
  assert.equal(scan.code, 0, scan.stderr);
  assert.equal((await run('registry', 'set', '--registry', db, '--sae', 'runs/a', '--feature', '1', '--name', 'old name')).code, 0);
  const reg = Registry.open(db);
  const oldKeys = await keysOf(reg, tinyStories, path.join(work, 'runs', 'a'));
  reg.setCalibration(oldKeys.model, oldKeys.sae, 1, { onset: 1, breakpoint: 3 });
  reg.close();

  const again = await train('--expansion', '2');
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /--out runs\/a already holds an SAE; pass --overwrite to replace it/);
  assert.equal(saeIdentity(loadSae(path.join(work, 'runs', 'a'))), oldId, 'the old SAE is untouched');
  const over = await train('--expansion', '2', '--overwrite', '--model-name', 'raincandy-u/TinyStories-656K');
  assert.equal(over.code, 0, over.stderr);
  assert.equal(JSON.parse(fs.readFileSync(path.join(work, 'runs', 'a', 'cfg.json'), 'utf8')).metadata.model_name, 'raincandy-u/TinyStories-656K');
  const show = await run('registry', 'show', '--registry', db, '--model', tinyStories, '--sae', 'runs/a', '--feature', '1');
  assert.notEqual(show.code, 0, 'nothing of the old SAE shows for the new weights');
  assert.match(show.stderr, /feature 1 of a is not in the registry/);
  const r2 = Registry.open(db);
  const newKeys = await keysOf(r2, tinyStories, path.join(work, 'runs', 'a'));
  assert.notEqual(newKeys.sae, oldId);
  assert.equal(r2.calibration(newKeys.model, newKeys.sae, 1), undefined);
  assert.equal(r2.dashboards.count(newKeys.model, newKeys.sae), 0);
  const old = r2.identities.sae(oldId)!;
  assert.match(old.name, /^a@[0-9a-f]{8}$/);
  assert.equal(old.locations[0].path, fs.realpathSync(path.join(work, 'runs', 'a')), 'the old SAE is listed with its last location');
  assert.equal(r2.get(oldKeys.model, oldId, 1)!.name, 'old name', 'and keeps its records');
  r2.close();
  const saes = JSON.parse((await run('registry', 'saes', '--registry', db, '--json')).stdout) as { name: string; id: string }[];
  assert.deepEqual(saes.map((s) => s.id).sort(), [oldId, newKeys.sae].sort());
});

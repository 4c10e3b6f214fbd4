/** The analysis and registry commands end to end. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { readCorpus } from '../src/data/corpus.ts';
import { loadModel } from '../src/model/load.ts';
import { needsShared, root, storiesCorpus, tinyStories, tmpDir, trainedSae } from './helpers.ts';

const BIN = path.join(root, 'bin', 'saescope.js');

async function saescope(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: root, maxBuffer: 1 << 26 });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

test('features, top-texts, scan, compare and registry commands', { skip: needsShared() }, async () => {
  const sae = await trainedSae();
  const dir = tmpDir();
  const db = path.join(dir, 'reg.db');
  const html = path.join(dir, 'heat.html');
  const m = ['--model', tinyStories, '--sae', sae];
  const feats = await saescope('features', ...m, '--top', '5', '--json', '--html', html, 'Once upon a time, there was a cat.');
  assert.equal(feats.code, 0, feats.stderr);
  const fj = JSON.parse(feats.stdout);
  assert.equal(fj.top.length, 5);
  assert.match(fs.readFileSync(html, 'utf8'), /<table>[\s\S]*#\d+/);
  const f = fj.top[0].feature;
  const table = await saescope('features', ...m, '--top', '3', 'Once upon a time, there was a cat.');
  assert.match(table.stdout, /^feature\s+name\s+max/);
  const scan = await saescope('scan', ...m, '--corpus', storiesCorpus + '[400:500]', '--tokens', '5000', '--registry', db, '--json');
  assert.equal(scan.code, 0, scan.stderr);
  assert.ok(JSON.parse(scan.stdout).meanL0 > 0);
  const top = await saescope('top-texts', ...m, '--feature', String(f), '--corpus', storiesCorpus + '[400:500]', '--tokens', '5000', '--top', '3', '--json');
  const tops = JSON.parse(top.stdout) as { ids: number[]; focus: number; doc: number; docToken: number }[];
  assert.equal(tops.length, 3);
  // Each example names its document and token: that document's own tokenization has the example's context there.
  const model = await loadModel(tinyStories);
  const docsRead: string[] = [];
  for await (const d of readCorpus(storiesCorpus + '[400:500]')) docsRead.push(d);
  for (const e of tops) {
    const ids = model.tokenizer!.encode(docsRead[e.doc], { bos: false });
    const before = Math.min(e.focus, e.docToken + 1);
    assert.deepEqual(ids.slice(e.docToken - before + 1, e.docToken + 1), e.ids.slice(e.focus - before + 1, e.focus + 1), `document ${e.doc} token ${e.docToken}`);
  }
  const withDocs = await saescope('top-texts', ...m, '--feature', String(f), '--corpus', storiesCorpus + '[400:500]', '--tokens', '5000', '--top', '1', '--documents');
  assert.equal(withDocs.code, 0, withDocs.stderr);
  assert.ok(withDocs.stdout.includes(`--- document ${tops[0].doc} `) && withDocs.stdout.includes(docsRead[tops[0].doc]), 'the whole document is printed');
  const cmp = await saescope('compare', ...m, '--json', 'The dog ran.', 'The cat slept.');
  assert.ok(JSON.parse(cmp.stdout).length > 0);
  const set = await saescope('registry', 'set', '--registry', db, '--model', tinyStories, '--sae', sae, '--feature', String(f), '--name', 'story openings', '--tags', 'narrative,start');
  assert.equal(set.code, 0, set.stderr);
  const show = JSON.parse((await saescope('registry', 'show', '--registry', db, '--model', tinyStories, '--sae', sae, '--feature', String(f))).stdout);
  assert.equal(show.feature.name, 'story openings');
  assert.ok(show.dashboard.top.length > 0, 'the scan stored dashboards');
  const exported = path.join(dir, 'export.json');
  await saescope('registry', 'export', '--registry', db, '--model', tinyStories, '--sae', sae, '--out', exported);
  assert.equal(JSON.parse(fs.readFileSync(exported, 'utf8')).features[String(f)].name, 'story openings');
  const list = await saescope('registry', 'list', '--registry', db, '--search', 'openings');
  assert.match(list.stdout, /story openings/);
  const bad = await saescope('top-texts', ...m, '--feature', '99999', '--corpus', storiesCorpus, '--tokens', '100');
  assert.match(bad.stderr, /feature 99999 is out of range \[0, 512\)/);
  fs.writeFileSync(path.join(dir, 'not.db'), 'hello');
  const notDb = await saescope('registry', 'list', '--registry', path.join(dir, 'not.db'));
  assert.match(notDb.stderr, /not a saescope registry/);
});

test('steer and sweep commands', { skip: needsShared() }, async () => {
  const sae = await trainedSae();
  const dir = tmpDir();
  const m = ['--model', tinyStories, '--sae', sae];
  const st = await saescope('steer', ...m, '--feature', '3', '--strength', '60', '--max-new-tokens', '12', '--json', 'Once upon a time,');
  assert.equal(st.code, 0, st.stderr);
  const j = JSON.parse(st.stdout);
  assert.equal(j.steeredIds.length, 12);
  assert.notDeepEqual(j.steeredIds, j.unsteeredIds);
  const ab = await saescope('steer', ...m, '--feature', '3', '--clamp', '0', '--positions', 'generated', '--max-new-tokens', '8', 'Once upon a time,');
  assert.match(ab.stdout, /unsteered: Once upon a time,[\s\S]*steered: Once upon a time,/);
  const csv = path.join(dir, 's.csv');
  const sw = await saescope('sweep', ...m, '--features', '3,4', '--prompts', 'Once upon a time,|The dog', '--magnitudes', '0,1,3', '--max-new-tokens', '8', '--csv', csv, '--registry', path.join(dir, 'r.db'));
  assert.equal(sw.code, 0, sw.stderr);
  assert.match(sw.stdout, /robustness vs density: Spearman rho/);
  assert.equal(fs.readFileSync(csv, 'utf8').trim().split('\n').length, 1 + 2 * 2 * 3);
  const bad = await saescope('steer', ...m, '--feature', '3', '--strength', 'NaN', 'x');
  assert.match(bad.stderr, /--strength expects a number, got 'NaN'/);
  const none = await saescope('steer', ...m, '--feature', '3', 'x');
  assert.match(none.stderr, /exactly one of --preset, --strength or --clamp/);
});

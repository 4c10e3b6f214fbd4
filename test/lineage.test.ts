/**
 * Feature lineage (`saescope match`): an SAE B made from a trained SAE A
 * with one latent split in two, one latent replaced by a new direction and
 * the rest copied. The match must find exactly that, with activation
 * correlations equal to ones computed here from the codes; names and
 * explanations carry to the matches; SAEs on different hooks are refused.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { matchSaes } from '../src/analysis/lineage.ts';
import { activationGroups } from '../src/data/activationSource.ts';
import { loadModel } from '../src/model/load.ts';
import { Registry } from '../src/registry/registry.ts';
import { loadSae } from '../src/sae/load.ts';
import { Sae } from '../src/sae/sae.ts';
import { saveSae } from '../src/sae/saelensFormat.ts';
import { needsShared, root, storiesCorpus, tinyStories, tmpDir, trainedSae, keysOf } from './helpers.ts';

const skip = needsShared();
const corpus = storiesCorpus + '[500:560]';
const SPLIT = 3;
const GONE = 7;

/** A (the trained SAE, read as ReLU so that codes do not depend on the other latents) and B made from it. */
async function pair(): Promise<{ a: Sae; b: Sae; newB: number; splitB: [number, number] }> {
  const t = loadSae(await trainedSae());
  const cfg = { ...t.cfg, architecture: 'standard' as const, k: undefined };
  const a = new Sae(cfg, t.weights);
  const { dIn, dSae } = cfg;
  const Wd = t.weights.W_dec.data;
  const We = t.weights.W_enc.data; // [dIn, dSae]
  const nB = dSae + 1;
  const WdB = new Float32Array(nB * dIn);
  const WeB = new Float32Array(dIn * nB);
  const bB = new Float32Array(nB);
  const row = (i: number) => Wd.subarray(i * dIn, (i + 1) * dIn);
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
  const u = Float32Array.from({ length: dIn }, rand);
  const norm = (v: Float32Array) => Math.hypot(...v);
  for (let j = 0; j < dSae; j++) {
    let r: Float32Array = row(j);
    if (j === SPLIT) r = r.map((x, i) => x + (0.35 * norm(row(j)) * u[i]) / norm(u));
    if (j === GONE) r = Float32Array.from({ length: dIn }, rand);
    WdB.set(r, j * dIn);
    for (let i = 0; i < dIn; i++) WeB[i * nB + j] = We[i * dSae + j];
    bB[j] = t.weights.b_enc.data[j];
  }
  // The second half of the split: the same encoder column, the decoder pushed the other way.
  WdB.set(row(SPLIT).map((x, i) => x - (0.35 * norm(row(SPLIT)) * u[i]) / norm(u)), dSae * dIn);
  for (let i = 0; i < dIn; i++) WeB[i * nB + dSae] = We[i * dSae + SPLIT];
  bB[dSae] = t.weights.b_enc.data[SPLIT];
  const b = new Sae({ ...cfg, dSae: nB }, {
    W_enc: { dtype: 'float32', shape: [dIn, nB], data: WeB }, b_enc: { dtype: 'float32', shape: [nB], data: bB },
    W_dec: { dtype: 'float32', shape: [nB, dIn], data: WdB }, b_dec: t.weights.b_dec,
  });
  return { a, b, newB: GONE, splitB: [SPLIT, dSae] };
}

test('match finds the split, the gone and the new latent; the rest match themselves; correlations equal ones computed from the codes', { skip }, async () => {
  const model = await loadModel(tinyStories);
  const { a, b, newB, splitB } = await pair();
  const l = await matchSaes(a, b, { model, corpus, tokens: 3000, threshold: 0.7 });
  assert.equal(l.tokens, 3000);
  assert.deepEqual(l.splits.map((s) => s.latent), [SPLIT]);
  assert.deepEqual(l.splits[0].into.map((m) => m.latent).sort((x, y) => x - y), splitB);
  assert.deepEqual(l.gone, [GONE]);
  assert.deepEqual(l.added, [newB]);
  for (const m of l.matches) {
    if (m.latent === GONE) continue;
    if (m.latent !== SPLIT) {
      assert.equal(m.match, m.latent);
      assert.ok(m.cosine > 0.9999, `latent ${m.latent}: cosine ${m.cosine}`);
    }
  }
  // Pearson correlations over the same tokens, from dense codes.
  const xs: Float32Array[] = [];
  let n = 0;
  for await (const g of activationGroups(model, { corpus, hooks: [a.cfg.hookName], contextSize: a.cfg.contextSize })) {
    const take = Math.min(g.tokens, 3000 - n);
    xs.push(g.acts[a.cfg.hookName].slice(0, take * a.cfg.dIn));
    n += take;
    if (n >= 3000) break;
  }
  const x = new Float32Array(xs.reduce((s, v) => s + v.length, 0));
  xs.reduce((o, v) => (x.set(v, o), o + v.length), 0);
  const dense = async (s: Sae, f: number) => {
    const c = await s.encode({ dtype: 'float32', shape: [n, s.cfg.dIn], data: x });
    const out = new Float64Array(n);
    for (let t = 0; t < n; t++) for (let e = c.offsets[t]; e < c.offsets[t + 1]; e++) if (c.indices[e] === f) out[t] = c.values[e];
    return out;
  };
  const pearson = (p: Float64Array, q: Float64Array) => {
    const mp = p.reduce((s, v) => s + v, 0) / n;
    const mq = q.reduce((s, v) => s + v, 0) / n;
    let c = 0;
    let vp = 0;
    let vq = 0;
    for (let t = 0; t < n; t++) {
      c += (p[t] - mp) * (q[t] - mq);
      vp += (p[t] - mp) ** 2;
      vq += (q[t] - mq) ** 2;
    }
    return c / Math.sqrt(vp * vq);
  };
  const fired = l.matches.find((m) => m.latent !== SPLIT && m.latent !== GONE && m.correlation !== null && m.correlation > 0.5)!;
  assert.ok(fired, 'some copied latent fired');
  assert.ok(Math.abs(fired.correlation! - pearson(await dense(a, fired.latent), await dense(b, fired.latent))) < 1e-6);
  const half = l.splits[0].into[0];
  const expected = pearson(await dense(a, SPLIT), await dense(b, half.latent));
  assert.ok(Number.isFinite(expected));
  assert.ok(Math.abs(half.correlation! - expected) < 1e-6, `split correlation ${half.correlation} vs ${expected}`);
  await model.dispose();
});

test('saescope match: CSV and JSON, names and explanations carried to the matches (a split gets its parent\'s), different hooks refused', { skip }, async () => {
  const { a, b } = await pair();
  const dir = tmpDir('saescope-match-');
  const dirA = path.join(dir, 'a');
  const dirB = path.join(dir, 'b');
  saveSae(a, dirA);
  saveSae(b, dirB);
  const db = path.join(dir, 'reg.db');
  const reg = Registry.open(db);
  const ka = await keysOf(reg, tinyStories, dirA);
  const kb = await keysOf(reg, tinyStories, dirB);
  const modelName = ka.model;
  reg.set(modelName, ka.sae, SPLIT, { name: 'split parent' });
  reg.addExplanation(modelName, ka.sae, SPLIT, { explanation: 'the word "the"', source: 'llm', explainerModel: 'm', promptVersion: 'v1', scores: { detection: { balancedAccuracy: 0.8 } } });
  reg.set(modelName, kb.sae, SPLIT, { name: 'already named' });
  reg.close();
  const cli = ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts')];
  const csv = path.join(dir, 'm.csv');
  const r = spawnSync(process.execPath, [...cli, 'match', '--sae', dirA, dirB, '--model', tinyStories, '--corpus', corpus, '--tokens', '2000',
    '--csv', csv, '--carry-names', '--registry', db, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { splits: { latent: number; into: { latent: number }[] }[]; carried: number; gone: number[] };
  assert.deepEqual(out.splits.map((s) => s.latent), [SPLIT]);
  assert.equal(out.carried, 2, 'both halves of the split got the parent\'s name and explanation');
  const lines = fs.readFileSync(csv, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'latent_a,latent_b,decoder_cosine,activation_correlation,status');
  assert.equal(lines.length, 1 + a.cfg.dSae);
  assert.match(lines[1 + SPLIT], /,split$/);
  assert.match(lines[1 + GONE], /,gone$/);
  const back = Registry.open(db);
  for (const s of out.splits[0].into) {
    const ex = back.explanations(modelName, kb.sae, s.latent);
    const carried = ex.find((e) => e.source === 'carried' && e.explanation === 'the word "the"');
    assert.ok(carried, `B #${s.latent} got A's explanation`);
    assert.deepEqual(carried.scores.carriedFrom, { sae: ka.sae, name: ka.name, feature: SPLIT }, 'carried by identity, with the name it had');
    assert.equal(carried.scores.originalSource, 'llm');
    assert.ok((carried.scores.cosine as number) >= 0.7);
  }
  // A latent that had no name takes A's, noted as carried; one that had a name keeps it and gets A's as a carried explanation.
  const other = out.splits[0].into.find((s) => s.latent !== SPLIT)!.latent;
  assert.equal(back.get(modelName, kb.sae, other)?.name, 'split parent');
  assert.match(back.get(modelName, kb.sae, other)?.notes ?? '', /carried from .* #3/);
  assert.equal(back.get(modelName, kb.sae, SPLIT)?.name, 'already named');
  assert.ok(back.explanations(modelName, kb.sae, SPLIT).some((e) => e.source === 'carried' && e.explanation === 'split parent'));
  back.close();
  // Carrying again does not pile up copies.
  assert.equal(spawnSync(process.execPath, [...cli, 'match', '--sae', dirA, dirB, '--model', tinyStories, '--carry-names', '--registry', db], { encoding: 'utf8' }).status, 0);
  const again = Registry.open(db);
  assert.equal(again.explanations(modelName, kb.sae, other).filter((e) => e.source === 'carried').length, 1);
  again.close();
  // SAEs on different hooks.
  const dirC = path.join(dir, 'c');
  saveSae(new Sae({ ...b.cfg, hookName: 'blocks.0.hook_resid_post' }, b.weights), dirC);
  const bad = spawnSync(process.execPath, [...cli, 'match', '--sae', dirA, dirC], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /the SAEs read different hooks \(A: blocks\.1\.hook_resid_pre, B: blocks\.0\.hook_resid_post\)/);
  const one = spawnSync(process.execPath, [...cli, 'match', '--sae', dirA], { encoding: 'utf8' });
  assert.match(one.stderr, /exactly two SAEs/);
});

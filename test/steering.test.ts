/** Steering on TinyStories-656K with an SAE trained by saescope. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { loadSae } from '../src/sae/load.ts';
import { scan } from '../src/analysis/scan.ts';
import { logitEffects } from '../src/analysis/weightEffects.ts';
import { activationAt } from '../src/analysis/textFeatures.ts';
import { steer, steeringInterventions } from '../src/steering/steer.ts';
import { sweep, writeSweepCsv } from '../src/steering/sweep.ts';
import { PRESETS, presetMultiples, selfSamples, typicalMax } from '../src/steering/presets.ts';
import { readCorpus } from '../src/data/corpus.ts';
import { packRows } from '../src/data/pack.ts';
import { Registry } from '../src/registry/registry.ts';
import { maxDiff, modelAndSae, needsShared, storiesCorpus, tmpDir, trainedSae } from './helpers.ts';

const skip = needsShared();
const corpus = storiesCorpus + '[400:700]';

const setup = modelAndSae;

/** Features whose strongest logit effect is a word, most specific first, with that word's id. */
async function wordFeatures(model: Awaited<ReturnType<typeof loadModel>>, sae: ReturnType<typeof loadSae>) {
  const s = await scan(model, sae, { corpus, tokens: 20000, contextSize: 128 });
  const le = await logitEffects(model, sae, 2);
  return le.positive.map((r, f) => ({ f, id: r.ids[0], gap: r.values[0] - r.values[1], word: model.tokenizer!.decode([r.ids[0]]).trim(), count: s.features[f].count }))
    .filter((c) => /^[a-z]{3,}$/i.test(c.word) && c.count > 10).sort((a, b) => b.gap - a.gap);
}

test('steering a feature makes its word appear more often than unsteered, over 20 seeds', { skip }, async () => {
  const { model, sae } = await setup();
  const c = (await wordFeatures(model, sae))[0];
  const typical = (await typicalMax(model, sae, [c.f])).values.get(c.f)!;
  let steered = 0;
  let unsteered = 0;
  for (let seed = 0; seed < 20; seed++) {
    const r = await steer(model, sae, 'Once upon a time,', { features: [{ feature: c.f, strength: 4 * typical }], maxNewTokens: 24, temperature: 1, seed });
    steered += r.steered.ids.filter((x) => x === c.id).length;
    unsteered += r.unsteered.ids.filter((x) => x === c.id).length;
  }
  assert.ok(steered >= 2 * unsteered + 5, `'${c.word}' (feature ${c.f}): ${steered} steered vs ${unsteered} unsteered`);
});

test('ablating a feature that fires before a token lowers that token\'s probability', { skip }, async () => {
  const { model, sae } = await setup();
  const feats = await wordFeatures(model, sae);
  const rows: number[][] = [];
  for await (const r of packRows(readCorpus(corpus), model.tokenizer!, { contextSize: 128 })) rows.push(r);
  const hook = sae.cfg.hookName;
  for (const c of feats.slice(0, 10)) {
    for (const row of rows.slice(0, 60)) {
      const p = row.findIndex((t, i) => i > 0 && row[i + 1] === c.id);
      if (p < 0) continue;
      const clean = await model.run([row], { cache: [hook] });
      const codes = await sae.encode({ dtype: 'float32', shape: [row.length, sae.cfg.dIn], data: clean.cache[hook].data });
      if (activationAt(codes, p, c.f) <= 0) continue;
      const { interventions } = await steeringInterventions(model, sae, [{ feature: c.f, clamp: 0 }], 'all', row.length);
      const ablated = await model.run([row], { interventions });
      const prob = (logits: Float32Array) => {
        const V = model.spec.dVocab;
        const r = logits.subarray(p * V, (p + 1) * V);
        const m = Math.max(...r);
        let z = 0;
        for (const v of r) z += Math.exp(v - m);
        return Math.exp(r[c.id] - m) / z;
      };
      const before = prob(clean.logits!.data);
      const after = prob(ablated.logits!.data);
      assert.ok(after < before, `P('${c.word}') ${before} -> ${after}`);
      return;
    }
  }
  assert.fail('no active feature found before its word');
});

test('strength 0 reproduces the unsteered output exactly', { skip }, async () => {
  const { model, sae } = await setup();
  const r = await steer(model, sae, 'One day, Lily', { features: [{ feature: 3, strength: 0 }, { feature: 7, strength: 0 }], maxNewTokens: 20, temperature: 1, seed: 4 });
  assert.deepEqual(r.steered.ids, r.unsteered.ids);
  assert.equal(r.steered.text, r.unsteered.text);
});

test('steered generation with the KV cache equals it without (add and clamp, prompt and generated positions)', { skip }, async () => {
  const { model, sae } = await setup();
  const promptIds = model.toTokens('Once upon a time, there was')[0];
  for (const positions of ['prompt', 'generated', 'all'] as const) {
    const { interventions } = await steeringInterventions(model, sae, [{ feature: 5, strength: 40 }, { feature: 9, clamp: 30 }, { feature: 11, clamp: 0 }], positions, promptIds.length);
    const a = await model.generate(promptIds, { maxNewTokens: 10, temperature: 0, interventions, returnLogits: true });
    const b = await model.generate(promptIds, { maxNewTokens: 10, temperature: 0, interventions, returnLogits: true, kvCache: false });
    assert.deepEqual(a.ids, b.ids, positions);
    a.logits!.forEach((l, i) => assert.ok(maxDiff(l, b.logits![i]) < 1e-4, `${positions} step ${i}`));
  }
});

test('clamping keeps the SAE error term: a feature clamped to its own activation changes nothing', { skip }, async () => {
  const { model, sae } = await setup();
  const ids = model.toTokens('Once upon a time, there was a dog.')[0];
  const hook = sae.cfg.hookName;
  const clean = await model.run([ids], { cache: [hook] });
  const codes = await sae.encode({ dtype: 'float32', shape: [ids.length, sae.cfg.dIn], data: clean.cache[hook].data });
  const p = 4;
  const f = codes.indices[codes.offsets[p]];
  const { interventions } = await steeringInterventions(model, sae, [{ feature: f, clamp: activationAt(codes, p, f) }], 'all', ids.length);
  const same = await model.run([ids], { interventions: [{ ...interventions[0], positions: [p] } as (typeof interventions)[number]] });
  assert.ok(maxDiff(same.logits!.data, clean.logits!.data) < 1e-3);
});

test('a small sweep runs end to end (4 features x 4 prompts x 8 magnitudes x 32 tokens) and writes its CSV', { skip }, async () => {
  const { model, sae } = await setup();
  const feats = (await wordFeatures(model, sae)).slice(0, 4).map((c) => c.f);
  const reg = Registry.open(path.join(tmpDir(), 'r.db'));
  const keys = reg.file(model, sae);
  const r = await sweep(model, sae, {
    features: feats, prompts: ['Once upon a time,', 'One day, a girl', 'The dog', 'Tom and Sue'], magnitudes: [0, 0.5, 1, 1.5, 2, 3, 4, 6],
    maxNewTokens: 32, registry: reg, keys,
  });
  assert.equal(r.records.length, 4 * 4 * 8);
  const csv = path.join(tmpDir(), 'sweep.csv');
  writeSweepCsv(csv, r.records);
  const lines = fs.readFileSync(csv, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'feature,prompt,magnitude,strength,featureAct,kl,perplexity,distinct2,text');
  assert.ok(lines.length >= 4 * 4 * 8 + 1);
  for (const rec of r.records.filter((x) => x.magnitude === 0)) assert.equal(rec.kl, 0);
  const strong = r.records.filter((x) => x.magnitude === 6);
  assert.ok(strong.reduce((a, x) => a + x.kl, 0) > 0, 'strong steering moves the distribution');
  assert.equal(r.progressions.length, 16);
  assert.ok(r.features.some((c) => c.onset !== null), 'the concept shows for some feature');
  assert.ok(r.features.some((c) => c.breakpoint !== null), 'the text breaks for some feature');
  assert.ok(r.features.every((c) => c.meanStages >= 1));
  assert.equal(r.robustnessVsDensity.n, r.features.filter((c) => c.breakpoint !== null && c.density !== null).length);
  assert.deepEqual(reg.calibration(keys.model, keys.sae, feats[0]), r.features[0]);
});

test('bad steering input gets clear errors', { skip }, async () => {
  const { model, sae } = await setup();
  await assert.rejects(steer(model, sae, 'Hi', { features: [{ feature: 512, strength: 1 }] }), /feature 512 is out of range \[0, 512\)/);
  await assert.rejects(steer(model, sae, 'Hi', { features: [{ feature: 1, strength: NaN }] }), /strength NaN is not a finite number/);
  await assert.rejects(steer(model, sae, 'Hi', { features: [{ feature: 1, strength: 1, clamp: 2 }] }), /exactly one of strength, preset or clamp/);
  const other = loadSae(await trainedSae());
  const wrongHook = Object.assign(Object.create(Object.getPrototypeOf(other)), other, { cfg: { ...other.cfg, hookName: 'blocks.5.hook_resid_post' } });
  await assert.rejects(steer(model, wrongHook, 'Hi', { features: [{ feature: 1, strength: 1 }] }), /unknown hook 'blocks\.5\.hook_resid_post'/);
});

test('default presets: on the model\'s own samples, strong stays below where the text degrades for typical features', { skip }, async () => {
  const { model, sae } = await setup();
  const samples = await selfSamples(model, 8, 96, 500);
  const s = await scan(model, sae, { corpus: samples, tokens: 20000, contextSize: 128 });
  const alive = s.features.map((f, i) => ({ i, d: f.count / s.tokens })).filter((x) => x.d > 0).sort((a, b) => a.d - b.d);
  const mid = alive.slice(Math.floor(alive.length / 4), Math.floor((3 * alive.length) / 4));
  const features = Array.from({ length: 8 }, (_, k) => mid[Math.floor(((k + 0.5) * mid.length) / 8)].i);
  const r = await sweep(model, sae, { features, prompts: ['Once upon a time,', 'The little girl'], magnitudes: [0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4], maxNewTokens: 24 });
  const breaks = r.features.map((c) => c.breakpoint ?? Infinity).sort((a, b) => a - b);
  const median = breaks[Math.floor(breaks.length / 2)];
  assert.ok(PRESETS.strong < median, `strong ${PRESETS.strong}x vs the median breakpoint ${median}x (${breaks.join(', ')})`);
  assert.ok(PRESETS.light < PRESETS.medium && PRESETS.medium < PRESETS.strong);
});

test('a sweep\'s calibration places a feature\'s presets between its onset and its breakpoint', { skip }, async () => {
  assert.deepEqual(presetMultiples({ onset: 1, breakpoint: 3 }), { multiples: { light: 1, medium: 2, strong: 2.7 }, source: 'calibration' });
  const onlyBreak = presetMultiples({ onset: null, breakpoint: 0.5 });
  assert.ok(onlyBreak.multiples.strong < 0.5 && onlyBreak.source === 'calibration');
  assert.deepEqual(presetMultiples(undefined), { multiples: { ...PRESETS }, source: 'default' });
  const { model, sae } = await setup();
  const db = Registry.open(path.join(tmpDir(), 'cal.db'));
  const f = 3;
  const keys = db.file(model, sae);
  await sweep(model, sae, { features: [f], prompts: ['Once upon a time,'], magnitudes: [0, 0.5, 1, 2, 4, 8], maxNewTokens: 16, registry: db, keys });
  const cal = db.calibration<{ onset: number | null; breakpoint: number | null; typicalMax: number }>(keys.model, keys.sae, f)!;
  const r = await steer(model, sae, 'Once upon a time,', { features: [{ feature: f, preset: 'strong' }], maxNewTokens: 8, temperature: 0, registry: db, keys });
  const want = presetMultiples(cal);
  assert.equal(r.strengths[0].presetSource, want.source);
  const typical = (await typicalMax(model, sae, [f], { registry: db, keys })).values.get(f)!;
  assert.ok(Math.abs(r.strengths[0].strength! - want.multiples.strong * typical) < 1e-6 * Math.max(1, typical), 'the strength used is the calibrated multiple of the typical max');
  if (cal.breakpoint !== null) assert.ok(want.multiples.strong < cal.breakpoint, 'strong stays under the breakpoint');
  db.close();
});

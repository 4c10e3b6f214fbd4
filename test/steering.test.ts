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
import { steer, steeringInterventions, steerVariants, type FeatureSteer } from '../src/steering/steer.ts';
import { sweep, writeSweepCsv } from '../src/steering/sweep.ts';
import { PRESETS, presetMultiples, typicalMax } from '../src/steering/presets.ts';
import { readCorpus } from '../src/data/corpus.ts';
import { packRows } from '../src/data/pack.ts';
import { Registry } from '../src/registry/registry.ts';
import { demoSae, maxDiff, modelAndSae, needsShared, storiesCorpus, tinyStories, tmpDir, trainedSae } from './helpers.ts';
import type { FeatureCalibration } from '../src/steering/sweep.ts';

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

test('several steerings compared in one call (strengths, a clamp, features together): each equals generating it alone, and the unsteered text is the plain one', { skip }, async () => {
  const { model, sae } = await setup();
  const prompt = 'Once upon a time, there was';
  const variants: FeatureSteer[][] = [[{ feature: 5, strength: 40 }], [{ feature: 5, strength: 80 }], [{ feature: 9, clamp: 30 }], [{ feature: 5, strength: 40 }, { feature: 11, clamp: 0 }]];
  for (const positions of ['generated', 'all'] as const) {
    const streamed = variants.map(() => '');
    const r = await steerVariants(model, sae, prompt, { variants, positions, maxNewTokens: 12, temperature: 0, onToken: (v, _id, text) => (streamed[v] = text) });
    const ids = model.toTokens(prompt)[0];
    // Independently: one row at a time through model.generate, without the batch.
    const plain = await model.generate(ids, { maxNewTokens: 12, temperature: 0 });
    assert.deepEqual(r.unsteered.ids, plain.ids, `${positions}: unsteered`);
    for (const [i, features] of variants.entries()) {
      const { interventions, strengths } = await steeringInterventions(model, sae, features, positions, ids.length);
      const alone = await model.generate(ids, { maxNewTokens: 12, temperature: 0, interventions });
      assert.deepEqual(r.variants[i].result.ids, alone.ids, `${positions}: variant ${i}`);
      assert.deepEqual(r.variants[i].strengths, strengths);
      assert.equal(streamed[i], alone.text, `${positions}: variant ${i} streamed`);
    }
    assert.notDeepEqual(r.variants[0].result.ids, r.variants[1].result.ids, 'strengths 40 and 80 differ');
  }
  await assert.rejects(steerVariants(model, sae, prompt, { variants: [] }), /give 1 to 16 steering variants/);
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
  // Clamped to another value v, the hook moves by exactly (v - f)·W_dec[f] at that position and nowhere else,
  // so the SAE's reconstruction there holds the feature at v (recomputed here from the decoder weights).
  const act = activationAt(codes, p, f);
  const v = 2 * act + 1;
  const moved = await steeringInterventions(model, sae, [{ feature: f, clamp: v }], 'all', ids.length);
  const res = await model.run([ids], { cache: [hook], interventions: [{ ...moved.interventions[0], positions: [p] } as (typeof moved.interventions)[number]] });
  const d = sae.cfg.dIn;
  const wDec = sae.weights.W_dec.data.subarray(f * d, (f + 1) * d);
  const expected = Float32Array.from(clean.cache[hook].data, (x, i) => (Math.floor(i / d) === p ? x + (v - act) * wDec[i % d] : x));
  assert.ok(maxDiff(res.cache[hook].data, expected) < 1e-4 * Math.max(1, v), `max diff ${maxDiff(res.cache[hook].data, expected)}`);
  assert.ok(maxDiff(res.logits!.data, clean.logits!.data) > 1e-3, 'the clamp changes the logits');
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
  assert.equal(lines[0], 'feature,prompt,magnitude,strength,featureAct,fireCount,kl,perplexity,distinct2,text');
  assert.ok(lines.length >= 4 * 4 * 8 + 1);
  for (const rec of r.records.filter((x) => x.magnitude === 0)) assert.equal(rec.kl, 0);
  const strong = r.records.filter((x) => x.magnitude === 6);
  assert.ok(strong.reduce((a, x) => a + x.kl, 0) > 0, 'strong steering moves the distribution');
  assert.equal(r.progressions.length, 16);
  assert.ok(r.features.some((c) => c.onset !== null), 'the concept shows for some feature');
  assert.ok(r.features.some((c) => c.breakpoint !== null), 'the text breaks for some feature');
  assert.ok(r.features.every((c) => c.meanStages >= 1));
  assert.equal(r.robustnessVsDensity.n, r.features.filter((c) => c.breakpoint !== null && c.density !== null).length);
  const stored = reg.steering.calibrationHistory(keys.model, keys.sae, feats[0])[0];
  assert.deepEqual({ ...(stored.calibration as object), id: stored.id }, r.features[0], 'stored with its settings');
  assert.deepEqual(stored.settings, r.settings);
  assert.equal(reg.calibration(keys.model, keys.sae, feats[0]), undefined, 'but not applied');
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

test('default presets on the demo SAE: strong keeps the text on at least 90% of typical features, light changes the output on at least 80%', { skip, timeout: 600_000 }, async () => {
  const { dir, registry } = await demoSae();
  const model = await loadModel(tinyStories);
  const sae = loadSae(dir);
  const reg = Registry.open(registry);
  const keys = reg.file(model, sae, dir);
  // 10 features of typical density (0.5-5%), drawn with a seed other than the one the defaults were measured with.
  const typical = reg.browse(keys.model, keys.sae, { limit: 1e6 }).rows.filter((r) => r.density !== null && r.density >= 0.005 && r.density <= 0.05).map((r) => r.feature);
  let seed = 2026;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const features = [...typical].map((f) => ({ f, k: next() })).sort((a, b) => a.k - b.k).slice(0, 10).map((x) => x.f);
  const prompts = ['Once upon a time,', 'One day, a little boy', 'The cat and the dog'];
  const V = model.spec.dVocab;
  /** Perplexity of `ids` after `prompt` under the unsteered model, and distinct-2, computed here. */
  const judge = async (prompt: readonly number[], ids: readonly number[]) => {
    const logits = (await model.run([[...prompt, ...ids]])).logits!.data;
    let nll = 0;
    ids.forEach((t, i) => {
      const row = logits.subarray((prompt.length + i - 1) * V, (prompt.length + i) * V);
      const mx = Math.max(...row);
      nll -= row[t] - mx - Math.log(row.reduce((a, z) => a + Math.exp(z - mx), 0));
    });
    const bigrams = ids.slice(1).map((t, i) => `${ids[i]},${t}`);
    return { ppl: Math.exp(nll / ids.length), distinct2: new Set(bigrams).size / bigrams.length };
  };
  let kept = 0;
  let changed = 0;
  let n = 0;
  for (const feature of features) {
    for (const prompt of prompts) {
      const ids = model.toTokens(prompt)[0];
      const strong = await steer(model, sae, prompt, { features: [{ feature, preset: 'strong' }], maxNewTokens: 60, temperature: 0, stopAtEos: false, registry: reg, keys });
      const light = await steer(model, sae, prompt, { features: [{ feature, preset: 'light' }], maxNewTokens: 60, temperature: 0, stopAtEos: false, registry: reg, keys });
      assert.equal(strong.strengths[0].presetSource, 'default');
      assert.ok(Math.abs(strong.strengths[0].multiple! - PRESETS.strong) < 1e-12);
      const base = await judge(ids, strong.unsteered.ids);
      const st = await judge(ids, strong.steered.ids);
      if (st.distinct2 >= 0.5 && st.ppl <= 3 * base.ppl) kept++;
      if (light.steered.ids.join() !== light.unsteered.ids.join()) changed++;
      n++;
    }
  }
  reg.close();
  // The figures README's "Reading a sweep" quotes.
  process.stdout.write(`# presets on the demo SAE: strong kept the text on ${kept}/${n}, light changed the output on ${changed}/${n}\n`);
  assert.ok(kept / n >= 0.9, `strong (${PRESETS.strong}x) kept the text on ${kept}/${n}`);
  assert.ok(changed / n >= 0.8, `light (${PRESETS.light}x) changed the output on ${changed}/${n}`);
});

test('a sweep stores its calibration as a candidate: presets change only when it is applied, and undo restores them', { skip }, async () => {
  assert.deepEqual(presetMultiples({ onset: 1, breakpoint: 3 }), { multiples: { light: 1, medium: 2, strong: 2.7 }, source: 'calibration' });
  assert.match(presetMultiples({ onset: null, breakpoint: 0.5 }).reason!, /never showed in the text before the text broke \(at 0\.5x\)/);
  assert.match(presetMultiples({ onset: 3, breakpoint: 2 }).reason!, /shows only at 3x, at or past where the text breaks \(2x\)/);
  assert.match(presetMultiples({ onset: 1, breakpoint: null }).reason!, /never broke/);
  assert.deepEqual(presetMultiples(undefined), { multiples: { ...PRESETS }, source: 'default', reason: 'no applied calibration' });
  const { model, sae } = await setup();
  const db = Registry.open(path.join(tmpDir(), 'cal.db'));
  const f = 3;
  const keys = db.file(model, sae);
  const strongNow = async () => (await steer(model, sae, 'Once upon a time,', { features: [{ feature: f, preset: 'strong' }], maxNewTokens: 4, temperature: 0, registry: db, keys })).strengths[0];
  const before = await strongNow();
  assert.equal(before.presetSource, 'default');
  const one = await sweep(model, sae, { features: [f], prompts: ['Once upon a time,'], magnitudes: [0, 0.5, 1, 2, 4, 8], maxNewTokens: 16, registry: db, keys });
  assert.equal(one.settings.weak, true, 'one prompt and 16 tokens is weak evidence');
  assert.equal(db.calibration(keys.model, keys.sae, f), undefined, 'not applied');
  assert.deepEqual(await strongNow(), before, 'presets unchanged by the sweep');
  // Applied: the presets follow it (its usable range, or the defaults with the reason when it has none).
  db.applyCalibration(one.features[0].id!);
  const cal = db.calibration<FeatureCalibration>(keys.model, keys.sae, f)!;
  const want = presetMultiples(cal);
  const after = await strongNow();
  assert.equal(after.presetSource, want.source);
  assert.equal(after.multiple, want.multiples.strong);
  assert.equal(after.presetReason, want.reason);
  if (cal.usable) assert.ok(want.multiples.strong > cal.usable[0] && want.multiples.strong < cal.usable[1], 'strong sits inside the usable range');
  // A second sweep, applied at once; undo goes back to the first; undo again to the defaults.
  const two = await sweep(model, sae, { features: [f], prompts: ['Once upon a time,', 'The dog', 'Tom and Sue'], magnitudes: [0, 0.25, 0.5, 1, 2, 4], maxNewTokens: 32, registry: db, keys, apply: true });
  assert.equal(two.settings.weak, false);
  assert.deepEqual(db.steering.calibrationHistory(keys.model, keys.sae, f).map((c) => [c.id, c.applied]), [[two.features[0].id, true], [one.features[0].id, false]]);
  assert.equal(db.steering.undoCalibration(keys.model, keys.sae, f), one.features[0].id);
  assert.deepEqual(await strongNow(), after);
  assert.equal(db.steering.undoCalibration(keys.model, keys.sae, f), null);
  assert.deepEqual(await strongNow(), before);
  db.close();
});


/**
 * Batched generation (issue 31): several prompts of different lengths in
 * one KV cache, each row with its own interventions, sampling, seed and
 * stops, must give what each row gives alone (`model.generate`, itself held
 * to full forwards in parity.test.ts): the same tokens, and next-token
 * logits within 1e-4. Finished rows leave the batch; rows that share a
 * prompt and steer only generated tokens share one prefill.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { generateBatch, type BatchRow } from '../src/model/generateBatch.ts';
import type { HookedModel } from '../src/model/hookedModel.ts';
import type { Feed } from '../src/runtime/session.ts';
import { loadSae } from '../src/sae/load.ts';
import { featureEncoder, steeringInterventions } from '../src/steering/steer.ts';
import { sweep, sweepGenerations } from '../src/steering/sweep.ts';
import { typicalMax } from '../src/steering/presets.ts';
import { measureOutput } from '../src/steering/metrics.ts';
import { batchInputs } from '../src/model/inputs.ts';
import { fixtures, maxDiff, needsShared, tinyStories, trainedSae } from './helpers.ts';

/** Runs each row alone and checks the batch's tokens, stop reasons and logits against it. */
async function alone(model: HookedModel, rows: readonly BatchRow[], maxBatch?: number): Promise<void> {
  const batch = await generateBatch(model, rows.map((r) => ({ ...r, returnLogits: true })), { maxBatch });
  for (let i = 0; i < rows.length; i++) {
    const { prompt, ...o } = rows[i];
    const one = await model.generate(prompt, { ...o, returnLogits: true });
    assert.deepEqual(batch[i].ids, one.ids, `row ${i}: tokens`);
    assert.equal(batch[i].stopReason, one.stopReason, `row ${i}: stop reason`);
    assert.equal(batch[i].text, one.text, `row ${i}: text`);
    one.logits!.forEach((l, s) => assert.ok(maxDiff(batch[i].logits![s], l) < 1e-4, `row ${i}, step ${s}: logits`));
  }
}

const vec = (d: number, k: number) => Float32Array.from({ length: d }, (_, i) => Math.sin(i * k + 1) * 3);

for (const arch of ['gpt2', 'neox', 'llama', 'gemma2', 'gemma3', 'qwen3']) {
  test(`${arch}: prompts of different lengths, each with its own steering (all positions, generated only, none), greedy, equal to each alone (past the sliding windows)`, async () => {
    const model = await loadModel(path.join(fixtures, `tiny-${arch}`));
    const d = model.spec.dModel;
    const rows: BatchRow[] = [
      { prompt: [5, 17, 99, 3], interventions: [{ kind: 'add', hook: 'blocks.0.hook_resid_post', vector: vec(d, 1) }] },
      { prompt: [12] },
      { prompt: [64, 12, 7, 8, 9, 10, 11, 2], interventions: [{ kind: 'add', hook: 'blocks.1.hook_resid_pre', vector: vec(d, 2), positions: [9, 10, 11, 12] }], maxNewTokens: 6 },
      { prompt: [5, 17, 99, 3], interventions: [{ kind: 'add', hook: 'blocks.0.hook_mlp_out', vector: vec(d, 3), positions: [4, 5, 6, 7, 8, 9] }] },
    ].map((r) => ({ maxNewTokens: 14, temperature: 0, stopAtEos: false, ...r }) as BatchRow);
    await alone(model, rows);
    await model.dispose();
  });
}

test('per-row sampling settings and seeds give each row\'s own stream; a row at the context\'s end stops there', async () => {
  const model = await loadModel(path.join(fixtures, 'tiny-llama'));
  const long = Array.from({ length: model.spec.nCtx - 3 }, (_, i) => (i * 7) % 120);
  await alone(model, [
    { prompt: [5, 17, 99], temperature: 1, seed: 1, maxNewTokens: 10, stopAtEos: false },
    { prompt: [5, 17, 99], temperature: 0.7, topK: 5, seed: 2, maxNewTokens: 10, stopAtEos: false },
    { prompt: [3, 4], temperature: 1.3, topP: 0.8, seed: 3, maxNewTokens: 10, stopAtEos: false },
    { prompt: long, temperature: 0, maxNewTokens: 10, stopAtEos: false },
  ]);
  await model.dispose();
});

test('finished rows leave the batch, and rows that share a prompt and steer only generated tokens share one prefill', async () => {
  const model = await loadModel(path.join(fixtures, 'tiny-qwen3'));
  const d = model.spec.dModel;
  const seen: number[][] = [];
  const run = model.runPlan.bind(model);
  model.runPlan = (plan, feeds: Record<string, Feed>, enc) => {
    seen.push([...(feeds.input_ids as unknown as { shape: number[] }).shape]);
    return run(plan, feeds, enc);
  };
  const prompt = [5, 17, 99, 3, 64];
  const gen = (k: number) => [{ kind: 'add' as const, hook: 'blocks.1.hook_resid_pre', vector: vec(d, k), positions: [5, 6, 7, 8, 9, 10] }];
  const rows: BatchRow[] = [
    { prompt, temperature: 0, maxNewTokens: 3, stopAtEos: false, interventions: gen(1) },
    { prompt, temperature: 0, maxNewTokens: 6, stopAtEos: false, interventions: gen(2) },
    { prompt, temperature: 0, maxNewTokens: 6, stopAtEos: false },
  ];
  const out = await generateBatch(model, rows);
  // One prefill of one row ([1, 5]), then decode steps of 3 rows until the first row is done, then 2.
  assert.deepEqual(seen[0], [1, 5]);
  assert.deepEqual(seen.slice(1).map((s) => s[0]), [3, 3, 2, 2, 2]);
  assert.deepEqual(out.map((r) => r.ids.length), [3, 6, 6]);
  model.runPlan = run;
  await alone(model, rows);
  await model.dispose();
});

test('on TinyStories-656K: per-row clamps (different values, one row without), stop strings and EOS, each row equal to itself alone; model.generate takes a list of prompts', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const sae = loadSae(await trainedSae());
  const enc = featureEncoder(sae);
  const clamp = (v: number) => [{ kind: 'clamp' as const, hook: sae.cfg.hookName, encoder: enc, features: [3, 7], values: [v, v / 2] }];
  await alone(model, [
    { prompt: 'Once upon a time', temperature: 0, maxNewTokens: 20, interventions: clamp(8) },
    { prompt: 'The little dog', temperature: 0, maxNewTokens: 20, interventions: clamp(0) },
    { prompt: 'One day, Lily went to the park with her mom.', temperature: 0, maxNewTokens: 20, stop: ['.'] },
    { prompt: 'Tom', temperature: 0, maxNewTokens: 40 },
  ], 3);
  const texts = await model.generate(['Once upon a time', 'The cat'], { maxNewTokens: 8, temperature: 0, perRow: [{}, { maxNewTokens: 3 }] });
  assert.equal(texts.length, 2);
  assert.equal(texts[0].text, (await model.generate('Once upon a time', { maxNewTokens: 8, temperature: 0 })).text);
  assert.equal(texts[1].ids.length, (await model.generate('The cat', { maxNewTokens: 3, temperature: 0 })).ids.length);
  await model.dispose();
});

test('a sweep run in batches (each generation beside its clean twin) gives the same outputs and, within float tolerance, the same measurements as one generation at a time with measureOutput', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const sae = loadSae(await trainedSae());
  const features = [3, 11];
  const prompts = ['Once upon a time', 'The little girl saw a', 'Tom had a big red ball and'];
  const magnitudes = [0, 1, 3, 6];
  let calls = 0;
  const r = await sweep(model, sae, { features, prompts, magnitudes, maxNewTokens: 12, batchSize: 6, onProgress: (done, total) => {
    calls++;
    assert.ok(done <= total && total === features.length * prompts.length * magnitudes.length);
  } });
  assert.equal(calls, features.length * prompts.length * magnitudes.length, 'the progress counts generations');
  const tm = await typicalMax(model, sae, features);
  for (const rec of r.records) {
    const promptIds = model.toTokens(prompts[rec.prompt])[0];
    const { interventions } = await steeringInterventions(model, sae, [{ feature: rec.feature, strength: rec.strength }], 'all', promptIds.length);
    const active = rec.strength === 0 ? [] : interventions;
    const one = await model.generate(promptIds, { maxNewTokens: 12, temperature: 0, seed: 0, interventions: active, stopAtEos: false });
    assert.equal(rec.text, one.text, `feature ${rec.feature}, prompt ${rec.prompt}, magnitude ${rec.magnitude}: text`);
    const m = await measureOutput(model, sae, rec.feature, promptIds, one.ids, active, tm.naturals.get(rec.feature) ?? 0);
    for (const k of ['featureAct', 'kl', 'perplexity', 'distinct2'] as const) assert.ok(Math.abs(rec[k] - m[k]) < 1e-3 * Math.max(1, Math.abs(m[k])), `${k}: ${rec[k]} vs ${m[k]}`);
    assert.equal(rec.fireCount, m.fireCount);
  }
  await model.dispose();
});

test('unsteered jobs on one prompt share one generation, and each reads back its own feature as measureOutput does', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const sae = loadSae(await trainedSae());
  const hook = sae.cfg.hookName;
  const promptIds = model.toTokens('Once upon a time')[0];
  const clean = await model.generate(promptIds, { maxNewTokens: 12, temperature: 0, seed: 0, stopAtEos: false });
  // The features that fire most on the clean output (so a job credited with another's reading, or none, shows).
  const read = (await model.run([[...promptIds, ...clean.ids]], { cache: [hook], logits: 'none' })).cache[hook];
  const codes = await sae.encode({ dtype: 'float32', shape: [read.shape[1], sae.cfg.dIn], data: read.data });
  const sums = new Map<number, number>();
  for (let t = promptIds.length; t < codes.n; t++) {
    for (let e = codes.offsets[t]; e < codes.offsets[t + 1]; e++) sums.set(codes.indices[e], (sums.get(codes.indices[e]) ?? 0) + codes.values[e]);
  }
  const features = [...sums].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([f]) => f);
  assert.equal(features.length, 3);
  const jobs = features.map((feature) => ({ feature, prompt: 0, promptIds, magnitude: 0, strength: 0, interventions: [] }));
  let progress = 0;
  const recs = await sweepGenerations(model, sae, jobs, { maxNewTokens: 12, temperature: 0, seed: 0, naturals: new Map(), onProgress: () => progress++ });
  assert.equal(progress, 3, 'the progress counts each job');
  for (const rec of recs) {
    assert.equal(rec.text, clean.text);
    const m = await measureOutput(model, sae, rec.feature, promptIds, clean.ids, [], 0);
    assert.ok(m.featureAct > 0, `feature ${rec.feature} fires on the clean output`);
    for (const k of ['featureAct', 'kl', 'perplexity', 'distinct2'] as const) assert.ok(Math.abs(rec[k] - m[k]) < 1e-3 * Math.max(1, Math.abs(m[k])), `feature ${rec.feature} ${k}: ${rec[k]} vs ${m[k]}`);
    assert.equal(rec.fireCount, m.fireCount);
  }
  assert.equal(new Set(recs.map((r) => r.featureAct)).size, 3, 'each job reads its own feature');
  await model.dispose();
});

test('a KV-cache step returns only its own keys and values, never the whole cache (each output is wrapped in a fresh ArrayBuffer that V8 collects garbage for)', async () => {
  const model = await loadModel(path.join(fixtures, 'tiny-llama'));
  const { spec } = model;
  const pastLen = 6;
  const b = batchInputs([[7]], pastLen);
  const feeds: Record<string, Feed> = { input_ids: b.input_ids, position_ids: b.position_ids, attn_bias: b.attn_bias, past_len: { dtype: 'int64', shape: [1], data: BigInt64Array.of(BigInt(pastLen)) } };
  for (let L = 0; L < spec.nLayers; L++) {
    for (const kind of ['key', 'value']) feeds[`past.${L}.${kind}`] = { dtype: 'float32', shape: [1, spec.nKvHeads, pastLen, spec.dHead], data: new Float32Array(spec.nKvHeads * pastLen * spec.dHead).fill(0.1) };
  }
  const plan = model.plan({ cache: [], add: [], replace: [], clamp: [], logits: 'last', kvCache: true });
  const out = await model.runPlan(plan, feeds);
  for (let L = 0; L < spec.nLayers; L++) {
    for (const kind of ['key', 'value']) assert.deepEqual(out[`new.${L}.${kind}`].shape, [1, spec.nKvHeads, 1, spec.dHead], `new.${L}.${kind}`);
  }
  const cacheSized = Object.entries(out).filter(([, t]) => t.shape.length === 4 && t.shape[2] > 1);
  assert.deepEqual(cacheSized.map(([name]) => name), [], 'no output spans the past');
  await model.dispose();
});

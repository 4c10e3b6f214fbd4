/**
 * A quantized model serves every plan from one session (src/model/planServer.ts):
 * forwards, forwards to a hook, replacements, clamps, generations and steered
 * generations, each giving exactly what it gives on a model that has run
 * nothing else (whose session holds that plan alone), with one session alive.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import type { HookedModel } from '../src/model/hookedModel.ts';
import { covers, union } from '../src/model/planServer.ts';
import { loadSae } from '../src/sae/load.ts';
import { featureEncoder } from '../src/steering/steer.ts';
import type { AddIntervention } from '../src/hooks/interventions.ts';
import { needsShared, tinyStories, tmpDir, trainedSae } from './helpers.ts';

const TEXT = 'Once upon a time, there was a little girl named Lily. She loved to play outside.';
const HOOK = 'blocks.1.hook_resid_pre';

test('plan union: what a served plan covers, and what it grows to', () => {
  const order = (h: string) => Number(/blocks\.(\d+)/.exec(h)?.[1] ?? 99);
  const base = { cache: [], add: [], replace: [], logits: 'all' as const, kvCache: false };
  const toHook = { ...base, cache: ['blocks.0.x'], logits: 'none' as const, stopAfter: 'blocks.0.x' };
  const first = union(undefined, toHook, order);
  assert.equal(first.stopAfter, 'blocks.0.x', 'a forward to a hook stops there');
  assert.equal(covers(first, { ...base, logits: 'none', cache: ['blocks.0.x'], stopAfter: 'blocks.0.x' }, order), true);
  assert.equal(covers(first, { ...base, logits: 'none', cache: ['blocks.1.x'], stopAfter: 'blocks.1.x' }, order), false, 'a later hook needs more of the graph');
  assert.equal(covers(first, base, order), false, 'logits need the whole graph');
  const grown = union(first, { ...base, add: ['blocks.1.x'], kvCache: true, logits: 'last' }, order);
  assert.equal(grown.stopAfter, undefined);
  assert.equal(grown.logits, 'at');
  assert.deepEqual([grown.cache, grown.add], [['blocks.0.x'], ['blocks.1.x']]);
  assert.equal(covers(grown, toHook, order), true, 'the whole graph serves the forward to a hook too');
  const clampA = { hook: 'blocks.1.x', encoder: 'e', features: [1, 2] };
  const withClamp = union(grown, { ...base, clamp: [clampA] }, order);
  assert.equal(covers(withClamp, { ...base, clamp: [{ ...clampA }] }, order), true);
  assert.equal(covers(withClamp, { ...base, clamp: [{ ...clampA, features: [1, 3] }] }, order), false);
  assert.deepEqual(union(withClamp, { ...base, clamp: [{ ...clampA, features: [4] }] }, order).clamp, [{ ...clampA, features: [4] }], 'one clamp per hook: the new one replaces it');
});

test('int8: every plan served by one session gives exactly what a model that ran only that call gives', { skip: needsShared() }, async () => {
  const cacheDir = tmpDir();
  const fresh = () => loadModel(tinyStories, { weights: 'int8', cacheDir });
  const sae = loadSae(await trainedSae());
  const enc = featureEncoder(sae);
  const shared = await fresh();
  const d = shared.spec.dModel;
  const vector = Float32Array.from({ length: d }, (_, i) => 4 * Math.sin(i));
  const own = (await shared.run(TEXT, { cache: [HOOK] })).cache[HOOK];
  const doubled = { ...own, data: own.data.map((v) => 2 * v) };
  const calls: [string, (m: HookedModel) => Promise<Float32Array[]>][] = [
    ['forward', async (m) => [(await m.run(TEXT)).logits!.data]],
    ['forward to a hook', async (m) => [(await m.run(TEXT, { cache: [HOOK], logits: 'none' })).cache[HOOK].data]],
    ['steered generation', async (m) => [Float32Array.from((await m.generate('Once upon a time,', gen([{ kind: 'add', hook: HOOK, vector }]))).ids)]],
    ['replacement', async (m) => {
      const r = await m.run(TEXT, { cache: [HOOK], interventions: [{ kind: 'replace', hook: HOOK, value: doubled }] });
      return [r.logits!.data, r.cache[HOOK].data];
    }],
    ['clamp', async (m) => [(await m.run(TEXT, { interventions: [{ kind: 'clamp', hook: HOOK, encoder: enc, features: [3, 7], values: [8, 4] }] })).logits!.data]],
    ['generation', async (m) => [Float32Array.from((await m.generate('Once upon a time,', gen())).ids)]],
    ['last logits', async (m) => [(await m.run(TEXT, { logits: 'last' })).logits!.data]],
    ['forward again', async (m) => [(await m.run(TEXT)).logits!.data]],
  ];
  const seen = new Map<string, Float32Array[]>();
  for (const [name, call] of calls) {
    const got = await call(shared);
    seen.set(name, got);
    assert.equal(shared.info().sessions.length, 1, `after the ${name}: one session`);
    const alone = await fresh();
    assert.deepEqual(got, await call(alone), `${name}: the same as on a model that ran only it`);
    await alone.dispose();
  }
  // The calls did what they say: each differs from the plain forward or generation where it should.
  const plain = seen.get('forward')![0];
  const V = shared.spec.dVocab;
  assert.deepEqual(seen.get('last logits')![0], plain.slice(plain.length - V), 'the last logits are the forward\'s last row');
  assert.deepEqual(seen.get('forward again')![0], plain, 'interventions that ran before leave a plain forward unchanged');
  assert.deepEqual(seen.get('replacement')![1], doubled.data, 'the replacement is what the hook holds');
  assert.notDeepEqual(seen.get('replacement')![0], plain);
  assert.notDeepEqual(seen.get('clamp')![0], plain);
  assert.notDeepEqual(seen.get('steered generation')![0], seen.get('generation')![0]);
  const served = JSON.parse(shared.info().sessions[0]) as { add: string[]; replace: string[]; cache: string[] };
  assert.deepEqual([served.replace, served.cache], [[HOOK], [HOOK]]);
  assert.ok(served.add.includes(HOOK));
  await shared.dispose();
});

test('int8: a batch of rows with and without steering, and concurrent calls of different plans, share the session', { skip: needsShared() }, async () => {
  const cacheDir = tmpDir();
  const m = await loadModel(tinyStories, { weights: 'int8', cacheDir });
  const vector = Float32Array.from({ length: m.spec.dModel }, (_, i) => 4 * Math.cos(i));
  const steer: AddIntervention[] = [{ kind: 'add', hook: HOOK, vector }];
  const [a, b, c] = await Promise.all([
    m.generate('Once upon a time,', gen()),
    m.generate('Once upon a time,', gen(steer)),
    m.run(TEXT, { cache: [HOOK], logits: 'none' }),
  ]);
  const rows = await m.generate(['Once upon a time,', 'Once upon a time,'], { ...gen(), perRow: [{}, { interventions: steer }] });
  assert.deepEqual(rows.map((r) => r.ids), [a.ids, b.ids]);
  const alone = await loadModel(tinyStories, { weights: 'int8', cacheDir });
  assert.deepEqual((await alone.run(TEXT, { cache: [HOOK], logits: 'none' })).cache[HOOK].data, c.cache[HOOK].data);
  assert.equal(m.info().sessions.length, 1);
  await Promise.all([m.dispose(), alone.dispose()]);
});

test('int8: steering at a residual hook runs on the session a forward or a generation built (no recompile)', { skip: needsShared() }, async () => {
  const m = await loadModel(tinyStories, { weights: 'int8', cacheDir: tmpDir() });
  await m.generate('Once upon a time,', gen());
  const built = m.info().sessions;
  const L = m.spec.nLayers;
  const vector = Float32Array.from({ length: m.spec.dModel }, (_, i) => 3 * Math.sin(i));
  const plain = await m.run(TEXT);
  for (const hook of [`blocks.0.hook_resid_pre`, `blocks.${L - 1}.hook_resid_post`]) {
    const steered = await m.run(TEXT, { interventions: [{ kind: 'add', hook, vector }] });
    assert.notDeepEqual(steered.logits!.data, plain.logits!.data, `the vector at ${hook} acted`);
    const g = await m.generate('Once upon a time,', gen([{ kind: 'add', hook, vector }]));
    assert.equal(g.ids.length > 0, true);
  }
  assert.deepEqual(m.info().sessions, built, 'the served plan is the one the generation built');
  // A hook off the residual stream still grows the session.
  await m.run(TEXT, { interventions: [{ kind: 'add', hook: 'blocks.0.hook_mlp_out', vector }] });
  assert.notDeepEqual(m.info().sessions, built);
  await m.dispose();
});

function gen(interventions?: AddIntervention[]) {
  return { maxNewTokens: 12, temperature: 0, stopAtEos: false, interventions };
}

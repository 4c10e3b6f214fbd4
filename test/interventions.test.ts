/** Interventions: additive vectors against the reference, positions, and patching. */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { fixtures, maxDiff } from './helpers.ts';

const TOKENS = '5,17,99,3,64,127,0,42,8,8,77,1;12,1,2,3,4,5,6,7,100,101,102,103'.split(';').map((s) => s.split(',').map(Number));
const addVector = (d: number) => Float32Array.from({ length: d }, (_, i) => 0.5 * Math.sin(i + 1));

for (const arch of ['gpt2', 'neox']) {
  test(`${arch}: a vector added at blocks.0.hook_resid_post changes downstream hooks as the reference computes`, async () => {
    const dir = path.join(fixtures, `tiny-${arch}`);
    const model = await loadModel(dir);
    const golden = SafetensorsFile.open(path.join(dir, 'golden-add.safetensors'));
    const clean = SafetensorsFile.open(path.join(dir, 'golden.safetensors'));
    const downstream = model.hooks.filter((h) => h.layer >= 1).map((h) => h.name).filter((n) => golden.tensors.has(n));
    const v = addVector(model.spec.dModel);
    const res = await model.run(TOKENS, { cache: downstream, interventions: [{ kind: 'add', hook: 'blocks.0.hook_resid_post', vector: v }] });
    assert.ok(maxDiff(res.logits!.data, clean.readF32('logits').data) > 1e-3, 'the intervention changes the logits');
    assert.ok(maxDiff(res.logits!.data, golden.readF32('logits').data) < 1e-4, 'logits');
    for (const h of downstream) assert.ok(maxDiff(res.cache[h].data, golden.readF32(h).data) < 1e-4, h);
    await model.dispose();
  });
}

test('adding at given positions equals patching with the shifted activation', async () => {
  const model = await loadModel(path.join(fixtures, 'tiny-llama'));
  const hook = 'blocks.0.hook_resid_post';
  const d = model.spec.dModel;
  const v = addVector(d);
  const base = await model.run(TOKENS, { cache: [hook] });
  const shifted = Float32Array.from(base.cache[hook].data);
  const T = TOKENS[0].length;
  for (let b = 0; b < 2; b++) for (const p of [2, 7]) for (let i = 0; i < d; i++) shifted[(b * T + p) * d + i] += v[i];
  const added = await model.run(TOKENS, { interventions: [{ kind: 'add', hook, vector: v, positions: [2, 7] }] });
  const patched = await model.run(TOKENS, { interventions: [{ kind: 'replace', hook, value: { dtype: 'float32', shape: [2, T, d], data: shifted } }] });
  assert.ok(maxDiff(added.logits!.data, base.logits!.data) > 1e-3);
  assert.ok(maxDiff(added.logits!.data, patched.logits!.data) < 1e-5);
  // Positions before the first shifted one are untouched (causality).
  const V = model.spec.dVocab;
  assert.ok(maxDiff(added.logits!.data.subarray(0, 2 * V), base.logits!.data.subarray(0, 2 * V)) < 1e-6);
});

/** Where a patch of each hook shows up additively: the residual stream that sums it (resid_mid = resid_pre + attn_out; resid_post = resid_mid + mlp_out). */
const SUMMED_INTO: Record<string, string | undefined> = {
  'blocks.0.hook_attn_out': 'blocks.0.hook_resid_mid',
  'blocks.1.hook_mlp_out': 'blocks.1.hook_resid_post',
  'blocks.1.hook_resid_pre': undefined,
  'blocks.0.hook_resid_mid': undefined,
};
for (const [hook, sum] of Object.entries(SUMMED_INTO)) {
  test(`patching ${hook} with a shifted value: the hook reads it, the stream that sums it moves by the shift, and it equals adding the shift`, async () => {
    const model = await loadModel(path.join(fixtures, 'tiny-gpt2'));
    const d = model.spec.dModel;
    const watch = [hook, ...(sum ? [sum] : [])];
    const base = await model.run(TOKENS, { cache: watch });
    const v = addVector(d);
    const shifted = Float32Array.from(base.cache[hook].data, (x, i) => x + v[i % d]);
    const value = { dtype: 'float32' as const, shape: [...base.cache[hook].shape], data: shifted };
    const res = await model.run(TOKENS, { cache: watch, interventions: [{ kind: 'replace', hook, value }] });
    assert.ok(maxDiff(res.logits!.data, base.logits!.data) > 1e-3, 'the patch changes the logits');
    assert.ok(maxDiff(res.cache[hook].data, shifted) < 1e-6, 'the hook reads the patched value');
    if (sum) assert.ok(maxDiff(res.cache[sum].data, Float32Array.from(base.cache[sum].data, (x, i) => x + v[i % d])) < 1e-5, `${sum} moved by exactly the shift`);
    // Adding v at every position is the same edit (the add path is pinned to the reference above).
    const added = await model.run(TOKENS, { interventions: [{ kind: 'add', hook, vector: v }] });
    assert.ok(maxDiff(res.logits!.data, added.logits!.data) < 1e-5);
  });
}

test('interventions belong to one call: the next call is clean', async () => {
  const model = await loadModel(path.join(fixtures, 'tiny-gpt2'));
  const before = await model.run(TOKENS);
  await model.run(TOKENS, { interventions: [{ kind: 'add', hook: 'blocks.0.hook_resid_pre', vector: addVector(32) }] });
  const after = await model.run(TOKENS);
  assert.equal(maxDiff(after.logits!.data, before.logits!.data), 0);
});

test('stopping at a hook gives the same activation without logits', async () => {
  const model = await loadModel(path.join(fixtures, 'tiny-neox'));
  const full = await model.run(TOKENS, { cache: ['blocks.0.hook_resid_post'] });
  const stopped = await model.run(TOKENS, { cache: ['blocks.0.hook_resid_post'], logits: 'none' });
  assert.equal(stopped.logits, undefined);
  assert.equal(maxDiff(stopped.cache['blocks.0.hook_resid_post'].data, full.cache['blocks.0.hook_resid_post'].data), 0);
});

test('batches of unequal lengths match running each sequence alone', async () => {
  const model = await loadModel(path.join(fixtures, 'tiny-llama'));
  const a = [1, 5, 9, 33, 2, 7, 7, 100];
  const b = [1, 40, 41];
  const both = await model.run([a, b], { cache: ['blocks.1.hook_resid_post'] });
  const onlyB = await model.run([b], { cache: ['blocks.1.hook_resid_post'] });
  const V = model.spec.dVocab;
  const T = a.length;
  assert.deepEqual(both.lengths, [8, 3]);
  const bRows = both.logits!.data.subarray(T * V, T * V + 3 * V);
  assert.ok(maxDiff(bRows, onlyB.logits!.data) < 1e-5);
});

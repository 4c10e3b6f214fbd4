/** The real TinyStories-656K model: greedy ids, KV-cache exactness, sampling. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { maxDiff, needsShared, tinyStories } from './helpers.ts';

const skip = needsShared();
const EXPECTED = [1137, 117, 1513, 101, 87, 1076, 1005, 361, 1377, 436, 1027, 1376, 1203, 615, 1377, 1257, 939, 306, 1307, 119, 71, 759, 1251, 1450, 77, 122, 1377, 265, 2029, 1307];

test('TinyStories-656K: the prompt encodes with BOS as the README says', { skip }, async () => {
  const model = await loadModel(tinyStories);
  assert.deepEqual(model.toTokens('Once upon a time,')[0], [1, 80, 147, 201, 282, 57, 8]);
});

for (const kvCache of [true, false]) {
  test(`TinyStories-656K: greedy decoding reproduces the reference ids (${kvCache ? 'with' : 'without'} KV cache)`, { skip }, async () => {
    const model = await loadModel(tinyStories);
    const r = await model.generate('Once upon a time,', { maxNewTokens: 30, temperature: 0, kvCache });
    assert.deepEqual(r.ids, EXPECTED);
    assert.ok(r.text.startsWith(' an ordinary cat named Kitty. Kitty loved to eat yummy food.'), r.text);
  });
}

test('TinyStories-656K: KV-cached logits equal a full forward pass at every step', { skip }, async () => {
  const model = await loadModel(tinyStories);
  const r = await model.generate('Once upon a time,', { maxNewTokens: 30, temperature: 0, returnLogits: true });
  const all = [...r.promptIds, ...r.ids];
  const full = await model.run([all]);
  const V = model.spec.dVocab;
  r.logits!.forEach((step, i) => {
    const pos = r.promptIds.length - 1 + i;
    const d = maxDiff(step, full.logits!.data.subarray(pos * V, (pos + 1) * V));
    assert.ok(d < 1e-4, `step ${i}: max |diff| ${d}`);
  });
});

test('TinyStories-656K: sampling is reproducible by seed and streams tokens', { skip }, async () => {
  const model = await loadModel(tinyStories);
  const seen: number[] = [];
  const a = await model.generate('One day', { maxNewTokens: 20, temperature: 1, topK: 40, topP: 0.95, seed: 7, onToken: (id) => seen.push(id) });
  const b = await model.generate('One day', { maxNewTokens: 20, temperature: 1, topK: 40, topP: 0.95, seed: 7 });
  const others = await Promise.all([8, 9, 10].map((seed) => model.generate('One day', { maxNewTokens: 20, temperature: 1, seed })));
  assert.deepEqual(a.ids, b.ids);
  assert.deepEqual(seen, a.ids);
  assert.ok(others.some((o) => o.ids.join() !== a.ids.join()), 'other seeds give other samples');
});

test('TinyStories-656K: stop strings end generation and cut the text', { skip }, async () => {
  const model = await loadModel(tinyStories);
  const r = await model.generate('Once upon a time,', { maxNewTokens: 30, temperature: 0, stop: ['Kitty'] });
  assert.equal(r.stopReason, 'stop');
  assert.equal(r.text, ' an ordinary cat named ');
});

test('TinyStories-656K: steering through generate works with the KV cache (logits equal the uncached path)', { skip }, async () => {
  const model = await loadModel(tinyStories);
  const v = Float32Array.from({ length: model.spec.dModel }, (_, i) => Math.cos(i));
  const interventions = [{ kind: 'add' as const, hook: 'blocks.0.hook_resid_post', vector: v, positions: [3, 9, 10, 11] }];
  const a = await model.generate('Once upon a time,', { maxNewTokens: 8, temperature: 0, interventions, returnLogits: true });
  const b = await model.generate('Once upon a time,', { maxNewTokens: 8, temperature: 0, interventions, returnLogits: true, kvCache: false });
  assert.deepEqual(a.ids, b.ids);
  a.logits!.forEach((l, i) => assert.ok(maxDiff(l, b.logits![i]) < 1e-4));
  const clean = await model.generate('Once upon a time,', { maxNewTokens: 8, temperature: 0, returnLogits: true });
  assert.ok(maxDiff(a.logits![0], clean.logits![0]) > 1e-3, 'the vector changes the next-token distribution');
});

/**
 * Parity with the PyTorch reference: tiny random gpt2, gpt_neox, llama
 * (GQA, tied embeddings), gemma, gemma2 (sliding window 4 on its even layers,
 * soft-caps, post norms, head_dim != d_model / heads) and qwen3 (q/k norms, a
 * sliding layer) models; every hook and the logits within 1e-4, and KV-cache
 * generation equal to full forwards past the sliding windows.
 * Fixtures: test/fixtures/make.ts.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { fixtures, maxDiff } from './helpers.ts';

const TOL = 1e-4;
const TOKENS = '5,17,99,3,64,127,0,42,8,8,77,1;12,1,2,3,4,5,6,7,100,101,102,103'.split(';').map((s) => s.split(',').map(Number));

for (const arch of ['gpt2', 'neox', 'llama', 'gemma', 'gemma2', 'qwen3']) {
  test(`${arch}: every hook and the logits match the PyTorch reference`, async () => {
    const dir = path.join(fixtures, `tiny-${arch}`);
    const model = await loadModel(dir);
    const golden = SafetensorsFile.open(path.join(dir, 'golden.safetensors'));
    const names = model.hooks.map((h) => h.name);
    const refHooks = [...golden.tensors.keys()].filter((k) => k !== 'logits');
    assert.deepEqual([...names].sort(), [...refHooks].sort(), 'saescope offers exactly the reference hooks');
    const res = await model.run(TOKENS, { cache: names });
    assert.ok(maxDiff(res.logits!.data, golden.readF32('logits').data) < TOL, 'logits');
    for (const name of names) {
      const want = golden.readF32(name);
      const got = res.cache[name];
      const d = maxDiff(got.data, want.data);
      assert.ok(d < TOL, `${name}: max |diff| ${d}`);
    }
    await model.dispose();
  });
}

test('llama fixture has GQA and tied embeddings', async () => {
  const model = await loadModel(path.join(fixtures, 'tiny-llama'));
  assert.ok(model.spec.nKvHeads < model.spec.nHeads);
  const f = SafetensorsFile.open(path.join(fixtures, 'tiny-llama', 'model.safetensors'));
  assert.ok(!f.tensors.has('model.embed_tokens.weight') && f.tensors.has('lm_head.weight'));
});

for (const arch of ['gemma', 'gemma2', 'qwen3']) {
  test(`${arch}: KV-cache generation equals full forwards at every step, past the sliding window`, async () => {
    const model = await loadModel(path.join(fixtures, `tiny-${arch}`));
    const prompt = [5, 17, 99, 3, 64, 127];
    const r = await model.generate(prompt, { maxNewTokens: 14, temperature: 0, stopAtEos: false, returnLogits: true });
    const all = [...r.promptIds, ...r.ids];
    assert.ok(all.length > 16, 'the sequence runs past every window');
    const full = await model.run([all]);
    const V = model.spec.dVocab;
    r.logits!.forEach((step, i) => {
      const pos = r.promptIds.length - 1 + i;
      const d = maxDiff(step, full.logits!.data.subarray(pos * V, (pos + 1) * V));
      assert.ok(d < TOL, `step ${i}: max |diff| ${d}`);
    });
    await model.dispose();
  });
}

for (const arch of ['gemma2', 'qwen3']) {
  test(`${arch}: steered KV-cache generation equals steered full forwards past the sliding window`, async () => {
    const model = await loadModel(path.join(fixtures, `tiny-${arch}`));
    const vector = Float32Array.from({ length: model.spec.dModel }, (_, i) => Math.sin(i + 1) * 2);
    const interventions = [{ kind: 'add' as const, hook: 'blocks.0.hook_resid_post', vector }];
    const prompt = [5, 17, 99, 3, 64, 127];
    const r = await model.generate(prompt, { maxNewTokens: 12, temperature: 0, stopAtEos: false, returnLogits: true, interventions });
    const all = [...r.promptIds, ...r.ids];
    const full = await model.run([all], { interventions });
    const plain = await model.run([all]);
    const V = model.spec.dVocab;
    assert.ok(maxDiff(full.logits!.data, plain.logits!.data) > 1e-2, 'the steering changes the logits');
    r.logits!.forEach((step, i) => {
      const pos = r.promptIds.length - 1 + i;
      const d = maxDiff(step, full.logits!.data.subarray(pos * V, (pos + 1) * V));
      assert.ok(d < TOL, `step ${i}: max |diff| ${d}`);
    });
    await model.dispose();
  });
}

test('gemma2 and qwen3 fixtures: sliding layers, soft-caps, post norms and head_dim as configured', async () => {
  const g2 = await loadModel(path.join(fixtures, 'tiny-gemma2'));
  assert.deepEqual(g2.spec.windows, [4, null, 4]);
  assert.ok(g2.spec.attnSoftcap === 5 && g2.spec.finalSoftcap === 0.5 && g2.spec.postNorms);
  assert.notEqual(g2.spec.dHead * g2.spec.nHeads, g2.spec.dModel);
  assert.ok(g2.hooks.some((h) => h.name === 'blocks.0.ln1_post.hook_normalized'));
  const q3 = await loadModel(path.join(fixtures, 'tiny-qwen3'));
  assert.deepEqual(q3.spec.windows, [null, 5, null]);
  assert.ok(q3.spec.qkNorm);
});

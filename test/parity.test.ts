/**
 * Parity with the PyTorch reference: tiny random gpt2, gpt_neox and llama
 * (GQA, tied embeddings) models; every hook and the logits within 1e-4.
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

for (const arch of ['gpt2', 'neox', 'llama']) {
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

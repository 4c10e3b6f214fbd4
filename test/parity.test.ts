/**
 * Parity with the PyTorch reference: tiny random gpt2, gpt_neox, llama
 * (GQA, tied embeddings), gemma, gemma2 (sliding window 4 on its even layers,
 * soft-caps, post norms, head_dim != d_model / heads) and qwen3 (q/k norms, a
 * sliding layer) models; every hook and the logits within 1e-4, and KV-cache
 * generation equal to full forwards past the sliding windows.
 * Fixtures: test/fixtures/make.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.ts';
import { fixtures, maxDiff, tmpDir } from './helpers.ts';

const TOL = 1e-4;
const TOKENS = '5,17,99,3,64,127,0,42,8,8,77,1;12,1,2,3,4,5,6,7,100,101,102,103'.split(';').map((s) => s.split(',').map(Number));

for (const arch of ['gpt2', 'neox', 'llama', 'gemma', 'gemma2', 'qwen3', 'gemma3', 'gemma3-v5']) {
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

for (const arch of ['gemma', 'gemma2', 'qwen3', 'gemma3', 'gemma3-v5']) {
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

for (const arch of ['gemma2', 'qwen3', 'gemma3']) {
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

test('gemma3 fixtures: default pattern (every 6th layer global), two rotaries, q/k norms, no attention soft-cap', async () => {
  const g3 = await loadModel(path.join(fixtures, 'tiny-gemma3'));
  assert.deepEqual(g3.spec.windows, [4, 4, 4, 4, 4, null]);
  assert.deepEqual(g3.spec.ropeScaling, { type: 'linear', factor: 4 });
  assert.deepEqual(g3.spec.localRope, { ropeTheta: 500 });
  assert.ok(g3.spec.qkNorm && g3.spec.postNorms && g3.spec.attnSoftcap === undefined && g3.spec.finalSoftcap === 0.5);
  const v5 = await loadModel(path.join(fixtures, 'tiny-gemma3-v5'));
  assert.deepEqual(v5.spec.windows, [null, 5, 5]);
  assert.equal(v5.spec.ropeTheta, 1e6);
  assert.equal(v5.spec.localRope?.ropeTheta, 300);
});

test('gemma3: a multimodal checkpoint (text_config, language_model.model. names, a vision tower) runs its text model equal to the same weights as gemma3_text', async () => {
  const src = path.join(fixtures, 'tiny-gemma3');
  const dir = tmpDir();
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  const { model_type: _t, architectures: _a, ...text } = cfg;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'gemma3', architectures: ['Gemma3ForConditionalGeneration'], text_config: text, vision_config: { hidden_size: 8 } }));
  const w = SafetensorsFile.open(path.join(src, 'model.safetensors')).readAll();
  const renamed = Object.fromEntries(Object.entries(w).map(([k, v]) => [k === 'lm_head.weight' ? 'language_model.lm_head.weight' : `language_model.${k}`, v]));
  renamed['vision_tower.vision_model.embeddings.patch_embedding.weight'] = { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
  renamed['multi_modal_projector.mm_input_projection_weight'] = { dtype: 'float32', shape: [2, 2], data: new Float32Array(4) };
  writeSafetensors(path.join(dir, 'model.safetensors'), renamed);
  const model = await loadModel(dir);
  assert.equal(model.spec.modelType, 'gemma3_text');
  const golden = SafetensorsFile.open(path.join(src, 'golden.safetensors'));
  const res = await model.run(TOKENS, { cache: ['blocks.5.hook_resid_post'] });
  assert.ok(maxDiff(res.logits!.data, golden.readF32('logits').data) < TOL);
  assert.ok(maxDiff(res.cache['blocks.5.hook_resid_post'].data, golden.readF32('blocks.5.hook_resid_post').data) < TOL);
  // The newer layout (transformers 4.52+): model.language_model.*, lm_head.* at the top.
  const dir2 = tmpDir();
  fs.copyFileSync(path.join(dir, 'config.json'), path.join(dir2, 'config.json'));
  writeSafetensors(path.join(dir2, 'model.safetensors'), Object.fromEntries(Object.entries(w).map(([k, v]) => [k === 'lm_head.weight' ? k : k.replace(/^model\./, 'model.language_model.'), v])));
  const newer = await loadModel(dir2);
  assert.ok(maxDiff((await newer.run(TOKENS)).logits!.data, golden.readF32('logits').data) < TOL);
  await model.dispose();
  await newer.dispose();
});

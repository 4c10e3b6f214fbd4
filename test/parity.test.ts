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

/** The pre-MLP norm's weight (and bias) per architecture, by HF tensor name: mlp.hook_in is ln2's x̂ times them. */
const MLP_NORM: Record<string, (L: number) => [string, string?]> = {
  gpt2: (L) => [`h.${L}.ln_2.weight`, `h.${L}.ln_2.bias`],
  neox: (L) => [`gpt_neox.layers.${L}.post_attention_layernorm.weight`, `gpt_neox.layers.${L}.post_attention_layernorm.bias`],
  llama: (L) => [`model.layers.${L}.post_attention_layernorm.weight`],
  qwen3: (L) => [`model.layers.${L}.post_attention_layernorm.weight`],
  gemma: (L) => [`model.layers.${L}.post_attention_layernorm.weight`],
  gemma2: (L) => [`model.layers.${L}.pre_feedforward_layernorm.weight`],
  gemma3: (L) => [`model.layers.${L}.pre_feedforward_layernorm.weight`],
};
const TOKENS = '5,17,99,3,64,127,0,42,8,8,77,1;12,1,2,3,4,5,6,7,100,101,102,103'.split(';').map((s) => s.split(',').map(Number));

for (const arch of ['gpt2', 'neox', 'llama', 'gemma', 'gemma2', 'qwen3', 'gemma3', 'gemma3-v5']) {
  test(`${arch}: every hook and the logits match the PyTorch reference`, async () => {
    const dir = path.join(fixtures, `tiny-${arch}`);
    const model = await loadModel(dir);
    const golden = SafetensorsFile.open(path.join(dir, 'golden.safetensors'));
    const names = model.hooks.map((h) => h.name);
    const refHooks = [...golden.tensors.keys()].filter((k) => k !== 'logits');
    // mlp.hook_in (what the MLP reads) is saescope's addition: checked below against the reference's ln2 output and the norm's weights.
    assert.deepEqual(names.filter((n) => !n.endsWith('.mlp.hook_in')).sort(), [...refHooks].sort(), 'saescope offers exactly the reference hooks, plus mlp.hook_in');
    const res = await model.run(TOKENS, { cache: names });
    const weights = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
    const plusOne = arch.startsWith('gemma');
    for (let L = 0; L < model.spec.nLayers; L++) {
      const [w, b] = MLP_NORM[arch.replace('-v5', '')](L);
      const gain = weights.readF32(w).data;
      const bias = b ? weights.readF32(b).data : undefined;
      const xhat = golden.readF32(`blocks.${L}.ln2.hook_normalized`).data;
      const d = gain.length;
      const want = xhat.map((v, i) => v * (plusOne ? 1 + gain[i % d] : gain[i % d]) + (bias ? bias[i % d] : 0));
      const diff = maxDiff(res.cache[`blocks.${L}.mlp.hook_in`].data, want);
      assert.ok(diff < TOL, `blocks.${L}.mlp.hook_in: max |diff| ${diff}`);
    }
    assert.ok(maxDiff(res.logits!.data, golden.readF32('logits').data) < TOL, 'logits');
    for (const name of refHooks) {
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

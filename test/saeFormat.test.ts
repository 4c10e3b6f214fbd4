/** SAELens folders: one written by hand to the documented layout loads; saescope's round-trip exactly. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { writeSafetensors, SafetensorsFile } from '../src/io/safetensors.ts';
import { loadSae } from '../src/sae/load.ts';
import { loadSparsity, saveSae } from '../src/sae/saelensFormat.ts';
import { Sae } from '../src/sae/sae.ts';
import { fixtures, tmpDir } from './helpers.ts';

const f32 = (data: number[], shape: number[]) => ({ dtype: 'float32' as const, shape, data: Float32Array.from(data) });

test('an SAE folder written by hand to the SAELens layout loads (flat, pre-v6 cfg.json)', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({
    architecture: 'standard', d_in: 2, d_sae: 3, dtype: 'float32', device: 'cpu', model_name: 'gpt2', hook_name: 'blocks.0.hook_resid_pre',
    hook_layer: 0, hook_head_index: null, activation_fn_str: 'relu', apply_b_dec_to_input: true, finetuning_scaling_factor: false,
    context_size: 128, prepend_bos: true, normalize_activations: 'none', dataset_path: 'Skylion007/openwebtext',
  }));
  writeSafetensors(path.join(dir, 'sae_weights.safetensors'), {
    W_enc: f32([1, 0, -1, 0, 1, 1], [2, 3]), b_enc: f32([0, 0, -0.5], [3]), W_dec: f32([1, 0, 0, 1, 0.5, 0.5], [3, 2]), b_dec: f32([0.1, -0.1], [2]),
  });
  writeSafetensors(path.join(dir, 'sparsity.safetensors'), { sparsity: f32([-1, -2, -3], [3]) });
  const sae = loadSae(dir);
  assert.equal(sae.cfg.hookName, 'blocks.0.hook_resid_pre');
  assert.equal(sae.cfg.modelName, 'gpt2');
  assert.deepEqual([...loadSparsity(dir)!], [-1, -2, -3]);
  // x = [1.1, 1.9]: sae_in = [1, 2]; pre = [1, 2, 0.5]; acts = relu(pre).
  const codes = await sae.encode(f32([1.1, 1.9], [1, 2]));
  assert.deepEqual([...codes.indices], [0, 1, 2]);
  [1, 2, 0.5].forEach((v, i) => assert.ok(Math.abs(codes.values[i] - v) < 1e-6, `value ${i}`));
  const recon = sae.decode(codes);
  assert.ok(Math.abs(recon.data[0] - (1 + 0.25 + 0.1)) < 1e-6 && Math.abs(recon.data[1] - (2 + 0.25 - 0.1)) < 1e-6);
});

for (const arch of ['standard', 'topk', 'jumprelu']) {
  test(`${arch}: a folder saescope saves round-trips exactly`, () => {
    const src = loadSae(path.join(fixtures, `sae-${arch}`));
    const dir = tmpDir();
    const density = Float32Array.from({ length: src.cfg.dSae }, (_, i) => -i / 10);
    saveSae(src, dir, { log10Density: density });
    const back = loadSae(dir);
    assert.deepEqual(back.cfg, src.cfg);
    for (const [k, t] of Object.entries(src.weights)) assert.deepEqual(back.weights[k].data, t.data, k);
    assert.deepEqual(loadSparsity(dir), density);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'cfg.json'), 'utf8'));
    assert.equal(cfg.metadata.hook_name, src.cfg.hookName);
    assert.deepEqual(SafetensorsFile.open(path.join(dir, 'sae_weights.safetensors')).tensors.get('W_enc')!.shape, [src.cfg.dIn, src.cfg.dSae]);
  });
}

test('bad SAE folders get clear errors', () => {
  const dir = tmpDir();
  const base = JSON.parse(fs.readFileSync(path.join(fixtures, 'sae-standard', 'cfg.json'), 'utf8'));
  fs.copyFileSync(path.join(fixtures, 'sae-standard', 'sae_weights.safetensors'), path.join(dir, 'sae_weights.safetensors'));
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ ...base, architecture: 'gated_plus' }));
  assert.throws(() => loadSae(dir), /unknown SAE architecture 'gated_plus' \(supported: standard, topk, batchtopk, jumprelu\)/);
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ ...base, d_sae: 65 }));
  assert.throws(() => loadSae(dir), /SAE tensor 'W_enc' has shape \[16, 64\], expected \[16, 65\]/);
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ ...base, architecture: 'topk' }));
  assert.throws(() => loadSae(dir), /a topk SAE needs 'k'/);
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify(base));
  const w = loadSae(path.join(fixtures, 'sae-standard')).weights;
  const bad = { ...w, b_enc: { ...w.b_enc, data: Float32Array.from(w.b_enc.data) } };
  bad.b_enc.data[5] = NaN;
  writeSafetensors(path.join(dir, 'sae_weights.safetensors'), bad);
  assert.throws(() => loadSae(dir), /SAE tensor 'b_enc' contains NaN at element 5/);
  assert.throws(() => new Sae(loadSae(path.join(fixtures, 'sae-standard')).cfg, { ...w, W_dec: undefined as never }), /missing SAE tensor 'W_dec'/);
});

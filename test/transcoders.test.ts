/**
 * Transcoders (issue 30): a dictionary that reads one hook and writes
 * another. Each published layout is written here as its publisher lays it
 * out and read back, and its output is recomputed independently: by numpy
 * (Gemma Scope 2, reading the safetensors bytes itself) or by plain loops in
 * the test (SAELens's transcoder, skip_transcoder and jumprelu_transcoder,
 * transcoder.py; the per-layer layout of SAELens's mwhanna loader). On a
 * real graph: steering adds decoder rows at the output hook, and eval splices
 * the output there.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { writeSafetensors } from '../src/io/safetensors.ts';
import { loadModel } from '../src/model/load.ts';
import { loadSae } from '../src/sae/load.ts';
import { saeIdentity } from '../src/sae/identity.ts';
import { Sae } from '../src/sae/sae.ts';
import { saveSae } from '../src/sae/saelensFormat.ts';
import { evaluateSae } from '../src/sae/eval/evaluate.ts';
import { steeringInterventions } from '../src/steering/steer.ts';
import { StepRunner } from '../src/sae/train/stepRunner.ts';
import { trainSaes } from '../src/sae/train/trainer.ts';
import { buildServer } from '../src/server/app.ts';
import { featuresForText } from '../src/analysis/textFeatures.ts';
import type { Tensor } from '../src/tensor/tensor.ts';
import { Rng } from '../src/tensor/random.ts';
import { maxDiff, needsShared, storiesCorpus, tinyStories, tmpDir } from './helpers.ts';

const t = (shape: number[], data: Float32Array): Tensor<'float32'> => ({ dtype: 'float32', shape, data });
function rand(rng: Rng, shape: number[], scale = 1): Tensor<'float32'> {
  const n = shape.reduce((a, b) => a * b, 1);
  return t(shape, Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale));
}

/** relu(x W_enc + b_enc), zeroed at or below the threshold when given; then W_dec, b_dec and W_skip x. Plain loops, float64. */
function reference(x: Tensor<'float32'>, w: Record<string, Tensor<'float32'>>): { acts: Float64Array; out: Float64Array } {
  const [n, dIn] = x.shape;
  const dSae = w.W_enc.shape[1];
  const dOut = w.W_dec.shape[1];
  const acts = new Float64Array(n * dSae);
  const out = new Float64Array(n * dOut);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < dSae; j++) {
      let pre = w.b_enc.data[j];
      for (let i = 0; i < dIn; i++) pre += x.data[r * dIn + i] * w.W_enc.data[i * dSae + j];
      acts[r * dSae + j] = w.threshold ? (pre > w.threshold.data[j] ? Math.max(pre, 0) : 0) : Math.max(pre, 0);
    }
    for (let o = 0; o < dOut; o++) {
      let y = w.b_dec.data[o];
      for (let j = 0; j < dSae; j++) y += acts[r * dSae + j] * w.W_dec.data[j * dOut + o];
      if (w.W_skip) for (let i = 0; i < dIn; i++) y += w.W_skip.data[o * dIn + i] * x.data[r * dIn + i];
      out[r * dOut + o] = y;
    }
  }
  return { acts, out };
}

async function outputs(dir: string, x: Tensor<'float32'>) {
  const sae = loadSae(dir);
  const f = await sae.forward(x, t([x.shape[0], sae.cfg.dOut ?? sae.cfg.dIn], new Float32Array(x.shape[0] * (sae.cfg.dOut ?? sae.cfg.dIn))));
  return { sae, acts: await sae.featureActs(x), out: f.recon };
}

test('SAELens transcoder, skip_transcoder and jumprelu_transcoder folders read with their output hook and width, recomputed in the test, and written back in the same layout', async () => {
  const rng = new Rng(3);
  const [dIn, dSae, dOut, n] = [6, 10, 5, 7];
  const x = rand(rng, [n, dIn]);
  // jumprelu_skip_transcoder: SAELens after 6.18 (tests/saes/test_transcoder.py: W_skip is (d_out, d_in), added as x @ W_skip.T).
  for (const arch of ['transcoder', 'skip_transcoder', 'jumprelu_transcoder', 'jumprelu_skip_transcoder']) {
    const dir = tmpDir();
    const w: Record<string, Tensor<'float32'>> = { W_enc: rand(rng, [dIn, dSae]), b_enc: rand(rng, [dSae], 0.3), W_dec: rand(rng, [dSae, dOut]), b_dec: rand(rng, [dOut]) };
    if (arch.includes('skip')) w.W_skip = rand(rng, [dOut, dIn], 0.5);
    if (arch.startsWith('jumprelu')) w.threshold = rand(rng, [dSae], 0.5);
    writeSafetensors(path.join(dir, 'sae_weights.safetensors'), w);
    fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({
      architecture: arch, d_in: dIn, d_sae: dSae, d_out: dOut, dtype: 'float32', device: 'cpu', apply_b_dec_to_input: false, normalize_activations: 'none',
      metadata: { sae_lens_version: '6.18.0', model_name: 'Qwen/Qwen3-0.6B', hook_name: 'blocks.2.mlp.hook_in', hook_name_out: 'blocks.2.hook_mlp_out', context_size: 128 },
    }));
    const got = await outputs(dir, x);
    assert.equal(got.sae.cfg.hookName, 'blocks.2.mlp.hook_in');
    assert.equal(got.sae.cfg.hookNameOut, 'blocks.2.hook_mlp_out');
    assert.equal(got.sae.cfg.dOut, dOut);
    const want = reference(x, w);
    assert.ok(maxDiff(got.acts.data, Float32Array.from(want.acts)) < 1e-5, `${arch}: feature activations`);
    assert.ok(maxDiff(got.out.data, Float32Array.from(want.out)) < 1e-5, `${arch}: output`);
    // decode() agrees with the graph, given x for the skip.
    assert.ok(maxDiff(got.sae.decode(await got.sae.encode(x), x).data, Float32Array.from(want.out)) < 1e-5, `${arch}: decode`);
    // Saved back: the same SAELens architecture name, d_out and hook_name_out, and the same outputs.
    const back = tmpDir();
    saveSae(got.sae, path.join(back, 'sae'));
    const cfg = JSON.parse(fs.readFileSync(path.join(back, 'sae', 'cfg.json'), 'utf8'));
    assert.equal(cfg.architecture, arch);
    assert.equal(cfg.d_out, dOut);
    assert.equal(cfg.metadata.hook_name_out, 'blocks.2.hook_mlp_out');
    assert.equal(cfg.apply_b_dec_to_input, false);
    assert.ok(maxDiff((await outputs(path.join(back, 'sae'), x)).out.data, got.out.data) === 0, `${arch}: round trip`);
  }
  const bad = tmpDir();
  writeSafetensors(path.join(bad, 'sae_weights.safetensors'), { W_enc: rand(rng, [dIn, dSae]), b_enc: rand(rng, [dSae]), W_dec: rand(rng, [dSae, dOut]), b_dec: rand(rng, [dOut]) });
  fs.writeFileSync(path.join(bad, 'cfg.json'), JSON.stringify({ architecture: 'transcoder', d_in: dIn, d_sae: dSae, d_out: dOut, metadata: { hook_name: 'blocks.0.mlp.hook_in' } }));
  assert.throws(() => loadSae(bad), /a transcoder needs its output hook \(hook_name_out\)/);
});

test('Gemma Scope 2 SAE and transcoder folders (config.json + params.safetensors, lowercase names) encode and decode as numpy computes JumpReLU on the same activations', async () => {
  const rng = new Rng(9);
  const root = tmpDir();
  const [dIn, dSae, n] = [8, 12, 5];
  const x = rand(rng, [n, dIn], 2);
  writeSafetensors(path.join(root, 'x.safetensors'), { x });
  const cases = [
    // Neuronpedia hosts the l0_medium SAEs (as {layer}-gemmascope-2-{res,mlp,att}-{width}) and the l0_small_affine transcoders
    // ({layer}-gemmascope-2-transcoder-{width}); every other variant gets no id, so no explanation attaches to other weights.
    { rel: 'gemma-scope-2-270m-pt/resid_post/layer_3_width_16k_l0_medium', cfg: { architecture: 'jump_relu', model_name: 'gemma-3-270m' }, dOut: dIn, hook: 'blocks.3.hook_resid_post', out: undefined, np: 'gemma-3-270m/3-gemmascope-2-res-16k' },
    { rel: 'gemma-scope-2-270m-pt/resid_post/layer_3_width_16k_l0_small', cfg: { architecture: 'jump_relu', model_name: 'gemma-3-270m' }, dOut: dIn, hook: 'blocks.3.hook_resid_post', out: undefined, np: undefined },
    { rel: 'gemma-scope-2-270m-pt/mlp_out_all/layer_4_width_16k_l0_big', cfg: { architecture: 'jump_relu', model_name: 'gemma-3-270m' }, dOut: dIn, hook: 'blocks.4.hook_mlp_out', out: undefined, np: undefined },
    { rel: 'gemma-scope-2-1b-it/mlp_out_all/layer_4_width_65k_l0_medium', cfg: { architecture: 'jump_relu', model_name: 'gemma-3-1b-it' }, dOut: dIn, hook: 'blocks.4.hook_mlp_out', out: undefined, np: 'gemma-3-1b-it/4-gemmascope-2-mlp-65k' },
    { rel: 'gemma-scope-2-1b-pt/attn_out_all/layer_6_width_16k_l0_medium', cfg: { architecture: 'jump_relu', model_name: 'gemma-3-1b' }, dOut: dIn, hook: 'blocks.6.attn.hook_z', out: undefined, np: 'gemma-3-1b/6-gemmascope-2-att-16k' },
    {
      rel: 'gemma-scope-2-270m-pt/transcoder/layer_2_width_16k_l0_small',
      cfg: { architecture: 'jump_relu', model_name: 'gemma-3-270m', hf_hook_point_in: 'model.layers.2.pre_feedforward_layernorm.output', hf_hook_point_out: 'model.layers.2.post_feedforward_layernorm.output' },
      dOut: 6, hook: 'blocks.2.mlp.hook_in', out: 'blocks.2.hook_mlp_out', np: undefined,
    },
    {
      rel: 'gemma-scope-2-270m-it/transcoder_all/layer_5_width_262k_l0_small_affine',
      cfg: { architecture: 'jump_relu', model_name: 'gemma-3-270m-it', affine_connection: true },
      dOut: 6, hook: 'blocks.5.mlp.hook_in', out: 'blocks.5.hook_mlp_out', np: 'gemma-3-270m-it/5-gemmascope-2-transcoder-262k',
    },
  ];
  for (const c of cases) {
    const dir = path.join(root, c.rel);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c.cfg));
    writeSafetensors(path.join(dir, 'params.safetensors'), {
      w_enc: rand(rng, [dIn, dSae]), w_dec: rand(rng, [dSae, c.dOut]), b_enc: rand(rng, [dSae], 0.5), b_dec: rand(rng, [c.dOut]), threshold: rand(rng, [dSae], 0.8),
      // Google's Gemma Scope 2 tutorial: an affine transcoder adds input @ affine_skip_connection ([d_in, d_out]).
      ...(c.cfg.affine_connection ? { affine_skip_connection: rand(rng, [dIn, c.dOut], 0.5) } : {}),
    });
    // numpy reads the same bytes (safetensors is a JSON header and raw little-endian arrays) and applies JumpReLU.
    const py = `
import json, struct, sys, numpy as np
def st(f):
    b = open(f, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n]); base = 8 + n
    return {k: np.frombuffer(b[base + v['data_offsets'][0]: base + v['data_offsets'][1]], dtype=np.float32).reshape(v['shape']) for k, v in h.items() if k != '__metadata__'}
p = st(sys.argv[1]); x = st(sys.argv[2])['x'].astype(np.float64)
pre = x @ p['w_enc'] + p['b_enc']
acts = np.where(pre > p['threshold'], np.maximum(pre, 0), 0)
out = acts @ p['w_dec'] + p['b_dec']
if 'affine_skip_connection' in p: out = out + x @ p['affine_skip_connection']
print(json.dumps({'acts': acts.ravel().tolist(), 'out': out.ravel().tolist()}))`;
    const want = JSON.parse(execFileSync('/usr/bin/python3', ['-c', py, path.join(dir, 'params.safetensors'), path.join(root, 'x.safetensors')], { encoding: 'utf8' })) as { acts: number[]; out: number[] };
    const got = await outputs(dir, x);
    assert.equal(got.sae.origin.format, 'gemma-scope-2');
    assert.equal(got.sae.cfg.hookName, c.hook, c.rel);
    assert.equal(got.sae.cfg.hookNameOut, c.out, c.rel);
    assert.match(got.sae.cfg.modelName, /^google\/gemma-3-/);
    assert.equal(got.sae.cfg.applyBDecToInput, false);
    // Neuronpedia's id (registry import-neuronpedia reads it).
    assert.equal(got.sae.cfg.extraMetadata?.neuronpedia_id, c.np, c.rel);
    assert.ok(maxDiff(got.acts.data, Float32Array.from(want.acts)) < 1e-4, `${c.rel}: activations`);
    assert.ok(maxDiff(got.out.data, Float32Array.from(want.out)) < 1e-4, `${c.rel}: output`);
  }
  // A crosscoder spans layers: refused by name.
  const cc = path.join(root, 'gemma-scope-2-1b-it/crosscoder/layer_7_13_17_22_width_262k_l0_medium');
  fs.mkdirSync(cc, { recursive: true });
  fs.writeFileSync(path.join(cc, 'config.json'), '{"architecture":"jump_relu"}');
  writeSafetensors(path.join(cc, 'params.safetensors'), { w_enc: rand(rng, [dIn, dSae]), w_dec: rand(rng, [dSae, dIn]), b_enc: rand(rng, [dSae]), b_dec: rand(rng, [dIn]), threshold: rand(rng, [dSae]) });
  assert.throws(() => loadSae(cc), /crosscoder dictionaries span several layers/);
});

test('the per-layer transcoder layout (layer_N.safetensors: W_enc stored [d_sae, d_in], optional W_skip) reads as SAELens\'s mwhanna loader reads it', async () => {
  const rng = new Rng(5);
  const [dIn, dSae, n] = [6, 9, 4];
  const x = rand(rng, [n, dIn]);
  const encT = rand(rng, [dSae, dIn]);
  const w = { W_enc: encT, W_dec: rand(rng, [dSae, dIn]), b_enc: rand(rng, [dSae], 0.3), b_dec: rand(rng, [dIn]), W_skip: rand(rng, [dIn, dIn], 0.2) };
  const file = path.join(tmpDir(), 'layer_7.safetensors');
  writeSafetensors(file, w);
  const got = await outputs(file, x);
  assert.equal(got.sae.cfg.hookName, 'blocks.7.mlp.hook_in');
  assert.equal(got.sae.cfg.hookNameOut, 'blocks.7.hook_mlp_out');
  // The encoder the test transposes itself.
  const enc = new Float32Array(dIn * dSae);
  for (let j = 0; j < dSae; j++) for (let i = 0; i < dIn; i++) enc[i * dSae + j] = encT.data[j * dIn + i];
  const want = reference(x, { ...w, W_enc: t([dIn, dSae], enc) });
  assert.ok(maxDiff(got.out.data, Float32Array.from(want.out)) < 1e-5);
});

test('on a model: steering adds decoder rows at the transcoder\'s output hook; eval splices its output there', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const d = model.spec.dModel;
  const rng = new Rng(11);
  const dir = path.join(tmpDir(), 'gemma-scope-2-tiny/transcoder/layer_1_width_16k_l0_small');
  fs.mkdirSync(dir, { recursive: true });
  // No HF module names: the hooks come from the site folder and layer_1.
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ architecture: 'jump_relu', model_name: 'tiny' }));
  const dSae = 16;
  const zero = (shape: number[]) => t(shape, new Float32Array(shape.reduce((a, b) => a * b, 1)));
  writeSafetensors(path.join(dir, 'params.safetensors'), { w_enc: rand(rng, [d, dSae]), w_dec: rand(rng, [dSae, d]), b_enc: zero([dSae]), b_dec: zero([d]), threshold: zero([dSae]) });
  const sae = loadSae(dir);
  assert.equal(sae.cfg.hookName, 'blocks.1.mlp.hook_in');
  const tokens = [[1, 17, 99, 3, 64, 127, 300, 42]];
  const { interventions } = await steeringInterventions(model, sae, [{ feature: 3, strength: 2 }], 'all', tokens[0].length);
  assert.equal(interventions[0].hook, 'blocks.1.hook_mlp_out');
  const steered = await model.run(tokens, { interventions, cache: ['blocks.1.hook_mlp_out'] });
  const clean = await model.run(tokens, { cache: ['blocks.1.hook_mlp_out'] });
  const row = sae.weights.W_dec.data.subarray(3 * d, 4 * d);
  const want = clean.cache['blocks.1.hook_mlp_out'].data.map((v, i) => v + 2 * row[i % d]);
  assert.ok(maxDiff(steered.cache['blocks.1.hook_mlp_out'].data, want) < 1e-4, 'W_dec row 3, times 2, added at hook_mlp_out');
  await assert.rejects(steeringInterventions(model, sae, [{ feature: 3, clamp: 1 }], 'all', 8), /clamping is for SAEs/);
  await model.dispose();
  // Eval of a transcoder whose output is always zero: splicing at hook_mlp_out is exactly zero-ablation there.
  const tiny = await loadModel(tinyStories);
  writeSafetensors(path.join(dir, 'params.safetensors'), { w_enc: rand(rng, [d, dSae]), w_dec: zero([dSae, d]), b_enc: zero([dSae]), b_dec: zero([d]), threshold: zero([dSae]) });
  const e = await evaluateSae(tiny, loadSae(dir), { corpus: `${storiesCorpus}[0:40]`, tokens: 400, contextSize: 64 });
  assert.ok(Math.abs(e.model_performance_preservation.ce_loss_with_sae - e.model_performance_preservation.ce_loss_with_ablation) < 1e-9);
  assert.ok(Math.abs(e.model_performance_preservation.ce_loss_with_sae - e.model_performance_preservation.ce_loss_without_sae) > 1e-3, 'the output hook matters to the loss');
  await tiny.dispose();
});

test('transcoder training steps (standard, skip, TopK, TopK with skip): the loss and every gradient equal a float64 recomputation from the loss by central differences (x -> y, b_dec never subtracted from x)', async () => {
  for (const v of [{ arch: 'standard', skip: false }, { arch: 'standard', skip: true }, { arch: 'topk', skip: false }, { arch: 'topk', skip: true }] as const) {
    const rng = new Rng(21);
    const [B, dIn, dSae, dOut, coef, k] = [6, 5, 7, 4, 0.3, 3];
    const cfg = {
      architecture: v.arch, dIn, dSae, dOut, ...(v.arch === 'topk' ? { k } : {}), ...(v.skip ? { skip: true } : {}), hookName: 'blocks.0.mlp.hook_in', hookNameOut: 'blocks.0.hook_mlp_out',
      applyBDecToInput: false, normalizeActivations: 'none' as const, modelName: '', contextSize: 8, prependBos: true, datasetPath: '', dtype: 'float32',
    };
    const params: Record<string, Float32Array> = { W_encT: rand(rng, [dSae, dIn]).data, b_enc: rand(rng, [dSae], 0.5).data, W_dec: rand(rng, [dSae, dOut]).data, b_dec: rand(rng, [dOut]).data };
    if (v.skip) params.W_skip = rand(rng, [dOut, dIn], 0.5).data;
    const x = rand(rng, [B, dIn], 2);
    const y = rand(rng, [B, dOut], 2);
    // Per token: the squared error summed over the output (SAELens's MSE), plus for standard coef * sum_s f_s ||W_dec[s]||;
    // TopK keeps the k largest pre-activations through ReLU (no sparsity term); a skip adds W_skip x. Mean over tokens.
    const loss = (p: Record<string, Float64Array>): number => {
      let total = 0;
      for (let b = 0; b < B; b++) {
        const pre = new Float64Array(dSae);
        for (let s = 0; s < dSae; s++) {
          pre[s] = p.b_enc[s];
          for (let i = 0; i < dIn; i++) pre[s] += x.data[b * dIn + i] * p.W_encT[s * dIn + i];
        }
        const kth = v.arch === 'topk' ? [...pre].sort((m, n) => n - m)[k - 1] : -Infinity;
        const f = pre.map((z) => (z >= kth ? Math.max(z, 0) : 0));
        for (let o = 0; o < dOut; o++) {
          let r = p.b_dec[o];
          for (let s = 0; s < dSae; s++) r += f[s] * p.W_dec[s * dOut + o];
          if (p.W_skip) for (let i = 0; i < dIn; i++) r += p.W_skip[o * dIn + i] * x.data[b * dIn + i];
          total += (r - y.data[b * dOut + o]) ** 2;
        }
        if (v.arch === 'standard') {
          for (let s = 0; s < dSae; s++) {
            let n = 0;
            for (let o = 0; o < dOut; o++) n += p.W_dec[s * dOut + o] ** 2;
            total += coef * f[s] * Math.sqrt(n);
          }
        }
      }
      return total / B;
    };
    const p64 = Object.fromEntries(Object.entries(params).map(([key, val]) => [key, Float64Array.from(val)]));
    const runner = new StepRunner(cfg, Object.fromEntries(Object.entries(params).map(([key, val]) => [key, Float32Array.from(val)])), { plainL1: false, unitNormDecoder: false, emitGrads: true, bandwidth: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const r = await runner.step(x, { lr: 0, sparsityCoef: coef, maxGradNorm: 1e9 }, y);
    const where = `${v.arch}${v.skip ? ' with skip' : ''}`;
    assert.ok(Math.abs(r.losses.loss - loss(p64)) < 1e-4 * Math.max(1, loss(p64)), `${where}: loss ${r.losses.loss} vs ${loss(p64)}`);
    const h = 1e-6;
    for (const name of Object.keys(params)) {
      const g = r.raw[`grad.${name}`].data;
      for (let i = 0; i < g.length; i++) {
        const plus = { ...p64, [name]: Float64Array.from(p64[name]) };
        const minus = { ...p64, [name]: Float64Array.from(p64[name]) };
        plus[name][i] += h;
        minus[name][i] -= h;
        const num = (loss(plus) - loss(minus)) / (2 * h);
        assert.ok(Math.abs(g[i] - num) < 1e-3 * Math.max(1, Math.abs(num)), `${where}: grad.${name}[${i}]: ${g[i]} vs ${num}`);
      }
    }
    await runner.dispose();
    await assert.rejects(runner.step(x, { lr: 0, sparsityCoef: coef, maxGradNorm: 1 }), /needs its target y/);
  }
});

test('sparsify transcoder folders (transcode, skip_connection) read as sparse_coder.py computes them, and a TopK transcoder saves as one and loads back', async () => {
  const rng = new Rng(13);
  const [dIn, dSae, n, k] = [6, 12, 5, 3];
  const x = rand(rng, [n, dIn]);
  // sparsify's SparseCoder with transcode: encode does not subtract b_dec, the top k pre-activations through ReLU,
  // decode W_dec [d_sae, d_in] + b_dec, and with skip_connection + x @ W_skip.mT (sparse_coder.py).
  const dir = path.join(tmpDir(), 'layers.1.mlp');
  fs.mkdirSync(dir);
  const enc = rand(rng, [dSae, dIn]);
  const raw = { 'encoder.weight': enc, 'encoder.bias': rand(rng, [dSae], 0.3), W_dec: rand(rng, [dSae, dIn]), b_dec: rand(rng, [dIn]), W_skip: rand(rng, [dIn, dIn], 0.5) };
  writeSafetensors(path.join(dir, 'sae.safetensors'), raw);
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ activation: 'topk', expansion_factor: 2, normalize_decoder: true, num_latents: dSae, k, multi_topk: false, skip_connection: true, transcode: true, d_in: dIn }));
  const got = await outputs(dir, x);
  assert.equal(got.sae.cfg.hookName, 'blocks.1.mlp.hook_in');
  assert.equal(got.sae.cfg.hookNameOut, 'blocks.1.hook_mlp_out');
  assert.equal(got.sae.cfg.applyBDecToInput, false);
  const want = new Float64Array(n * dIn);
  for (let r = 0; r < n; r++) {
    const pre = Array.from({ length: dSae }, (_, s) => raw['encoder.bias'].data[s] + Array.from({ length: dIn }, (_, i) => enc.data[s * dIn + i] * x.data[r * dIn + i]).reduce((a, b) => a + b, 0));
    const top = pre.map((v, s) => [v, s]).sort((a, b) => b[0] - a[0]).slice(0, k);
    for (let o = 0; o < dIn; o++) {
      let v = raw.b_dec.data[o];
      for (const [a, s] of top) v += Math.max(a, 0) * raw.W_dec.data[s * dIn + o];
      for (let i = 0; i < dIn; i++) v += x.data[r * dIn + i] * raw.W_skip.data[o * dIn + i];
      want[r * dIn + o] = v;
    }
  }
  assert.ok(maxDiff(got.out.data, Float32Array.from(want)) < 1e-5, 'sparsify transcoder output');
  // Saved: SAELens has no TopK transcoder, so the folder is sparsify's, with the hooks under saescope_ keys.
  const back = path.join(tmpDir(), 'tc');
  saveSae(got.sae, back);
  const cfg = JSON.parse(fs.readFileSync(path.join(back, 'cfg.json'), 'utf8'));
  assert.deepEqual([cfg.transcode, cfg.skip_connection, cfg.k, cfg.num_latents, cfg.d_in, cfg.saescope_hook_name_out], [true, true, k, dSae, dIn, 'blocks.1.hook_mlp_out']);
  assert.ok(fs.existsSync(path.join(back, 'sae.safetensors')) && !fs.existsSync(path.join(back, 'sae_weights.safetensors')));
  const again = await outputs(back, x);
  assert.equal(again.sae.cfg.hookName, 'blocks.1.mlp.hook_in');
  assert.ok(maxDiff(again.out.data, got.out.data) === 0, 'round trip');
  // A transcoder on an attention hookpoint has no input hook here: refused by name.
  const attn = path.join(tmpDir(), 'layers.1.self_attn');
  fs.cpSync(dir, attn, { recursive: true });
  assert.throws(() => loadSae(attn), /transcoders on MLP hookpoints/);
});

test('transcoders trained on TinyStories-656K\'s layer-1 MLP (standard, and TopK with a skip, from one forward pass) recover >= 0.9 of the CE loss on held-out stories when spliced in, and their saved folders load back with the same outputs', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const out = path.join(tmpDir(), 'tc');
  const outTopk = path.join(tmpDir(), 'tc-topk');
  // One forward pass feeds both: a standard transcoder, and a TopK skip transcoder (saved in sparsify's layout).
  const r = await trainSaes(model, [
    { hook: 'blocks.1.mlp.hook_in', hookOut: 'blocks.1.hook_mlp_out', architecture: 'standard', dSae: 8 * model.spec.dModel, lr: 5e-2, sparsityCoef: 1, bDecInit: 'mean', out },
    { hook: 'blocks.1.mlp.hook_in', hookOut: 'blocks.1.hook_mlp_out', architecture: 'topk', k: 64, skip: true, dSae: 8 * model.spec.dModel, lr: 5e-2, out: outTopk },
  ], {
    corpus: `${storiesCorpus}[0:1100]`, tokens: 1_000_000, batchSize: 1024, contextSize: 128, lrDecaySteps: 500, seed: 0,
  });
  const e = await evaluateSae(model, r.saes[0], { corpus: `${storiesCorpus}[1100:1280]`, tokens: 10_000 });
  assert.ok(e.model_performance_preservation.ce_loss_score >= 0.9, `CE loss recovered ${e.model_performance_preservation.ce_loss_score}`);
  assert.ok(e.reconstruction_quality.explained_variance > 0.85, `explained variance of hook_mlp_out ${e.reconstruction_quality.explained_variance}`);
  const back = loadSae(out);
  assert.equal(back.cfg.hookNameOut, 'blocks.1.hook_mlp_out');
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'cfg.json'), 'utf8')).architecture, 'transcoder');
  const clean = await model.run([[1, 17, 99, 3, 64, 127, 300, 42]], { cache: ['blocks.1.mlp.hook_in'] });
  const x = clean.cache['blocks.1.mlp.hook_in'];
  const rows = t([8, model.spec.dModel], x.data);
  assert.ok(maxDiff((await back.reconstruct(rows)).data, (await r.saes[0].reconstruct(rows)).data) < 1e-6);
  const eTopk = await evaluateSae(model, r.saes[1], { corpus: `${storiesCorpus}[1100:1280]`, tokens: 10_000 });
  process.stdout.write(`# topk skip transcoder: CE loss recovered ${eTopk.model_performance_preservation.ce_loss_score.toFixed(3)}, explained variance ${eTopk.reconstruction_quality.explained_variance.toFixed(3)}, L0 ${eTopk.sparsity.l0.toFixed(1)}\n`);
  assert.ok(eTopk.model_performance_preservation.ce_loss_score >= 0.9, `TopK transcoder: CE loss recovered ${eTopk.model_performance_preservation.ce_loss_score}`);
  assert.ok(eTopk.sparsity.l0 <= 64 && eTopk.sparsity.l0 > 32, `TopK transcoder L0 ${eTopk.sparsity.l0} (at most k = 64: top-k values at or below 0 are off)`);
  assert.ok(r.saes[1].weights.W_skip.data.some((v) => v !== 0), 'W_skip learnt (it starts at zero)');
  assert.equal(JSON.parse(fs.readFileSync(path.join(outTopk, 'cfg.json'), 'utf8')).transcode, true);
  const backTopk = loadSae(outTopk);
  assert.ok(maxDiff((await backTopk.reconstruct(rows)).data, (await r.saes[1].reconstruct(rows)).data) < 1e-6);
  await model.dispose();
});

test('a transcoder\'s identity covers where it writes: the same weights writing another hook are another dictionary', () => {
  const rng = new Rng(2);
  const w = { W_enc: rand(rng, [4, 6]), b_enc: rand(rng, [6]), W_dec: rand(rng, [6, 4]), b_dec: rand(rng, [4]) };
  const base = { architecture: 'standard' as const, dIn: 4, dSae: 6, applyBDecToInput: false, normalizeActivations: 'none' as const, hookName: 'blocks.0.mlp.hook_in', modelName: '', contextSize: 8, prependBos: true, datasetPath: '', dtype: 'float32' };
  const a = saeIdentity(new Sae({ ...base, hookNameOut: 'blocks.0.hook_mlp_out', dOut: 4 }, w));
  const b = saeIdentity(new Sae({ ...base, hookNameOut: 'blocks.1.hook_mlp_out', dOut: 4 }, w));
  const c = saeIdentity(new Sae({ ...base, hookNameOut: 'blocks.0.hook_mlp_out', dOut: 4 }, w));
  assert.notEqual(a, b);
  assert.equal(a, c);
});

test('a Llama Scope transcoder (hook_point_out differs) reads with the input norm folded into the encoder and the output norm into the decoder', async () => {
  const rng = new Rng(17);
  const [D, S, n] = [6, 9, 5];
  const w = { W_enc: rand(rng, [D, S]), b_enc: rand(rng, [S], 0.3), W_dec: rand(rng, [S, D]), b_dec: rand(rng, [D]) };
  const dir = tmpDir();
  fs.mkdirSync(path.join(dir, 'checkpoints'));
  const tr = (m: Tensor<'float32'>) => {
    const [a, b] = m.shape;
    const out = new Float32Array(a * b);
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[j * a + i] = m.data[i * b + j];
    return t([b, a], out);
  };
  writeSafetensors(path.join(dir, 'checkpoints', 'final.safetensors'), { 'encoder.weight': tr(w.W_enc), 'encoder.bias': w.b_enc, 'decoder.weight': tr(w.W_dec), 'decoder.bias': w.b_dec });
  const [normIn, normOut] = [4.5, 2.0];
  fs.writeFileSync(path.join(dir, 'hyperparams.json'), JSON.stringify({ d_model: D, d_sae: S, hook_point_in: 'blocks.2.ln2.hook_normalized', hook_point_out: 'blocks.2.hook_mlp_out', jump_relu_threshold: 0.2, dataset_average_activation_norm: { in: normIn, out: normOut }, act_fn: 'jumprelu' }));
  const sae = loadSae(dir);
  assert.equal(sae.cfg.hookNameOut, 'blocks.2.hook_mlp_out');
  const x = rand(rng, [n, D], 3);
  // As the SAE case (saeLayouts.test.ts): inputs times s_in, the threshold times s_in; the output, in the normalized
  // output space, divided by s_out = sqrt(d) / norm_out.
  const [sIn, sOut] = [Math.sqrt(D) / normIn, Math.sqrt(D) / normOut];
  const want = reference(t([n, D], x.data.map((v) => v * sIn)), { ...w, threshold: t([S], new Float32Array(S).fill(0.2 * sIn)) });
  assert.ok(maxDiff((await sae.reconstruct(x)).data, Float32Array.from(want.out, (v) => v / sOut)) < 1e-4);
});

test('the server serves a transcoder like an SAE, and says where it writes', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const data = tmpDir();
  const dir = path.join(data, 'gemma-scope-2-tiny', 'transcoder', 'layer_1_width_16k_l0_small');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ architecture: 'jump_relu', model_name: 'tiny' }));
  const rng = new Rng(4);
  const d = model.spec.dModel;
  writeSafetensors(path.join(dir, 'params.safetensors'), { w_enc: rand(rng, [d, 32]), w_dec: rand(rng, [32, d]), b_enc: rand(rng, [32], 0.1), b_dec: rand(rng, [d]), threshold: t([32], new Float32Array(32)) });
  const { app } = await buildServer(model, { saes: [{ name: 'tc', dir }], registry: path.join(data, 'r.db'), dataDirs: [data] });
  try {
    const info = (await app.inject({ method: 'GET', url: '/api/info' })).json() as { saes: { name: string; hook: string; hookOut?: string }[] };
    assert.deepEqual(info.saes.map((s) => [s.name, s.hook, s.hookOut]), [['tc', 'blocks.1.mlp.hook_in', 'blocks.1.hook_mlp_out']]);
    // Text to features reads the input hook, recomputed here with the library.
    const r = await app.inject({ method: 'POST', url: '/api/analyze', payload: { sae: 'tc', text: 'Once upon a time', top: 3 } });
    assert.equal(r.statusCode, 200, r.body);
    const want = await featuresForText(model, loadSae(dir), 'Once upon a time', { top: 3 });
    assert.deepEqual((r.json() as { top: { feature: number }[] }).top.map((x) => x.feature), want.top.map((x) => x.feature));
  } finally {
    await app.close();
    await model.dispose();
  }
});

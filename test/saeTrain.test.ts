/** SAE training on the real TinyStories-656K model: every architecture, several SAEs per pass, logs, normalization. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { loadSae } from '../src/sae/load.ts';
import { trainSaes } from '../src/sae/train/trainer.ts';
import { evaluateSae } from '../src/sae/eval/evaluate.ts';
import type { StepMetrics } from '../src/sae/train/options.ts';
import { needsShared, shared, tinyStories, tmpDir } from './helpers.ts';

const skip = needsShared();
const corpus = path.join(shared, 'corpora', 'tinystories-656K-samples.jsonl') + '[0:200]';
const small = { corpus, batchSize: 1024, contextSize: 64, bufferBatches: 4, deadWindowTokens: 20_000 };

test('topk trains: loss falls, L0 is k, the metrics log and the SAELens folder are written', { skip }, async () => {
  const model = await loadModel(tinyStories);
  const out = tmpDir();
  const log = path.join(out, 'metrics.jsonl');
  const seen: StepMetrics[] = [];
  const r = await trainSaes(model, [{ hook: 'blocks.1.hook_resid_pre', architecture: 'topk', dSae: 512, k: 8, out, lr: 2e-3 }], {
    ...small, tokens: 80 * 1024, metricsLog: log, logEverySteps: 20, onStep: (m) => seen.push(m),
  });
  const first = seen[0].saes[0];
  const last = seen[seen.length - 1].saes[0];
  assert.equal(seen.length, 80);
  assert.ok(last.mseLoss < 0.5 * first.mseLoss, `mse_loss ${first.mseLoss} -> ${last.mseLoss}`);
  assert.ok(last.explainedVariance > 0.6, `EV ${last.explainedVariance}`);
  assert.equal(last.l0, 8);
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.step), [20, 40, 60, 80]);
  const sae = loadSae(out);
  assert.equal(sae.cfg.architecture, 'topk');
  assert.equal(sae.cfg.hookName, 'blocks.1.hook_resid_pre');
  assert.ok(fs.existsSync(path.join(out, 'sparsity.safetensors')));
  assert.equal(r.saes.length, 1);
});

test('several SAEs (two hooks, two widths) train from one forward pass per batch', { skip }, async () => {
  const model = await loadModel(tinyStories);
  let calls = 0;
  const run = model.run.bind(model);
  model.run = (...a) => {
    calls++;
    return run(...a);
  };
  const root = tmpDir();
  const specs = [
    { hook: 'blocks.0.hook_resid_post', architecture: 'topk' as const, dSae: 256, k: 8, out: path.join(root, 'a') },
    { hook: 'blocks.0.hook_resid_post', architecture: 'topk' as const, dSae: 512, k: 8, out: path.join(root, 'b') },
    { hook: 'blocks.1.hook_mlp_out', architecture: 'standard' as const, dSae: 256, out: path.join(root, 'c') },
  ];
  await trainSaes(model, specs, { ...small, tokens: 8 * 1024 });
  const together = calls;
  calls = 0;
  await trainSaes(model, [specs[0]], { ...small, tokens: 8 * 1024 });
  assert.equal(together, calls, 'three SAEs cost the forward passes of one');
  assert.deepEqual(specs.map((s) => loadSae(s.out).cfg.dSae), [256, 512, 256]);
  assert.equal(loadSae(specs[2].out).cfg.hookName, 'blocks.1.hook_mlp_out');
});

test('standard (SAELens and tutorial form), batchtopk and jumprelu train and save loadable SAEs', { skip }, async () => {
  const model = await loadModel(tinyStories);
  const root = tmpDir();
  const specs = [
    { hook: 'blocks.1.hook_resid_pre', architecture: 'standard' as const, dSae: 256, out: path.join(root, 'std'), sparsityCoef: 1e-3 },
    { hook: 'blocks.1.hook_resid_pre', architecture: 'standard' as const, dSae: 256, out: path.join(root, 'tutorial'), plainL1: true, sparsityCoef: 1e-3 },
    { hook: 'blocks.1.hook_resid_pre', architecture: 'batchtopk' as const, dSae: 256, k: 8, out: path.join(root, 'btk') },
    { hook: 'blocks.1.hook_resid_pre', architecture: 'jumprelu' as const, dSae: 256, out: path.join(root, 'jr'), sparsityCoef: 1e-2 },
  ];
  const seen: StepMetrics[] = [];
  await trainSaes(model, specs, { ...small, tokens: 30 * 1024, sparsityWarmupSteps: 10, lrWarmupSteps: 5, lrDecaySteps: 5, onStep: (m) => seen.push(m) });
  for (let i = 0; i < specs.length; i++) {
    assert.ok(seen[seen.length - 1].saes[i].mseLoss < seen[0].saes[i].mseLoss, `${specs[i].out} improves`);
  }
  assert.equal(seen[0].saes[0].lr, 3e-4 / 5, 'learning rate warms up');
  assert.equal(seen[seen.length - 1].saes[0].lr, 0, 'and decays to zero');
  assert.ok(seen[0].saes[0].terms.l1 < seen[12].saes[0].terms.l1 * 2, 'L1 coefficient warms up');
  const tutorial = loadSae(specs[1].out);
  const { dSae, dIn } = tutorial.cfg;
  for (let s = 0; s < dSae; s++) {
    let n = 0;
    for (let i = 0; i < dIn; i++) n += tutorial.weights.W_dec.data[s * dIn + i] ** 2;
    assert.ok(Math.abs(Math.sqrt(n) - 1) < 1e-4, 'tutorial decoder rows have unit norm');
  }
  const btk = loadSae(specs[2].out);
  assert.equal(btk.cfg.architecture, 'jumprelu', 'BatchTopK is saved for inference as a threshold SAE');
  assert.ok(btk.weights.threshold.data[0] > 0);
  const jr = loadSae(specs[3].out);
  assert.equal(jr.cfg.architecture, 'jumprelu');
  const x = (await model.run('Once upon a time, there was a cat.', { cache: ['blocks.1.hook_resid_pre'], logits: 'none' })).cache['blocks.1.hook_resid_pre'];
  const flat = { ...x, shape: [x.shape[1], x.shape[2]] };
  for (const sae of [loadSae(specs[0].out), tutorial, btk, jr]) assert.equal((await sae.forward(flat)).recon.shape[1], dIn);
});

test('normalization to sqrt(d_in) is folded into the saved weights', { skip }, async () => {
  const model = await loadModel(tinyStories);
  const out = tmpDir();
  await trainSaes(model, [{ hook: 'blocks.1.hook_resid_pre', architecture: 'topk', dSae: 256, k: 8, out, lr: 2e-3, normalizeActivations: 'expected_average_only_in', bDecInit: 'mean' }], { ...small, tokens: 40 * 1024 });
  const sae = loadSae(out);
  assert.equal(sae.cfg.normalizeActivations, 'none');
  const r = await evaluateSae(model, sae, { corpus, tokens: 2000, contextSize: 64 });
  assert.ok(r.reconstruction_quality.explained_variance > 0.5, `EV in the original scale: ${r.reconstruction_quality.explained_variance}`);
  assert.ok(r.shrinkage.l2_ratio > 0.7 && r.shrinkage.l2_ratio < 1.2);
});

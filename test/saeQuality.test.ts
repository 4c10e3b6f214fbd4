/**
 * Quality parity with SAELens's trainer (issue 13): saescope's topk SAE and
 * the PyTorch reference's (`torch_reference.py train-sae`, SAELens 6.18's
 * training step) train on the same 20k activation rows of TinyStories-656K,
 * in the same order, with the same learning rate, batch and steps; saescope's
 * final MSE over all rows (squared error summed over d_in, mean over rows, as
 * the reference's `_sae_metrics` computes it) is within 2% of the reference's.
 * A quality check, not a time check.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { activationGroups } from '../src/data/activationSource.ts';
import { writeSafetensors } from '../src/io/safetensors.ts';
import { loadModel } from '../src/model/load.ts';
import { trainSaes } from '../src/sae/train/trainer.ts';
import { needsShared, storiesCorpus, tinyStories, tmpDir, torchReference, torchSkip } from './helpers.ts';

const REF = torchReference;
const skip = needsShared() || torchSkip();
const HOOK = 'blocks.1.hook_resid_pre';

test('saescope\'s topk SAE reaches the reference\'s MSE (within 2%) on the same 20k rows, order, lr, batch and steps', { skip }, async (t) => {
  const model = await loadModel(tinyStories);
  const d = model.spec.dModel;
  const N = 20_000;
  const rows = new Float32Array(N * d);
  let n = 0;
  for await (const g of activationGroups(model, { corpus: `${storiesCorpus}[0:400]`, hooks: [HOOK], contextSize: 128, epochs: 1 })) {
    const a = g.acts[HOOK];
    const take = Math.min(a.length, (N - n) * d);
    rows.set(a.subarray(0, take), n * d);
    n += take / d;
    if (n >= N) break;
  }
  assert.equal(n, N, 'the corpus slice holds 20k rows');
  const dir = tmpDir();
  const acts = path.join(dir, 'acts.safetensors');
  writeSafetensors(acts, { acts: { dtype: 'float32', shape: [N, d], data: rows } });
  const steps = 300;
  const batch = 1024;
  const lr = 1e-3;
  const ref = JSON.parse(execFileSync('/usr/bin/python3', [REF, 'train-sae', '--acts', acts, '--arch', 'topk', '--d-sae', '512', '--k', '8', '--lr', String(lr),
    '--batch', String(batch), '--steps', String(steps), '--hook', HOOK, '--out', path.join(dir, 'ref')], { encoding: 'utf8', env: { ...process.env, REF_THREADS: '2' } }).trim().split('\n').pop()!) as { mse: number; l0: number; explained_variance: number };
  const r = await trainSaes(model, [{ hook: HOOK, architecture: 'topk', dSae: 512, k: 8, lr, out: path.join(dir, 'ours') }], {
    corpus: '', activations: acts, inOrder: true, batchSize: batch, tokens: steps * batch,
  });
  const sae = r.saes[0];
  let l2 = 0;
  for (let i = 0; i < N; i += 4096) {
    const m = Math.min(4096, N - i);
    const x = { dtype: 'float32' as const, shape: [m, d], data: rows.subarray(i * d, (i + m) * d) };
    const y = await sae.reconstruct(x);
    for (let j = 0; j < m * d; j++) l2 += (y.data[j] - x.data[j]) ** 2;
  }
  const mse = l2 / N;
  t.diagnostic(`final MSE over all rows: saescope ${mse.toFixed(3)}, reference ${ref.mse.toFixed(3)} (${(100 * (mse / ref.mse - 1)).toFixed(2)}%); reference EV ${ref.explained_variance.toFixed(4)}`);
  assert.ok(mse <= ref.mse * 1.02, `saescope's MSE ${mse} is within 2% of the reference's ${ref.mse} (or better)`);
});

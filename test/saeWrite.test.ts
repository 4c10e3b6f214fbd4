/**
 * SAELens folders saescope writes, read by another tool: the PyTorch
 * reference (`torch_reference.py sae-step --sae DIR`, which reads cfg.json's
 * `architecture`, `k` and `apply_b_dec_to_input` and the weights the way
 * SAELens's SAE classes do) must compute the same features and reconstruction
 * from them as saescope does. Reading back with saescope alone would miss a
 * field both sides got wrong the same way.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.ts';
import { denseFromCodes } from '../src/sae/codes.ts';
import { loadSae } from '../src/sae/load.ts';
import { saveSae } from '../src/sae/saelensFormat.ts';
import { Sae } from '../src/sae/sae.ts';
import { Rng } from '../src/tensor/random.ts';
import { fixtures, needsShared, relErr, tmpDir, torchReference, torchSkip, trainedSae } from './helpers.ts';

const REF = torchReference;
const skip = needsShared() || torchSkip();

/** Runs the reference on a folder and compares its features and reconstruction with those of `sae` (the SAE before it was written). */
async function agree(dir: string, rows: number, sae: Sae = loadSae(dir)): Promise<void> {
  const rng = new Rng(7);
  const x = { dtype: 'float32' as const, shape: [rows, sae.cfg.dIn], data: Float32Array.from({ length: rows * sae.cfg.dIn }, () => 2 * rng.normal()) };
  const work = tmpDir();
  writeSafetensors(path.join(work, 'x.safetensors'), { x });
  execFileSync('/usr/bin/python3', [REF, 'sae-step', '--sae', dir, '--x', path.join(work, 'x.safetensors'), '--out', path.join(work, 'step.safetensors')], { env: { ...process.env, REF_THREADS: '2' } });
  const ref = SafetensorsFile.open(path.join(work, 'step.safetensors'));
  const fwd = await sae.forward(x);
  const acts = denseFromCodes(fwd.codes, sae.cfg.dSae);
  const refActs = ref.readF32('feature_acts').data;
  assert.ok(refActs.some((v) => v > 0), 'the reference sees features fire');
  assert.ok(relErr(acts, refActs) < 1e-4, `${dir}: feature_acts differ by ${relErr(acts, refActs)}`);
  assert.ok(relErr(fwd.recon.data, ref.readF32('sae_out').data) < 1e-4, `${dir}: sae_out`);
}

test('SAELens folders saescope writes (standard, topk, jumprelu) are read by the PyTorch reference to the same features and reconstruction', { skip }, async () => {
  for (const arch of ['standard', 'topk', 'jumprelu']) {
    // Weights that are not the fixture file's: every tensor moved, so the folder is saescope's writing, not a copy.
    const src = loadSae(path.join(fixtures, `sae-${arch}`));
    const rng = new Rng(arch.length);
    const weights = Object.fromEntries(Object.entries(src.weights).map(([k, t]) => [k, { ...t, data: Float32Array.from(t.data, (v) => v * (1 + 0.1 * rng.normal()) + (k === 'threshold' ? 0 : 0.01 * rng.normal())) }]));
    const dir = path.join(tmpDir(), arch);
    const sae = new Sae(src.cfg, weights);
    saveSae(sae, dir);
    // Compared with the SAE in memory, not with saescope reading its own folder back: a field written wrong shows.
    await agree(dir, 24, sae);
  }
});

test('an SAE saescope trained and saved is read by the PyTorch reference to the same features and reconstruction', { skip }, async () => {
  await agree(await trainedSae(), 32);
});

/**
 * SAE parity with the PyTorch reference (`torch_reference.py sae-step`):
 * encode, decode, losses and one step's gradients for standard, topk and
 * jumprelu, within 1e-4 relative. The folders are SAELens-layout input.
 * Fixtures: test/fixtures/makeSae.ts.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { loadSae } from '../src/sae/load.ts';
import { denseFromCodes } from '../src/sae/codes.ts';
import { fromSaeWeights } from './helpers.ts';
import { StepRunner } from '../src/sae/train/stepRunner.ts';
import { fixtures, relErr, stepGrads } from './helpers.ts';

const x = SafetensorsFile.open(path.join(fixtures, 'sae-x.safetensors')).readF32('x');
const PLAN = { plainL1: false, unitNormDecoder: false, emitGrads: true, bandwidth: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

for (const arch of ['standard', 'topk', 'jumprelu']) {
  test(`${arch}: encode, decode, losses and gradients match the PyTorch reference`, async () => {
    const dir = path.join(fixtures, `sae-${arch}`);
    const ref = SafetensorsFile.open(path.join(dir, 'step.safetensors'));
    const sae = loadSae(dir);
    const { dIn, dSae } = sae.cfg;
    // Inference path.
    const fwd = await sae.forward(x);
    assert.ok(relErr(denseFromCodes(fwd.codes, dSae), ref.readF32('feature_acts').data) < 1e-4, 'feature_acts');
    assert.ok(relErr(fwd.recon.data, ref.readF32('sae_out').data) < 1e-4, 'sae_out');
    assert.ok(relErr(sae.decode(fwd.codes).data, ref.readF32('sae_out').data) < 1e-4, 'decode');
    assert.ok(relErr((await sae.hiddenPre(x)).data, ref.readF32('hidden_pre').data) < 1e-4, 'hidden_pre');
    // Training path: the step graph's losses and raw gradients.
    const runner = new StepRunner(sae.cfg, fromSaeWeights(sae.cfg, sae.weights), PLAN);
    const r = await runner.step(x, { lr: 0, sparsityCoef: arch === 'standard' ? 5 : 0, maxGradNorm: 1e9 });
    assert.ok(relErr([r.losses.mse], ref.readF32('mse_loss').data) < 1e-4, 'mse');
    assert.ok(relErr([r.losses.loss], ref.readF32('loss').data) < 1e-4, 'loss');
    if (arch === 'standard') assert.ok(relErr([r.losses.l1], ref.readF32('l1_loss').data) < 1e-4, 'l1');
    assert.ok(relErr(r.raw.hidden_pre.data, ref.readF32('hidden_pre').data) < 1e-4, 'step hidden_pre');
    assert.ok(relErr(r.raw.sae_out.data, ref.readF32('sae_out').data) < 1e-4, 'step sae_out');
    const grads = stepGrads(r.raw, dSae, dIn);
    for (const [name, got] of Object.entries(grads)) {
      const e = relErr(got, ref.readF32(`grad.${name}`).data);
      assert.ok(e < 1e-4, `grad.${name}: relative error ${e}`);
    }
    await runner.dispose();
  });
}

for (const [arch, plainL1] of [['standard', false], ['standard', true], ['jumprelu', false]] as const) {
  test(`${arch}${plainL1 ? ' (plain L1)' : ''}: the dense step on row slices of the batch equals the step on the whole batch`, async () => {
    const sae = loadSae(path.join(fixtures, `sae-${arch}`));
    const plan = { ...PLAN, emitGrads: false, plainL1 };
    const scalars = { lr: 1e-3, sparsityCoef: arch === 'standard' ? 5 : 0.1, maxGradNorm: 1e9 };
    const whole = new StepRunner(sae.cfg, fromSaeWeights(sae.cfg, sae.weights), plan);
    whole.chunkElements = Infinity;
    const sliced = new StepRunner(sae.cfg, fromSaeWeights(sae.cfg, sae.weights), plan);
    sliced.chunkElements = sae.cfg.dSae * 3; // 3 rows per slice; the last one shorter when the batch is not a multiple
    assert.ok(x.shape[0] > 6, 'the fixture batch has more rows than one slice');
    for (let step = 0; step < 2; step++) {
      const a = await whole.step(x, scalars);
      const b = await sliced.step(x, scalars);
      for (const k of Object.keys(a.losses)) assert.ok(relErr([b.losses[k]], [a.losses[k]]) < 1e-5, `${k}: ${b.losses[k]} vs ${a.losses[k]}`);
      assert.ok(Math.abs(a.l0 - b.l0) < 1e-5, 'l0');
      assert.deepEqual(Array.from(b.fired!), Array.from(a.fired!), 'fired counts');
      assert.ok(relErr([b.varX], [a.varX]) < 1e-6, 'varX');
      assert.ok(relErr([b.gradNorm], [a.gradNorm]) < 1e-5, 'gradient norm');
    }
    for (const n of Object.keys(whole.params)) assert.ok(relErr(sliced.params[n], whole.params[n]) < 1e-5, `param ${n} after two steps`);
    await whole.dispose();
    await sliced.dispose();
  });
}

/**
 * Training steps against an independent float64 computation written here from
 * the published formulas, gradients included.
 *
 * JumpReLU (Rajamanoharan et al. 2024, "Jumping Ahead", and SAELens's
 * sae_lens/saes/jumprelu_sae.py at jbloomAus/SAELens 03a2eaf: `rectangle` at
 * line 22, `Step.backward` at lines 45-54, `JumpReLU.backward` at lines
 * 76-88, the L0 loss in `JumpReLUTrainingSAE.calculate_aux_loss`):
 *   f = pre · H(pre − θ), θ = exp(log θ)
 *   loss = Σ_d (x̂ − x)² / B + c · Σ_i H(pre_i − θ_i) / B
 *   ∂f/∂pre = H(pre − θ); ∂f/∂θ ≈ −(θ/ε) · rect((pre − θ)/ε); ∂H/∂θ ≈ −(1/ε) · rect((pre − θ)/ε)
 *   rect(u) = 1 for −½ < u < ½; ∂/∂log θ = θ · ∂/∂θ.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { loadSae } from '../src/sae/load.ts';
import { fromSaeWeights, transpose } from '../src/sae/train/params.ts';
import { StepRunner } from '../src/sae/train/stepRunner.ts';
import { fixtures, relErr } from './helpers.ts';

interface Reference {
  mse: number;
  l0Penalty: number;
  grads: Record<string, Float64Array>;
  /** Entries inside the rectangle kernel (so the threshold gradient is really exercised). */
  inKernel: number;
}

/** One JumpReLU training step in float64, straight from the formulas above. */
function jumpReluStep(x: Float32Array, B: number, dIn: number, dSae: number, w: Record<string, Float32Array>, c: number, eps: number): Reference {
  const theta = Float64Array.from(w.threshold);
  const gW_enc = new Float64Array(dIn * dSae);
  const gb_enc = new Float64Array(dSae);
  const gW_dec = new Float64Array(dSae * dIn);
  const gb_dec = new Float64Array(dIn);
  const gTheta = new Float64Array(dSae);
  let sq = 0;
  let fired = 0;
  let inKernel = 0;
  for (let b = 0; b < B; b++) {
    const saeIn = Float64Array.from({ length: dIn }, (_, j) => x[b * dIn + j] - w.b_dec[j]);
    const pre = new Float64Array(dSae);
    for (let i = 0; i < dSae; i++) {
      let s = w.b_enc[i];
      for (let j = 0; j < dIn; j++) s += saeIn[j] * w.W_enc[j * dSae + i];
      pre[i] = s;
    }
    const on = Array.from(pre, (p, i) => p > theta[i]);
    const f = Float64Array.from(pre, (p, i) => (on[i] ? p : 0));
    const dOut = new Float64Array(dIn);
    for (let j = 0; j < dIn; j++) {
      let r = w.b_dec[j];
      for (let i = 0; i < dSae; i++) r += f[i] * w.W_dec[i * dIn + j];
      const e = r - x[b * dIn + j];
      sq += e * e;
      dOut[j] = (2 * e) / B;
      gb_dec[j] += dOut[j];
    }
    for (let i = 0; i < dSae; i++) {
      if (on[i]) fired++;
      let dF = 0;
      for (let j = 0; j < dIn; j++) {
        dF += dOut[j] * w.W_dec[i * dIn + j];
        gW_dec[i * dIn + j] += f[i] * dOut[j];
      }
      const u = (pre[i] - theta[i]) / eps;
      const rect = u > -0.5 && u < 0.5 ? 1 : 0;
      inKernel += rect;
      gTheta[i] += -(theta[i] / eps) * rect * dF - (1 / eps) * rect * (c / B);
      const dPre = on[i] ? dF : 0;
      gb_enc[i] += dPre;
      for (let j = 0; j < dIn; j++) gW_enc[j * dSae + i] += saeIn[j] * dPre;
    }
  }
  // b_dec enters twice: in the reconstruction and, subtracted, in the encoder's input.
  for (let j = 0; j < dIn; j++) for (let i = 0; i < dSae; i++) gb_dec[j] -= w.W_enc[j * dSae + i] * gb_enc[i];
  const gLogTheta = Float64Array.from(gTheta, (g, i) => g * theta[i]);
  return { mse: sq / B, l0Penalty: (c * fired) / B, grads: { W_enc: gW_enc, b_enc: gb_enc, W_dec: gW_dec, b_dec: gb_dec, log_threshold: gLogTheta }, inKernel };
}

test('a JumpReLU step: MSE, the L0 penalty and every gradient (the threshold\'s straight-through one included) match a float64 computation of the formulas', async () => {
  const sae = loadSae(path.join(fixtures, 'sae-jumprelu'));
  const x = SafetensorsFile.open(path.join(fixtures, 'sae-x.safetensors')).readF32('x');
  const { dIn, dSae } = sae.cfg;
  const B = x.shape[0];
  const w = Object.fromEntries(Object.entries(sae.weights).map(([k, t]) => [k, t.data]));
  // A kernel wide enough that many pre-activations fall inside it, and a coefficient large enough to matter.
  const eps = 0.5;
  const c = 0.3;
  const ref = jumpReluStep(x.data, B, dIn, dSae, w, c, eps);
  assert.ok(ref.inKernel > 10, `the kernel is exercised (${ref.inKernel} entries)`);
  const runner = new StepRunner(sae.cfg, fromSaeWeights(sae.cfg, sae.weights), { plainL1: false, unitNormDecoder: false, emitGrads: true, bandwidth: eps, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const r = await runner.step(x, { lr: 0, sparsityCoef: c, maxGradNorm: 1e9 });
  assert.ok(relErr([r.losses.mse], [ref.mse]) < 1e-5, `mse ${r.losses.mse} vs ${ref.mse}`);
  assert.ok(relErr([r.losses.l0_penalty], [ref.l0Penalty]) < 1e-6, `l0 penalty ${r.losses.l0_penalty} vs ${ref.l0Penalty}`);
  const got: Record<string, ArrayLike<number>> = {
    W_enc: transpose(r.raw['grad.W_encT'].data, dSae, dIn),
    b_enc: r.raw['grad.b_enc'].data,
    W_dec: r.raw['grad.W_dec'].data,
    b_dec: r.raw['grad.b_dec'].data,
    log_threshold: r.raw['grad.log_threshold'].data,
  };
  for (const [name, g] of Object.entries(got)) {
    const e = relErr(g, ref.grads[name]);
    assert.ok(e < 1e-4, `grad.${name}: relative error ${e}`);
  }
  await runner.dispose();
});

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
 *
 * BatchTopK (Bussmann et al. 2024; SAELens's `BatchTopK.forward` in
 * sae_lens/saes/batchtopk_sae.py at 1edaa68, lines 23-31): of ReLU(pre) over
 * the whole batch, the k·B largest entries are kept, the rest zeroed; the
 * gradient reaches pre only through the kept entries; the smallest kept value
 * is the batch's threshold (what `update_topk_threshold` averages).
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { loadSae } from '../src/sae/load.ts';
import { fromSaeWeights } from './helpers.ts';
import { StepRunner } from '../src/sae/train/stepRunner.ts';
import { fixtures, relErr, stepGrads } from './helpers.ts';

/** Encoder, decoder and their gradients for given keep-masks: the part every dense architecture shares. */
function denseBackward(x: Float32Array, B: number, dIn: number, dSae: number, w: Record<string, Float32Array>, pre: Float64Array, keep: (b: number, i: number) => boolean,
  onLatent?: (b: number, i: number, dF: number) => void) {
  const g = { W_enc: new Float64Array(dIn * dSae), b_enc: new Float64Array(dSae), W_dec: new Float64Array(dSae * dIn), b_dec: new Float64Array(dIn) };
  let sq = 0;
  for (let b = 0; b < B; b++) {
    const f = Float64Array.from({ length: dSae }, (_, i) => (keep(b, i) ? pre[b * dSae + i] : 0));
    const dOut = new Float64Array(dIn);
    for (let j = 0; j < dIn; j++) {
      let r = w.b_dec[j];
      for (let i = 0; i < dSae; i++) r += f[i] * w.W_dec[i * dIn + j];
      const e = r - x[b * dIn + j];
      sq += e * e;
      dOut[j] = (2 * e) / B;
      g.b_dec[j] += dOut[j];
    }
    for (let i = 0; i < dSae; i++) {
      let dF = 0;
      for (let j = 0; j < dIn; j++) {
        dF += dOut[j] * w.W_dec[i * dIn + j];
        g.W_dec[i * dIn + j] += f[i] * dOut[j];
      }
      onLatent?.(b, i, dF);
      if (!keep(b, i)) continue;
      g.b_enc[i] += dF;
      for (let j = 0; j < dIn; j++) g.W_enc[j * dSae + i] += (x[b * dIn + j] - w.b_dec[j]) * dF;
    }
  }
  for (let j = 0; j < dIn; j++) for (let i = 0; i < dSae; i++) g.b_dec[j] -= w.W_enc[j * dSae + i] * g.b_enc[i];
  return { mse: sq / B, grads: g };
}

/** Pre-activations of every row, float64. */
function preActivations(x: Float32Array, B: number, dIn: number, dSae: number, w: Record<string, Float32Array>): Float64Array {
  const pre = new Float64Array(B * dSae);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < dSae; i++) {
      let s = w.b_enc[i];
      for (let j = 0; j < dIn; j++) s += (x[b * dIn + j] - w.b_dec[j]) * w.W_enc[j * dSae + i];
      pre[b * dSae + i] = s;
    }
  }
  return pre;
}

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
  const pre = preActivations(x, B, dIn, dSae, w);
  const gTheta = new Float64Array(dSae);
  let fired = 0;
  let inKernel = 0;
  const { mse, grads } = denseBackward(x, B, dIn, dSae, w, pre, (b, i) => pre[b * dSae + i] > theta[i], (b, i, dF) => {
    const u = (pre[b * dSae + i] - theta[i]) / eps;
    const rect = u > -0.5 && u < 0.5 ? 1 : 0;
    inKernel += rect;
    if (pre[b * dSae + i] > theta[i]) fired++;
    gTheta[i] += -(theta[i] / eps) * rect * dF - (1 / eps) * rect * (c / B);
  });
  return { mse, l0Penalty: (c * fired) / B, grads: { ...grads, log_threshold: Float64Array.from(gTheta, (g, i) => g * theta[i]) }, inKernel };
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
  const got = { ...stepGrads(r.raw, dSae, dIn), log_threshold: r.raw['grad.log_threshold'].data };
  for (const [name, g] of Object.entries(got)) {
    const e = relErr(g, ref.grads[name]);
    assert.ok(e < 1e-4, `grad.${name}: relative error ${e}`);
  }
  await runner.dispose();
});

test('a BatchTopK step: the k·B largest activations of the batch, the batch threshold, MSE and every gradient match a float64 computation', async () => {
  const fixture = loadSae(path.join(fixtures, 'sae-topk'));
  const cfg = { ...fixture.cfg, architecture: 'batchtopk' as const };
  const x = SafetensorsFile.open(path.join(fixtures, 'sae-x.safetensors')).readF32('x');
  const { dIn, dSae, k } = cfg;
  const B = x.shape[0];
  const w = Object.fromEntries(Object.entries(fixture.weights).map(([name, t]) => [name, t.data]));
  const pre = preActivations(x.data, B, dIn, dSae, w);
  const kept = Array.from(pre, (p) => Math.max(p, 0)).sort((a, b) => b - a).slice(0, k! * B);
  const t = kept[kept.length - 1];
  assert.ok(t > 0 && kept.length < B * dSae / 2, 'the batch keeps some but not most activations');
  const ref = denseBackward(x.data, B, dIn, dSae, w, pre, (b, i) => pre[b * dSae + i] >= t);
  const runner = new StepRunner(cfg, fromSaeWeights(cfg, fixture.weights), { plainL1: false, unitNormDecoder: false, emitGrads: true, bandwidth: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const r = await runner.step(x, { lr: 0, sparsityCoef: 0, maxGradNorm: 1e9 });
  assert.ok(Math.abs(r.batchThreshold! - t) < 1e-5 * t, `batch threshold ${r.batchThreshold} vs ${t}`);
  assert.ok(Math.abs(r.l0 - (k! * B) / B) < 1e-6, `L0 ${r.l0} is k on average`);
  assert.ok(relErr([r.losses.mse], [ref.mse]) < 1e-5, `mse ${r.losses.mse} vs ${ref.mse}`);
  const got = stepGrads(r.raw, dSae, dIn);
  for (const [name, g] of Object.entries(got)) {
    const e = relErr(g, ref.grads[name as keyof typeof ref.grads]);
    assert.ok(e < 1e-4, `grad.${name}: relative error ${e}`);
  }
  await runner.dispose();
});

/**
 * TopK with AuxK in Gao et al. 2024's form (appendix A.2): per row, the k
 * largest pre-activations (ReLU'd) reconstruct x; the k_aux largest among the
 * dead latents (ReLU'd) reconstruct the error e = x̂ − x, which is held constant:
 *   loss = Σ_d e² / B + s · Σ_d (ê_aux + e)² / B, ê_aux = Σ relu(pre_i) W_dec[i] over the aux latents,
 * so b_dec gets no gradient from the aux term except through the encoder's input.
 * SAELens's `TopKTrainingSAE.calculate_topk_aux_loss` (sae_lens/saes/topk_sae.py
 * at 03a2eaf) differs: it decodes the raw pre-activations with b_dec and uses
 * coefficient 1, not 1/32. This test found saescope's b_dec gradient counting
 * the aux term as if b_dec were decoded there, inconsistent with its own loss.
 */
test('a TopK step with AuxK: both losses and every gradient match a float64 computation, the error held constant in the aux term', async () => {
  const sae = loadSae(path.join(fixtures, 'sae-topk'));
  const x = SafetensorsFile.open(path.join(fixtures, 'sae-x.safetensors')).readF32('x');
  const { dIn, dSae, k } = sae.cfg;
  const B = x.shape[0];
  const w = Object.fromEntries(Object.entries(sae.weights).map(([name, t]) => [name, t.data]));
  const dead = Float32Array.from({ length: dSae }, (_, i) => (i % 3 === 1 ? 1 : 0));
  const auxK = 6;
  const scale = 0.4;
  const pre = preActivations(x.data, B, dIn, dSae, w);
  const g = { W_enc: new Float64Array(dIn * dSae), b_enc: new Float64Array(dSae), W_dec: new Float64Array(dSae * dIn), b_dec: new Float64Array(dIn) };
  let mse = 0;
  let aux = 0;
  const top = (row: Float64Array, n: number, allowed: (i: number) => boolean) => [...row.keys()].filter(allowed).sort((a, b) => row[b] - row[a]).slice(0, n);
  /** Adds one path's gradients: latents `on` with values relu(pre), upstream gradient dOut on the output. */
  const backward = (b: number, on: number[], dOut: Float64Array) => {
    for (const i of on) {
      const a = Math.max(pre[b * dSae + i], 0);
      let dF = 0;
      for (let j = 0; j < dIn; j++) {
        dF += dOut[j] * w.W_dec[i * dIn + j];
        g.W_dec[i * dIn + j] += a * dOut[j];
      }
      if (pre[b * dSae + i] <= 0) continue;
      g.b_enc[i] += dF;
      for (let j = 0; j < dIn; j++) {
        g.W_enc[j * dSae + i] += (x.data[b * dIn + j] - w.b_dec[j]) * dF;
        g.b_dec[j] -= w.W_enc[j * dSae + i] * dF;
      }
    }
  };
  for (let b = 0; b < B; b++) {
    const row = pre.subarray(b * dSae, (b + 1) * dSae);
    const on = top(row, k!, () => true);
    const onAux = top(row, auxK, (i) => dead[i] > 0);
    const e = new Float64Array(dIn);
    const d = new Float64Array(dIn);
    for (let j = 0; j < dIn; j++) {
      let r = w.b_dec[j];
      for (const i of on) r += Math.max(row[i], 0) * w.W_dec[i * dIn + j];
      e[j] = r - x.data[b * dIn + j];
      let ea = 0;
      for (const i of onAux) ea += Math.max(row[i], 0) * w.W_dec[i * dIn + j];
      d[j] = ea + e[j];
      mse += e[j] * e[j];
      aux += d[j] * d[j];
    }
    const dOut = Float64Array.from(e, (v) => (2 * v) / B);
    for (let j = 0; j < dIn; j++) g.b_dec[j] += dOut[j];
    backward(b, on, dOut);
    backward(b, onAux, Float64Array.from(d, (v) => (2 * scale * v) / B));
  }
  mse /= B;
  aux = (scale * aux) / B;
  const runner = new StepRunner(sae.cfg, fromSaeWeights(sae.cfg, sae.weights), { plainL1: false, unitNormDecoder: false, emitGrads: true, bandwidth: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const r = await runner.step(x, { lr: 0, sparsityCoef: 0, maxGradNorm: 1e9, aux: { dead, k: auxK, scale } });
  assert.ok(relErr([r.losses.mse], [mse]) < 1e-5, `mse ${r.losses.mse} vs ${mse}`);
  assert.ok(aux > 1e-3 * mse && relErr([r.losses.aux], [aux]) < 1e-5, `aux ${r.losses.aux} vs ${aux}`);
  const got = stepGrads(r.raw, dSae, dIn);
  for (const [name, v] of Object.entries(got)) {
    const err = relErr(v, g[name as keyof typeof g]);
    assert.ok(err < 1e-4, `grad.${name}: relative error ${err}`);
  }
  await runner.dispose();
});

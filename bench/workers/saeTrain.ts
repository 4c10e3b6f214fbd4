/**
 * saescope side of bench/sae-train: training steps on random activations,
 * as `torch_reference.py bench-sae` does (same shapes and random data), after warm-up.
 */
import { Rng } from '../../src/tensor/random.ts';
import { initParams } from '../../src/sae/train/params.ts';
import { StepRunner } from '../../src/sae/train/stepRunner.ts';
import type { SaeConfig } from '../../src/sae/config.ts';

const a = JSON.parse(process.argv[2]) as { arch: 'topk' | 'standard'; dIn: number; dSae: number; k: number; batch: number; steps: number };
const cfg: SaeConfig = {
  architecture: a.arch, dIn: a.dIn, dSae: a.dSae, k: a.arch === 'topk' ? a.k : undefined, applyBDecToInput: true,
  normalizeActivations: 'none', hookName: 'bench', modelName: 'bench', contextSize: 128, prependBos: true, datasetPath: '', dtype: 'float32',
};
const rng = new Rng(0);
const x = { dtype: 'float32' as const, shape: [a.batch, a.dIn], data: Float32Array.from({ length: a.batch * a.dIn }, () => rng.normal()) };
const runner = new StepRunner(cfg, initParams(cfg, 0, 1), { plainL1: false, unitNormDecoder: a.arch === 'topk', emitGrads: false, bandwidth: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
const scalars = { lr: 1e-4, sparsityCoef: 5, maxGradNorm: 1e9 };
// Two warm-up steps: ONNX Runtime's memory arena grows over the first two runs.
await runner.step(x, scalars);
await runner.step(x, scalars);
const t = performance.now();
for (let i = 0; i < a.steps; i++) await runner.step(x, scalars);
const dt = (performance.now() - t) / 1000 / a.steps;
console.log(JSON.stringify({ arch: a.arch, seconds_per_step: dt, tokens_per_s: a.batch / dt }));

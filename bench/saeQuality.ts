/**
 * `npm run bench -- sae-quality`: is saescope's trainer as good as SAELens's
 * on the same data? Activations of TinyStories-656K at blocks.1.hook_resid_pre
 * over stories 0-1149 of the shared corpus go to one safetensors file; the
 * PyTorch reference (`torch_reference.py train-sae`, SAELens 6.18's training
 * step) and `saescope train --activations FILE --in-order` each train a topk
 * SAE (2048 latents, k 16) on exactly those rows, in file order, with the same
 * learning rate, batch and steps (everything else is each trainer's own
 * default); `saescope eval` then scores both on stories 1150-1279. Prints
 * both sides and saescope minus the reference. Goal: explained variance and
 * CE loss recovered each no more than 0.005 below the reference's, and a dead
 * fraction no higher. Then the same for `standard` (ReLU + L1 weighted by
 * decoder norms) at a matched L0 (see below). `BENCH_QUALITY_ARCH=topk` or
 * `standard` runs one part only.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { CACHE, ROOT, SHARED, r3, torchRef, worker } from './common.ts';

const MODEL = path.join(SHARED, 'models', 'TinyStories-656K');
const CORPUS = path.join(SHARED, 'corpora', 'tinystories-656K-samples.jsonl');
const HOOK = 'blocks.1.hook_resid_pre';

type Ev = { reconstruction_quality: { explained_variance: number; mse: number }; model_performance_preservation: { ce_loss_score: number };
  sparsity: { l0: number }; features: { dead_fraction: number }; model_behavior_preservation: { kl_div_with_sae: number } };

/** The figures compared, from `saescope eval --json`. */
function pick(r: Record<string, unknown>) {
  const e = r as unknown as Ev;
  return {
    explained_variance: Number(e.reconstruction_quality.explained_variance.toFixed(4)), ce_loss_score: Number(e.model_performance_preservation.ce_loss_score.toFixed(4)),
    l0: r3(e.sparsity.l0), dead_fraction: Number(e.features.dead_fraction.toFixed(4)), mse: r3(e.reconstruction_quality.mse), kl_div_with_sae: r3(e.model_behavior_preservation.kl_div_with_sae),
  };
}
type Picked = ReturnType<typeof pick>;

const CLI = [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(ROOT, 'src', 'cli', 'main.ts')];

function evalOf(sae: string): Picked {
  return pick(JSON.parse(execFileSync(process.execPath, [...CLI, 'eval', '--model', MODEL, '--sae', sae, '--corpus', `${CORPUS}[1150:1280]`, '--tokens', '100000', '--json'],
    { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] })) as Record<string, unknown>);
}

/** Trains saescope's SAE on the rows in order; returns its evaluation and seconds. */
function trainOurs(acts: string, out: string, args: string[], lr: number, batch: number, steps: number): Picked & { train_seconds: number } {
  fs.rmSync(out, { recursive: true, force: true });
  const t = performance.now();
  execFileSync(process.execPath, [...CLI, 'train', '--model', MODEL, '--hook', HOOK, '--activations', acts, '--in-order', ...args, '--expansion', '16',
    '--lr', String(lr), '--batch-size', String(batch), '--tokens', String(steps * batch), '--out', out, '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const seconds = (performance.now() - t) / 1000;
  return { ...evalOf(out), train_seconds: r3(seconds) };
}

/** Trains the reference's SAE (SAELens 6.18's step) on the same rows; returns its evaluation, seconds and final training line. */
function trainRef(acts: string, out: string, args: string[], lr: number, batch: number, steps: number): Picked & { train_seconds: number; train_final: unknown } {
  fs.rmSync(out, { recursive: true, force: true });
  const t = performance.now();
  const ref = torchRef(['train-sae', '--acts', acts, ...args, '--d-sae', '2048', '--lr', String(lr), '--batch', String(batch), '--steps', String(steps), '--hook', HOOK, '--out', out]);
  const seconds = (performance.now() - t) / 1000;
  return { ...evalOf(out), train_seconds: r3(seconds), train_final: ref.result };
}

const diff = (a: Picked, b: Picked) => ({
  explained_variance: Number((a.explained_variance - b.explained_variance).toFixed(4)),
  ce_loss_score: Number((a.ce_loss_score - b.ce_loss_score).toFixed(4)),
  dead_fraction: Number((a.dead_fraction - b.dead_fraction).toFixed(4)),
  l0: r3(a.l0 - b.l0),
});

export function benchSaeQuality(): Record<string, unknown> {
  const steps = Number(process.env.BENCH_QUALITY_STEPS ?? 732);
  const lr = Number(process.env.BENCH_QUALITY_LR ?? 3e-4);
  const l1 = Number(process.env.BENCH_QUALITY_L1 ?? 40);
  const batch = 4096;
  const dir = path.join(CACHE, 'sae-quality');
  fs.mkdirSync(dir, { recursive: true });
  const acts = path.join(dir, 'acts-0-1150.safetensors');
  if (!fs.existsSync(acts)) worker('collectRows', { model: MODEL, hook: HOOK, corpus: `${CORPUS}[0:1150]`, contextSize: 128, out: acts });
  const only = process.env.BENCH_QUALITY_ARCH;
  const result: Record<string, unknown> = { bench: 'sae-quality', hook: HOOK, rows: SafetensorsFile.open(acts).tensors.get('acts')!.shape[0], steps, batch, lr, d_sae: 2048 };
  if (only !== 'standard') {
    const theirs = trainRef(acts, path.join(dir, 'ref'), ['--arch', 'topk', '--k', '16'], lr, batch, steps);
    const ours = trainOurs(acts, path.join(dir, 'saescope'), ['--arch', 'topk', '--k', '16'], lr, batch, steps);
    result.topk = { k: 16, saescope: ours, reference: theirs, diff: diff(ours, theirs) };
  }
  if (only !== 'topk') {
    // Standard (ReLU + L1 weighted by decoder norms, SAELens's form) at a matched L0: both at the same
    // coefficient first; when saescope's held-out L0 is more than 5% off the reference's, the coefficient
    // is moved by secant steps in log-log space (L0 falls as a power of the coefficient) up to twice.
    const theirs = trainRef(acts, path.join(dir, 'ref-standard'), ['--arch', 'standard', '--l1', String(l1)], lr, batch, steps);
    const tries: { l1: number; l0: number }[] = [];
    let c = l1;
    let ours = trainOurs(acts, path.join(dir, 'saescope-standard'), ['--arch', 'standard', '--l1', String(c)], lr, batch, steps);
    tries.push({ l1: c, l0: ours.l0 });
    while (Math.abs(ours.l0 / theirs.l0 - 1) > 0.05 && tries.length < 3) {
      const slope = tries.length >= 2
        ? Math.log(tries.at(-1)!.l0 / tries.at(-2)!.l0) / Math.log(tries.at(-1)!.l1 / tries.at(-2)!.l1)
        : -1;
      c *= Math.exp(Math.log(theirs.l0 / ours.l0) / (Number.isFinite(slope) && slope < 0 ? slope : -1));
      ours = trainOurs(acts, path.join(dir, 'saescope-standard'), ['--arch', 'standard', '--l1', String(r3(c))], lr, batch, steps);
      tries.push({ l1: r3(c), l0: ours.l0 });
    }
    result.standard = { l1_reference: l1, l1_saescope: tries.at(-1)!.l1, tries, saescope: ours, reference: theirs, diff: diff(ours, theirs) };
  }
  return result;
}

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
 * fraction no higher.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { CACHE, ROOT, SHARED, r3, torchRef, worker } from './common.ts';

const MODEL = path.join(SHARED, 'models', 'TinyStories-656K');
const CORPUS = path.join(SHARED, 'corpora', 'tinystories-656K-samples.jsonl');
const HOOK = 'blocks.1.hook_resid_pre';

export function benchSaeQuality(): Record<string, unknown> {
  const steps = Number(process.env.BENCH_QUALITY_STEPS ?? 732);
  const lr = Number(process.env.BENCH_QUALITY_LR ?? 3e-4);
  const batch = 4096;
  const dir = path.join(CACHE, 'sae-quality');
  fs.mkdirSync(dir, { recursive: true });
  const acts = path.join(dir, 'acts-0-1150.safetensors');
  if (!fs.existsSync(acts)) worker('collectRows', { model: MODEL, hook: HOOK, corpus: `${CORPUS}[0:1150]`, contextSize: 128, out: acts });
  const refOut = path.join(dir, 'ref');
  const oursOut = path.join(dir, 'saescope');
  fs.rmSync(refOut, { recursive: true, force: true });
  fs.rmSync(oursOut, { recursive: true, force: true });
  const t0 = performance.now();
  const ref = torchRef(['train-sae', '--acts', acts, '--arch', 'topk', '--d-sae', '2048', '--k', '16', '--lr', String(lr), '--batch', String(batch), '--steps', String(steps), '--hook', HOOK, '--out', refOut]);
  const refSeconds = (performance.now() - t0) / 1000;
  const cli = [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(ROOT, 'src', 'cli', 'main.ts')];
  const t1 = performance.now();
  execFileSync(process.execPath, [...cli, 'train', '--model', MODEL, '--hook', HOOK, '--activations', acts, '--in-order', '--arch', 'topk', '--k', '16', '--expansion', '16',
    '--lr', String(lr), '--batch-size', String(batch), '--tokens', String(steps * batch), '--out', oursOut, '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const oursSeconds = (performance.now() - t1) / 1000;
  const evalOf = (sae: string) => JSON.parse(execFileSync(process.execPath, [...cli, 'eval', '--model', MODEL, '--sae', sae, '--corpus', `${CORPUS}[1150:1280]`, '--tokens', '100000', '--json'],
    { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] })) as Record<string, unknown>;
  const a = evalOf(oursOut);
  const b = evalOf(refOut);
  type Ev = { reconstruction_quality: { explained_variance: number; mse: number }; model_performance_preservation: { ce_loss_score: number };
    sparsity: { l0: number }; features: { dead_fraction: number }; model_behavior_preservation: { kl_div_with_sae: number } };
  const pick = (r: Record<string, unknown>) => {
    const e = r as unknown as Ev;
    return {
      explained_variance: Number(e.reconstruction_quality.explained_variance.toFixed(4)), ce_loss_score: Number(e.model_performance_preservation.ce_loss_score.toFixed(4)),
      l0: r3(e.sparsity.l0), dead_fraction: Number(e.features.dead_fraction.toFixed(4)), mse: r3(e.reconstruction_quality.mse), kl_div_with_sae: r3(e.model_behavior_preservation.kl_div_with_sae),
    };
  };
  const ours = pick(a);
  const theirs = pick(b);
  return {
    bench: 'sae-quality', hook: HOOK, rows: SafetensorsFile.open(acts).tensors.get('acts')!.shape[0], steps, batch, lr, d_sae: 2048, k: 16,
    saescope: { ...ours, train_seconds: r3(oursSeconds) }, reference: { ...theirs, train_seconds: r3(refSeconds), train_final: ref.result },
    diff: {
      explained_variance: Number((ours.explained_variance - theirs.explained_variance).toFixed(4)),
      ce_loss_score: Number((ours.ce_loss_score - theirs.ce_loss_score).toFixed(4)),
      dead_fraction: Number((ours.dead_fraction - theirs.dead_fraction).toFixed(4)),
    },
  };
}

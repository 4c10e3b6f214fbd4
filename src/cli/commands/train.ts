/** `saescope train`: train one or more SAEs on a model's activations. */
import { checkTrainingFits } from '../../sae/train/memory.ts';
import { hookInnerDims } from '../../model/interventionFeeds.ts';
import { numel } from '../../tensor/tensor.ts';
import { refuseOverwrite } from '../../sae/existing.ts';
import * as path from 'node:path';
import type { Command } from 'commander';
import { checkWritable } from '../../io/atomicFile.ts';
import { progressBar } from '../progress.ts';
import type { SaeArchitecture } from '../../sae/config.ts';
import type { SaeSpec } from '../../sae/train/options.ts';
import { trainSaes } from '../../sae/train/trainer.ts';
import { loadForCli } from '../loadForCli.ts';
import { writeReport } from '../../sae/report.ts';
import { distributedTrain } from '../../distributed/coordinator.ts';
import { queueSecret } from '../../distributed/jobs.ts';
import { parseCount, parseNumber } from '../options.ts';
import { architectureNames } from '../../sae/architectures/registry.ts';

const ARCHS: readonly string[] = architectureNames();

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train SAEs on activations streamed from a model (several --hook/--expansion values train several SAEs from one pass)')
    .requiredOption('--model <pathOrId>', 'HF model folder, HF id, or llama2.c .bin')
    .option('--hook <hooks>', 'hook name(s), comma-separated')
    .option('--hook-in <hook>', "a transcoder's input hook (the same as --hook), e.g. blocks.1.ln2.hook_normalized")
    .option('--hook-out <hook>', 'train a transcoder: read --hook-in (or --hook) and learn to produce this hook (e.g. blocks.1.hook_mlp_out); every architecture')
    .option('--skip', "with --hook-out: a skip transcoder, whose output adds W_skip x (SAELens's skip_transcoder)")
    .option('--corpus <spec>', 'corpus: .txt, folder, .jsonl[:field], npm:nlp-corpus; [a:b] keeps documents a..b-1 (not needed with --activations)')
    .requiredOption('--tokens <n>', 'training tokens', parseCount('--tokens'))
    .option('--activations <dirOrFile>', 'train from an activation store written by `saescope collect`, or a .safetensors file with rows `acts` [N, d_in], instead of running the model')
    .option('--in-order', 'use the rows in the order they come, without the shuffle buffer (to match another trainer row for row)')
    .requiredOption('--out <dir>', 'output folder (one SAE), or a parent folder when training several')
    .option('--arch <arch>', `architecture: ${ARCHS.join(', ')}`, 'topk')
    .option('--k <k>', 'active latents per token (topk, batchtopk)', parseCount('--k'), 32)
    .option('--expansion <e>', 'd_sae = e x d_in; comma-separated for several widths', '8')
    .option('--lr <lr>', 'peak learning rate', parseNumber('--lr'), 3e-4)
    .option('--l1 <c>', 'sparsity coefficient (L1 for standard, L0 for jumprelu) on SAELens\'s scale: per token, against the MSE summed over d_in (docs/formats.md: Scales and names)', parseNumber('--l1'))
    .option('--tutorial-l1', 'standard SAE in the classic tutorial form: plain L1, unit-norm decoder rows')
    .option('--b-dec-init <how>', 'initial decoder bias: zeros (SAELens 6) or mean (of the first batch); default mean for topk/batchtopk, zeros otherwise')
    .option('--normalize', 'scale activations to an expected norm of sqrt(d_in) (folded back at save)')
    .option('--batch-size <n>', 'tokens per step', parseCount('--batch-size'), 4096)
    .option('--context-size <n>', 'tokens per row', parseCount('--context-size'), 128)
    .option('--lr-warmup-steps <n>', 'learning-rate warm-up steps', parseCount('--lr-warmup-steps'), 0)
    .option('--lr-decay-steps <n>', 'final steps of linear learning-rate decay', parseCount('--lr-decay-steps'), 0)
    .option('--l1-warmup-steps <n>', 'sparsity-coefficient warm-up steps', parseCount('--l1-warmup-steps'), 0)
    .option('--max-grad-norm <x>', 'gradient clipping', parseNumber('--max-grad-norm'), 1)
    .option('--dead-window <n>', 'tokens without firing before a latent counts as dead', parseCount('--dead-window'), 1_000_000)
    .option('--checkpoint-dir <dir>', 'write checkpoints here and resume from them')
    .option('--checkpoint-every <n>', 'tokens between checkpoints', parseCount('--checkpoint-every'), 1_000_000)
    .option('--log <file>', 'JSON-lines metrics log')
    .option('--log-every <n>', 'steps between log lines', parseCount('--log-every'), 10)
    .option('--seed <s>', 'seed', parseCount('--seed'), 0)
    .option('--report', 'write OUT/report.html at the end (and log to OUT/train_log.jsonl unless --log is given)')
    .option('--redis <url>', 'train the SAEs one per `saescope worker` on this Redis (redis://host:port); --out must be a folder every worker sees')
    .option('--secret-file <file>', 'with --redis: the queue\'s shared secret (default $SAESCOPE_QUEUE_SECRET)')
    .option('--quiet', 'no progress bar')
    .option('--model-name <org/name>', "SAELens's model_name in the saved cfg.json (default: the model's HF id when known, else its folder's name, with a warning)")
    .option('--overwrite', 'replace an SAE already in --out (it becomes a new SAE in the registry; the old one keeps its records)')
    .action(async (o) => {
      if (!o.corpus && !o.activations) throw new Error('give --corpus (text to run the model on) or --activations (rows already collected)');
      if (o.bDecInit !== undefined && o.bDecInit !== 'zeros' && o.bDecInit !== 'mean') throw new Error(`--b-dec-init must be zeros or mean, got '${o.bDecInit}'`);
      if (!ARCHS.includes(o.arch)) throw new Error(`--arch must be one of ${ARCHS.join(', ')}, got '${o.arch}'`);
      // Fail before training, not after it, when the SAE or its log could not be written.
      checkWritable(path.join(o.out, 'cfg.json'), '--out', true);
      if (o.report && !o.log) {
        if (String(o.expansion).includes(',') || String(o.hook).includes(',')) throw new Error('--report without --log trains one SAE; give --log FILE when training several');
        o.log = path.join(o.out, 'train_log.jsonl');
      }
      if (o.log) checkWritable(o.log, '--log', true);
      const model = await loadForCli(o.model, o);
      if (o.hook !== undefined && o.hookIn !== undefined) throw new Error('give --hook or --hook-in, not both');
      if (o.hookIn !== undefined && !o.hookOut) throw new Error('--hook-in is a transcoder\'s input: give --hook-out too (or train an SAE with --hook)');
      if (o.skip && !o.hookOut) throw new Error('--skip trains a skip transcoder: give --hook-out too');
      const hookArg = o.hookIn ?? o.hook;
      if (hookArg === undefined) throw new Error('give --hook (an SAE\'s hook), or --hook-in and --hook-out (a transcoder\'s)');
      const hooks = String(hookArg).split(',').map((h: string) => h.trim()).filter(Boolean);
      const expansions = String(o.expansion).split(',').map((e: string) => parseNumber('--expansion')(e));
      const specs: SaeSpec[] = [];
      if (o.hookOut && hooks.length > 1) throw new Error('--hook-out trains one transcoder: give one --hook');
      for (const hook of hooks) {
        const width = model.resolveHooks([hook])[0];
        for (const e of expansions) {
          const several = hooks.length * expansions.length > 1;
          specs.push({
            hook: width.name, ...(o.hookOut ? { hookOut: model.resolveHooks([o.hookOut])[0].name, skip: o.skip === true } : {}), architecture: o.arch as SaeArchitecture, dSae: Math.round(e * model.spec.dModel), k: o.k, lr: o.lr,
            sparsityCoef: o.l1, plainL1: o.tutorialL1 === true, bDecInit: o.bDecInit, normalizeActivations: o.normalize ? 'expected_average_only_in' : 'none',
            out: several ? `${o.out}/${width.name}-x${e}` : o.out,
          });
        }
      }
      for (const s of specs) refuseOverwrite(s.out, '--out', o.overwrite === true);
      checkTrainingFits(specs.map((s) => ({ dIn: numel(hookInnerDims(model.resolveHooks([s.hook])[0], model.spec)), dSae: s.dSae })), o.batchSize);
      const options = {
        modelName: o.modelName as string | undefined, onWarning: (m: string) => process.stderr.write(`saescope: warning: ${m}\n`),
        corpus: o.corpus ?? '', activations: o.activations, inOrder: o.inOrder === true, tokens: o.tokens, contextSize: o.contextSize, batchSize: o.batchSize, seed: o.seed,
        lrWarmupSteps: o.lrWarmupSteps, lrDecaySteps: o.lrDecaySteps, sparsityWarmupSteps: o.l1WarmupSteps, maxGradNorm: o.maxGradNorm,
        deadWindowTokens: o.deadWindow, checkpointEveryTokens: o.checkpointEvery,
      };
      if (o.redis) {
        if (o.log || o.report || o.checkpointDir) throw new Error('--log, --report and --checkpoint-dir are for one-process training; with --redis each SAE checkpoints to OUT.checkpoint and reports its final metrics here');
        const bar = o.quiet ? undefined : progressBar(' train [{bar}] {percentage}% | {value}/{total} tok over all SAEs | {done}/{n} SAEs');
        const steps = Math.ceil(o.tokens / o.batchSize);
        bar?.start(steps * o.batchSize * specs.length, 0, { done: 0, n: specs.length });
        const done = await distributedTrain(model, {
          redis: o.redis, secret: queueSecret(o.secretFile), model: o.model, weights: o.weights, specs, options,
          onProgress: (p) => bar?.update(p.tokens, { done: p.shardsDone, n: p.shards }),
        });
        bar?.stop();
        for (const d of done) {
          const m = d.metrics;
          process.stderr.write(`saved ${d.file}${m ? ` (EV ${m.explainedVariance.toFixed(3)}, L0 ${m.l0.toFixed(1)}, dead ${(100 * m.deadFraction).toFixed(1)}%)` : ''}\n`);
        }
        return;
      }
      const bar = o.quiet ? undefined : progressBar(' train [{bar}] {percentage}% | {value}/{total} tok | {tps} tok/s | loss {loss} | L0 {l0} | EV {ev} | dead {dead}', { hideCursor: true });
      bar?.start(o.tokens, 0, { tps: '-', loss: '-', l0: '-', ev: '-', dead: '-' });
      const r = await trainSaes(model, specs, {
        ...options, checkpointDir: o.checkpointDir, metricsLog: o.log, logEverySteps: o.logEvery,
        onStep: (m) => {
          const s = m.saes[0];
          bar?.update(Math.min(m.tokens, o.tokens), {
            tps: Math.round(m.tokensPerSecond), loss: s.loss.toPrecision(4), l0: s.l0.toFixed(1),
            ev: s.explainedVariance.toFixed(3), dead: `${(100 * s.deadFraction).toFixed(1)}%`,
          });
        },
      });
      bar?.stop();
      process.stderr.write(`${r.resumed ? 'resumed and ' : ''}saved ${specs.map((s) => s.out).join(', ')}\n`);
      if (o.report) {
        for (const s of specs) {
          writeReport(s.out, path.join(s.out, 'report.html'), { log: o.log });
          process.stderr.write(`report: ${path.join(s.out, 'report.html')}\n`);
        }
      }
    });
}

/** `saescope eval`: evaluate an SAE on held-out tokens (SAELens metric names). */
import type { Command } from 'commander';
import { evaluateSae } from '../../sae/eval/evaluate.ts';
import { loadSaeForCli } from '../saeForCli.ts';
import { loadForCli } from '../loadForCli.ts';
import { parseCount } from '../options.ts';

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate an SAE: reconstruction, sparsity, dead/dense latents, CE loss recovered and KL with the SAE spliced in')
    .requiredOption('--model <pathOrId>', 'HF model folder, HF id, or llama2.c .bin')
    .requiredOption('--sae <dir>', 'SAELens-layout SAE folder')
    .requiredOption('--corpus <spec>', 'held-out corpus ([a:b] keeps documents a..b-1)')
    .option('--tokens <n>', 'tokens to evaluate', parseCount('--tokens'), 50_000)
    .option('--context-size <n>', 'tokens per row (default: the SAE\'s)', parseCount('--context-size'))
    .option('--json', 'print JSON')
    .action(async (o) => {
      const model = await loadForCli(o.model, o);
      const sae = loadSaeForCli(o);
      const r = await evaluateSae(model, sae, { corpus: o.corpus, tokens: o.tokens, contextSize: o.contextSize });
      for (const w of r.warnings) process.stderr.write(`saescope: warning: ${w}\n`);
      if (o.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        return;
      }
      const rows: [string, number][] = [
        ['explained variance', r.reconstruction_quality.explained_variance], ['mse (per element)', r.reconstruction_quality.mse], ['cosine', r.reconstruction_quality.cossim],
        ['L0', r.sparsity.l0], ['L1', r.sparsity.l1], ['L2 ratio (shrinkage)', r.shrinkage.l2_ratio],
        ['dead fraction', r.features.dead_fraction], ['dense fraction (>10%)', r.features.dense_fraction],
        ['CE loss clean', r.model_performance_preservation.ce_loss_without_sae], ['CE loss with SAE', r.model_performance_preservation.ce_loss_with_sae],
        ['CE loss zero-ablated', r.model_performance_preservation.ce_loss_with_ablation], ['CE loss recovered', r.model_performance_preservation.ce_loss_score],
        ['KL with SAE', r.model_behavior_preservation.kl_div_with_sae], ['tokens', r.tokens],
      ];
      for (const [k, v] of rows) process.stdout.write(`${k.padEnd(24)} ${Number(v.toPrecision(5))}\n`);
    });
}

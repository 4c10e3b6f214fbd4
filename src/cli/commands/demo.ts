/**
 * `saescope demo`: the quickstart. Trains a small topk SAE on the model's
 * middle residual stream (once; cached under --dir), scans it into the
 * registry, and serves the web app over it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { progressBar } from '../progress.ts';
import { buildDashboards } from '../../analysis/dashboard.ts';
import { heuristicNames } from '../../interp/heuristic.ts';
import { scan } from '../../analysis/scan.ts';
import { Registry } from '../../registry/registry.ts';
import { loadSae } from '../../sae/load.ts';
import { trainSaes } from '../../sae/train/trainer.ts';
import type { SaeSpec, TrainOptions } from '../../sae/train/options.ts';
import type { HookedModel } from '../../model/hookedModel.ts';
import { buildServer } from '../../server/app.ts';
import { loadForCli } from '../loadForCli.ts';
import { parseCount } from '../options.ts';

/** The demo's SAE: a topk SAE (8 x d_model latents, k 16) on the middle residual stream. */
export function demoSpec(model: HookedModel, out: string): SaeSpec {
  return { hook: `blocks.${Math.floor(model.spec.nLayers / 2)}.hook_resid_pre`, architecture: 'topk', dSae: 8 * model.spec.dModel, k: 16, out, lr: 1e-3 };
}

/** The demo's training options (tests train the same SAE with these). */
export function demoTraining(model: HookedModel, corpus: string, tokens: number): TrainOptions {
  return { corpus, tokens, batchSize: 2048, contextSize: Math.min(128, model.spec.nCtx), deadWindowTokens: 100_000 };
}

/** Tokens the demo scans its SAE over. */
export const DEMO_SCAN_TOKENS = 50_000;

export function registerDemo(program: Command): void {
  program.command('demo')
    .description('train a small SAE (cached), scan it, and serve the web app: the quickest way in')
    .requiredOption('--model <pathOrId>', 'model')
    .option('--corpus <spec>', 'corpus for training and the scan', 'npm:nlp-corpus')
    .option('--tokens <n>', 'training tokens', parseCount('--tokens'), 400_000)
    .option('--dir <dir>', 'where the SAE and registry go', 'runs/demo')
    .option('--host <host>', 'interface', '127.0.0.1')
    .option('--port <port>', 'port', parseCount('--port'), 5173)
    .action(async (o) => {
      const model = await loadForCli(o.model, o);
      const spec = demoSpec(model, path.join(o.dir, 'sae'));
      const hook = spec.hook;
      const saeDir = path.join(o.dir, 'sae');
      const regFile = path.join(o.dir, 'registry.db');
      const bar = progressBar(' {task} [{bar}] {percentage}% | {value}/{total} tokens');
      if (!fs.existsSync(path.join(saeDir, 'cfg.json'))) {
        bar.start(o.tokens, 0, { task: 'train' });
        await trainSaes(model, [spec], {
          ...demoTraining(model, o.corpus, o.tokens),
          onStep: (m) => bar.update(Math.min(m.tokens, o.tokens), { task: 'train' }),
        });
        bar.stop();
      }
      const sae = loadSae(saeDir);
      const reg = Registry.open(regFile);
      const keys = reg.file(model, sae, saeDir, 'demo');
      if (reg.dashboards.count(keys.model, keys.sae) === 0) {
        bar.start(DEMO_SCAN_TOKENS, 0, { task: 'scan' });
        const s = await scan(model, sae, { corpus: o.corpus, tokens: DEMO_SCAN_TOKENS, onProgress: (p) => bar.update(Math.min(p.tokens, DEMO_SCAN_TOKENS), { task: 'scan' }) });
        bar.stop();
        const dashboards = await buildDashboards(model, sae, s);
        reg.setDashboards(keys.model, keys.sae, dashboards);
        // Every feature that fired gets a heuristic name, so the demo names features without an LLM.
        reg.setHeuristicNames(keys.model, keys.sae, heuristicNames(dashboards));
      }
      reg.close();
      // The Jobs page offers the demo's corpus and whatever is put in its folder.
      const { app } = await buildServer(model, { saes: [{ dir: saeDir, name: 'demo' }], registry: regFile, dataDirs: [o.dir], corpora: [o.corpus.startsWith('npm:') ? o.corpus : path.resolve(o.corpus)] });
      const address = await app.listen({ host: o.host, port: o.port });
      process.stderr.write(`saescope demo: ${model.name}, SAE at ${hook}; open ${address}\n`);
      const stop = async () => {
        await app.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

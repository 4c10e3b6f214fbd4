/** `saescope info`: what a model is and what it costs to hold. */
import type { Command } from 'commander';
import { loadForCli, resourceReport } from '../loadForCli.ts';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print a model\'s architecture, parameters, stored dtypes, the memory its weights take, and (with --warm) load time and sessions')
    .requiredOption('--model <pathOrId>', 'HF model folder, HF id, or llama2.c .bin')
    .option('--warm', 'run one forward pass first, to report time to the first logits and resident memory')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const t0 = performance.now();
      const model = await loadForCli(o.model, o);
      if (o.warm) await model.run([model.spec.bosTokenId ?? 0], { logits: 'last' });
      const info = model.info();
      const s = model.spec;
      const f32Bytes = info.parameters * 4;
      const out = {
        name: info.name,
        model_type: info.modelType,
        layers: s.nLayers,
        d_model: s.dModel,
        heads: s.nHeads,
        kv_heads: s.nKvHeads,
        d_head: s.dHead,
        d_mlp: s.dMlp,
        vocab: s.dVocab,
        context: s.nCtx,
        parameters: info.parameters,
        stored_dtypes: info.storedDtypes,
        f32_weights_mib: Math.round(f32Bytes / 2 ** 20),
        hooks: model.hooks.length,
        ...(o.warm ? resourceReport(model, (performance.now() - t0) / 1000) : { weights: info.weightMode }),
        compiled_sessions: info.sessions,
      };
      if (o.json) process.stdout.write(JSON.stringify(out) + '\n');
      else for (const [k, v] of Object.entries(out)) if (v !== undefined) process.stdout.write(`${k.padEnd(18)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
      await model.dispose();
    });
}

/** `saescope collect`: write a model's activations at a hook to a sharded, resumable on-disk store. */
import type { Command } from 'commander';
import { progressBar } from '../progress.ts';
import { collectActivations } from '../../data/activationStore.ts';
import { distributedCollect } from '../../distributed/coordinator.ts';
import { queueSecret } from '../../distributed/jobs.ts';
import { loadForCli } from '../loadForCli.ts';
import { parseCount } from '../options.ts';

export function registerCollect(program: Command): void {
  program
    .command('collect')
    .description('collect activations at a hook into a sharded on-disk store (a killed collection resumes)')
    .requiredOption('--model <pathOrId>', 'HF model folder, HF id, or llama2.c .bin')
    .requiredOption('--hook <hook>', 'hook name')
    .requiredOption('--corpus <spec>', 'corpus spec')
    .requiredOption('--tokens <n>', 'tokens to store', parseCount('--tokens'))
    .requiredOption('--out <dir>', 'store folder')
    .option('--context-size <n>', 'tokens per row', parseCount('--context-size'), 128)
    .option('--shard-tokens <n>', 'tokens per shard', parseCount('--shard-tokens'), 65536)
    .option('--redis <url>', 'spread the collection over `saescope worker`s on this Redis (redis://host:port); --out must be a folder every worker sees at the same path')
    .option('--shards <n>', 'with --redis: row-range shards, one job and one store file each', parseCount('--shards'), 4)
    .option('--secret-file <file>', 'with --redis: the queue\'s shared secret (default $SAESCOPE_QUEUE_SECRET)')
    .action(async (o) => {
      const model = await loadForCli(o.model, o);
      if (o.redis) {
        const bar = progressBar(' collect [{bar}] {percentage}% | {value}/{total} tokens | {done}/{shards} shards');
        bar.start(o.tokens, 0, { done: 0, shards: o.shards });
        const m = await distributedCollect(model, {
          redis: o.redis, secret: queueSecret(o.secretFile), shards: o.shards, out: o.out, model: o.model, weights: o.weights, hook: o.hook, corpus: o.corpus, tokens: o.tokens, contextSize: o.contextSize,
          onProgress: (p) => bar.update(Math.min(p.tokens, o.tokens), { done: p.shardsDone, shards: p.shards }),
        });
        bar.stop();
        process.stderr.write(`${m.tokens} tokens of ${m.hook} in ${m.shards.length} shards at ${o.out}\n`);
        return;
      }
      const bar = progressBar(' collect [{bar}] {percentage}% | {value}/{total} tokens | {shards} shards');
      bar.start(o.tokens, 0, { shards: 0 });
      const m = await collectActivations(model, o.out, {
        corpus: o.corpus, hook: o.hook, contextSize: o.contextSize, tokens: o.tokens, shardTokens: o.shardTokens,
        onShard: (s) => bar.update(s.tokens, { shards: s.shards.length }),
      });
      bar.update(m.tokens, { shards: m.shards.length });
      bar.stop();
      process.stderr.write(`${m.tokens} tokens of ${m.hook} in ${m.shards.length} shards at ${o.out}\n`);
    });
}

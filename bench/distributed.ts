/**
 * `npm run bench -- distributed`: a scan spread over `saescope worker`
 * processes on a real redis-server (Debian's, started here on 127.0.0.1),
 * over 1, 2 and 4 shards, against the one-process scan of the same tokens:
 * the GPT-2-small-shaped random model and a random topk SAE 768 -> 24576
 * (k 32) at blocks.6.hook_resid_post, as in bench/scan. Figures are ratios
 * within the run: `merge_fraction` (reading and merging the shard states over
 * the distributed scan's wall time; goal <= 0.02), `merge_after_last_fraction`
 * (the part of it after the last shard finished: the coordinator merges each
 * shard while later ones still run) and `speedup` (one-process
 * seconds over distributed seconds). This machine has 2 cores, so at most 2
 * workers run (each with its share of the threads) and the speed-up is bounded
 * by the cores, not by the queue; `shard_tokens_per_second` is what each
 * worker does, the figure a many-machine run multiplies. There is no PyTorch
 * counterpart of a distributed scan, so nothing here is against the reference.
 */
import * as path from 'node:path';
import { gpt2SmallRandom, r3, randomSae, worker } from './common.ts';

export function benchDistributed(): Record<string, unknown> {
  const model = gpt2SmallRandom();
  const sae = randomSae('sae-gpt2-topk-24576', ['--arch', 'topk', '--d-in', '768', '--d-sae', '24576', '--k', '32', '--hook', 'blocks.6.hook_resid_post']);
  const tokens = Number(process.env.BENCH_DIST_TOKENS ?? 40_000);
  const r = worker('distributed', { model, sae, corpus: 'npm:nlp-corpus', tokens, ctx: 128, shards: [1, 2, 4] }).result as {
    one_process_seconds: number; runs: { shards: number; workers: number; seconds: number; merge_seconds: number; merge_after_last_seconds: number; shard_seconds: number[]; shard_tokens: number[] }[];
  };
  return {
    bench: 'distributed',
    tokens,
    one_process_seconds: r3(r.one_process_seconds),
    runs: r.runs.map((x) => ({
      shards: x.shards, workers: x.workers, seconds: r3(x.seconds), speedup: r3(r.one_process_seconds / x.seconds),
      merge_seconds: r3(x.merge_seconds), merge_fraction: Number((x.merge_seconds / x.seconds).toFixed(4)),
      merge_after_last_seconds: r3(x.merge_after_last_seconds), merge_after_last_fraction: Number((x.merge_after_last_seconds / x.seconds).toFixed(4)),
      shard_tokens_per_second: x.shard_seconds.map((s, i) => Math.round(x.shard_tokens[i] / s)),
    })),
    worst_merge_fraction: Number(Math.max(...r.runs.map((x) => x.merge_seconds / x.seconds)).toFixed(4)),
    worst_merge_after_last_fraction: Number(Math.max(...r.runs.map((x) => x.merge_after_last_seconds / x.seconds)).toFixed(4)),
    note: `${path.basename(model)}; at most 2 workers on this machine's 2 cores`,
  };
}

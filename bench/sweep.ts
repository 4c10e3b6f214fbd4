/**
 * bench/sweep: a sweep of 2 features x 4 prompts x 16 magnitudes (128
 * generations of 32 new tokens after 32-token prompts, greedy, steering at
 * every position, each output measured) in batches against one generation at
 * a time, on the GPT-2-small-shaped random model (f32) and on the
 * Llama-3.2-1B-shaped one of `bench big` with int8 weights; and plain batched
 * generation against the PyTorch reference's `bench-generate --batch B` at the
 * same batch and lengths, at the reference's better thread setting.
 *
 * The one-at-a-time runs time the first `SEQ_LIMIT` generations of the same
 * job list (the rate is per generation, and these take minutes each on the 1B
 * shape); `identical` compares those generations' outputs with the batched
 * run's. Peak memory is each process's own (a batched sweep beside a
 * sequential one over the same jobs).
 */
import { CACHE, gpt2SmallRandom, r3, randomSae, torchRef, worker } from './common.ts';
import { llama1bRandom } from './big.ts';
import * as path from 'node:path';

const SEQ_LIMIT = Number(process.env.SWEEP_SEQ_LIMIT ?? 24);

type Run = { generations_per_s: number; hashes: string[]; seconds: number; generations: number };

/**
 * The sweep batched against one at a time, twice: the whole sweep (each
 * output measured: read-back, KL, perplexity) and its generations alone.
 * `limit`: the batched runs' share of the 128 jobs (the 1B shape's take
 * minutes each); the one-at-a-time runs take `SEQ_LIMIT` of them.
 */
function pair(model: string, sae: string, weights: 'f32' | 'int8', scale: number, features: number[], limit?: number) {
  const common = { model, sae, weights, features, prompts: 4, promptLen: 32, new: 32, magnitudes: 16, scale };
  const run = (mode: string, l?: number) => worker('sweep', { ...common, mode, limit: l });
  const [batched, seq, batchedGen, seqGen] = [run('batched', limit), run('sequential', SEQ_LIMIT), run('batched-gen', limit), run('sequential-gen', SEQ_LIMIT)];
  const [b, s, bg, sg] = [batched, seq, batchedGen, seqGen].map((m) => m.result as Run);
  const same = (x: Run, y: Run) => y.hashes.every((h, i) => h === x.hashes[i]);
  return {
    speedup: r3(b.generations_per_s / s.generations_per_s),
    speedup_generation_only: r3(bg.generations_per_s / sg.generations_per_s),
    identical: same(b, s) && same(bg, sg) && same(b, bg),
    generations_per_s: { batched: r3(b.generations_per_s), sequential: r3(s.generations_per_s), batched_generation_only: r3(bg.generations_per_s), sequential_generation_only: r3(sg.generations_per_s) },
    generations_timed: { batched: b.generations, sequential: s.generations },
    peak_rss_mib: { batched: batched.peakMiB, sequential: seq.peakMiB, batched_generation_only: batchedGen.peakMiB, sequential_generation_only: seqGen.peakMiB },
    peak_rss_ratio: r3(batched.peakMiB / seq.peakMiB),
  };
}

export function benchSweep(): Record<string, unknown> {
  const gpt2 = gpt2SmallRandom();
  const gpt2Sae = randomSae('sae-gpt2-topk-24576', ['--arch', 'topk', '--d-in', '768', '--d-sae', '24576', '--k', '32', '--hook', 'blocks.6.hook_resid_post']);
  const small = pair(gpt2, gpt2Sae, 'f32', 2, [7, 11]);
  const big = llama1bRandom();
  const bigSae = randomSae('sae-llama1b-topk-16384', ['--arch', 'topk', '--d-in', '2048', '--d-sae', '16384', '--k', '32', '--hook', 'blocks.8.hook_resid_post']);
  const large = pair(big, bigSae, 'int8', 0.5, [7, 11], Number(process.env.SWEEP_1B_LIMIT ?? 48));
  // Plain generation at the batch the sweep ran its GPT-2 batches with, against PyTorch at its better thread setting.
  const B = 32;
  const ours = worker('sweep', { model: gpt2, mode: 'generate', features: [], prompts: B, promptLen: 32, new: 32, magnitudes: 2, scale: 0 });
  const ref = (threads?: string) => torchRef(['bench-generate', '--model', gpt2, '--prompt-len', '32', '--new', '32', '--batch', String(B)], threads ? { REF_THREADS: threads } : {});
  const refs = [ref('1'), ref()];
  const refTps = Math.max(...refs.map((r) => Number(r.result.tokens_per_s)));
  return {
    bench: 'sweep',
    speedup_vs_sequential: small.speedup,
    speedup_vs_sequential_1b_int8: large.speedup,
    speedup_generation_only: small.speedup_generation_only,
    speedup_generation_only_1b_int8: large.speedup_generation_only,
    ratio_vs_torch: r3(Number(ours.result.tokens_per_s) / refTps),
    identical: small.identical && large.identical,
    peak_rss_ratio: Math.max(small.peak_rss_ratio, large.peak_rss_ratio),
    batch_for_torch_ratio: B,
    gpt2_small: small, llama_1b_int8: large,
    tokens_per_s: { saescope_batched: r3(Number(ours.result.tokens_per_s)), torch: refs.map((r) => r3(Number(r.result.tokens_per_s))) },
    sequential_generations_timed: SEQ_LIMIT,
    cache: path.relative(process.cwd(), CACHE),
  };
}

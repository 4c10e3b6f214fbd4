/**
 * bench/forward: saescope against the PyTorch reference in the same run, on
 * a GPT-2-small-shaped random model (batch 8 x 128).
 * - ratio: full forward with logits, caching blocks.6.hook_resid_post
 * - ratio_to_hook: the pass ends at that hook (activation collection)
 * - ratio_generate: greedy KV-cache generation, 128-token prompt, 64 new,
 *   against the better of REF_THREADS=1 and the default threads
 * Each figure is saescope tokens/s over PyTorch tokens/s; peak RSS per run.
 */
import { gpt2SmallRandom, r3, torchRef, worker } from './common.ts';

export function benchForward(): Record<string, unknown> {
  const model = gpt2SmallRandom();
  const hook = 'blocks.6.hook_resid_post';
  const shape = { batch: 8, seq: 128, iters: 5, hook };
  const refArgs = ['--model', model, '--batch', '8', '--seq', '128', '--iters', '5', '--hook', hook];

  const torchFull = torchRef(['bench-forward', ...refArgs]);
  const oursFull = worker('forward', { model, mode: 'forward', ...shape });
  const torchHook = torchRef(['bench-forward', ...refArgs, '--stop-at-hook']);
  const oursHook = worker('forward', { model, mode: 'to-hook', ...shape });
  const genArgs = ['bench-generate', '--model', model, '--prompt-len', '128', '--new', '64'];
  const torchGen1 = torchRef(genArgs, { REF_THREADS: '1' });
  const torchGenN = torchRef(genArgs);
  const oursGen = worker('forward', { model, mode: 'generate', promptLen: 128, new: 64 });

  const tps = (m: { result: Record<string, unknown> }) => Number(m.result.tokens_per_s);
  const torchGen = tps(torchGen1) >= tps(torchGenN) ? torchGen1 : torchGenN;
  return {
    bench: 'forward',
    model: 'gpt2-small shape, random weights',
    ratio: r3(tps(oursFull) / tps(torchFull)),
    ratio_to_hook: r3(tps(oursHook) / tps(torchHook)),
    ratio_generate: r3(tps(oursGen) / tps(torchGen)),
    saescope_tokens_per_s: { forward: r3(tps(oursFull)), to_hook: r3(tps(oursHook)), generate: r3(tps(oursGen)) },
    torch_tokens_per_s: { forward: r3(tps(torchFull)), to_hook: r3(tps(torchHook)), generate: r3(tps(torchGen)), generate_threads: torchGen.result.threads },
    peak_rss_mib: {
      saescope: { forward: oursFull.peakMiB, to_hook: oursHook.peakMiB, generate: oursGen.peakMiB },
      torch: { forward: torchFull.peakMiB, to_hook: torchHook.peakMiB, generate: torchGen.peakMiB },
    },
  };
}

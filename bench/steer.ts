/**
 * bench/steer: the cost of steering. `overhead` is plain generation's tokens/s
 * over steered generation's (a feature added at every position), on the same
 * GPT-2-small-shaped model, prompt (64 tokens) and length (64 new), greedy
 * with the KV cache; also the clamp's overhead (the SAE encoder runs at the
 * hook every step).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CACHE, REF, gpt2SmallRandom, r3, worker } from './common.ts';

export function benchSteer(): Record<string, unknown> {
  const model = gpt2SmallRandom();
  const sae = path.join(CACHE, 'sae-gpt2-topk-24576');
  if (!fs.existsSync(path.join(sae, 'cfg.json'))) {
    execFileSync('/usr/bin/python3', [REF, 'sae-random', '--arch', 'topk', '--d-in', '768', '--d-sae', '24576', '--k', '32', '--hook', 'blocks.6.hook_resid_post', '--out', sae], { stdio: 'inherit' });
  }
  const common = { model, sae, promptLen: 64, new: 64 };
  const plain = worker('steer', { ...common, mode: 'plain' });
  const add = worker('steer', { ...common, mode: 'add' });
  const clamp = worker('steer', { ...common, mode: 'clamp' });
  const tps = (m: { result: Record<string, unknown> }) => Number(m.result.tokens_per_s);
  return {
    bench: 'steer',
    overhead: r3(tps(plain) / tps(add)),
    overhead_clamp: r3(tps(plain) / tps(clamp)),
    tokens_per_s: { plain: r3(tps(plain)), add: r3(tps(add)), clamp: r3(tps(clamp)) },
    peak_rss_mib: { plain: plain.peakMiB, add: add.peakMiB, clamp: clamp.peakMiB },
  };
}

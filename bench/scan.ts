/**
 * bench/scan: the cost of a one-pass scan relative to the bare forward pass
 * to the same hook over the same tokens (`cost_ratio`), on a GPT-2-small-shaped
 * random model with a random topk SAE 768 -> 24576 (k 32) at
 * blocks.6.hook_resid_post from `torch_reference.py sae-random`, over 50k
 * tokens of npm:nlp-corpus. The SAE's encoder GEMM alone adds about 38% to
 * that forward's FLOPs, so 1.38 is the floor. Also the peak memory of scans
 * of 100k and 1M tokens on TinyStories-656K (a random 128 -> 2048 topk SAE),
 * which should be flat.
 */
import * as path from 'node:path';
import { SHARED, gpt2SmallRandom, r3, randomSae, worker } from './common.ts';

export function benchScan(): Record<string, unknown> {
  const model = gpt2SmallRandom();
  const sae = randomSae('sae-gpt2-topk-24576', ['--arch', 'topk', '--d-in', '768', '--d-sae', '24576', '--k', '32', '--hook', 'blocks.6.hook_resid_post']);
  const common = { model, sae, corpus: 'npm:nlp-corpus', tokens: 50_000, ctx: 128 };
  const fwd = worker('scan', { ...common, mode: 'forward' });
  const sc = worker('scan', { ...common, mode: 'scan' });
  const ts = path.join(SHARED, 'models', 'TinyStories-656K');
  const small = randomSae('sae-tinystories-topk-2048', ['--arch', 'topk', '--d-in', '128', '--d-sae', '2048', '--k', '16', '--hook', 'blocks.1.hook_resid_pre']);
  const m100k = worker('scan', { model: ts, sae: small, corpus: 'npm:nlp-corpus', tokens: 100_000, ctx: 128, mode: 'scan' });
  const m1m = worker('scan', { model: ts, sae: small, corpus: 'npm:nlp-corpus', tokens: 1_000_000, ctx: 128, mode: 'scan' });
  const sec = (m: { result: Record<string, unknown> }) => Number(m.result.seconds);
  return {
    bench: 'scan',
    cost_ratio: r3(sec(sc) / sec(fwd)),
    floor: 1.38,
    seconds: { forward_to_hook: r3(sec(fwd)), scan: r3(sec(sc)), tokens: common.tokens },
    peak_rss_mib: { gpt2_forward: fwd.peakMiB, gpt2_scan: sc.peakMiB, tinystories_scan_100k: m100k.peakMiB, tinystories_scan_1m: m1m.peakMiB },
    memory_growth_1m_vs_100k: r3(m1m.peakMiB / m100k.peakMiB - 1),
  };
}

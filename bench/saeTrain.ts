/**
 * bench/sae-train: SAE training steps, saescope against the PyTorch reference
 * (`torch_reference.py bench-sae`, dense SAELens-style steps) in the same run:
 * d_in 768, d_sae 24576, k 32, batch 4096, random activations.
 * - ratio: topk (saescope's decoder and gradients touch only active latents)
 * - ratio_standard: ReLU + L1 against `--arch relu`
 */
import { r3, torchRef, worker } from './common.ts';

export function benchSaeTrain(): Record<string, unknown> {
  const shape = { dIn: 768, dSae: 24576, k: 32, batch: 4096 };
  const refArgs = ['--d-in', '768', '--d-sae', '24576', '--k', '32', '--batch', '4096', '--steps', '3'];
  const torchTopk = torchRef(['bench-sae', '--arch', 'topk', ...refArgs]);
  const oursTopk = worker('saeTrain', { arch: 'topk', steps: 5, ...shape });
  const torchRelu = torchRef(['bench-sae', '--arch', 'relu', ...refArgs]);
  const oursStd = worker('saeTrain', { arch: 'standard', steps: 3, ...shape });
  const tps = (m: { result: Record<string, unknown> }) => Number(m.result.tokens_per_s);
  return {
    bench: 'sae-train',
    shape,
    ratio: r3(tps(oursTopk) / tps(torchTopk)),
    ratio_standard: r3(tps(oursStd) / tps(torchRelu)),
    saescope_tokens_per_s: { topk: r3(tps(oursTopk)), standard: r3(tps(oursStd)) },
    torch_tokens_per_s: { topk: r3(tps(torchTopk)), relu: r3(tps(torchRelu)) },
    peak_rss_mib: { saescope: { topk: oursTopk.peakMiB, standard: oursStd.peakMiB }, torch: { topk: torchTopk.peakMiB, relu: torchRelu.peakMiB } },
  };
}

/**
 * `npm run bench -- prepack`: why single-stream speed fell when the weights
 * became graph inputs (issue 31). Each GEMM shape of GPT-2 small (attention
 * qkv and out, MLP in and out, unembedding) at 1 row (one decoding stream)
 * and 32 rows (a batch), weight as a graph input against the same weight as
 * an ORT initializer, which ORT prepacks once; `slowdown_as_input` is their
 * ratio, measured in one process.
 */
import { worker } from './common.ts';

export function benchPrepack(): Record<string, unknown> {
  const shapes: [number, number][] = [[768, 2304], [768, 768], [768, 3072], [3072, 768], [768, 50257]];
  const r = worker('prepack', { shapes, rows: [1, 32], reps: 20 });
  return { ...r.result, peak_mib: r.peakMiB };
}

/**
 * Next-token choice from logits: greedy at temperature 0, otherwise
 * temperature, top-k and nucleus (top-p, Holtzman et al. 2019) sampling.
 */
import type { Rng } from '../tensor/random.ts';

/** Sampling settings. */
export interface SamplingOptions {
  /** 0 for greedy; otherwise logits are divided by it. */
  readonly temperature: number;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  readonly topK?: number;
  /** Keep the smallest set whose probability reaches p (1 or undefined: all). */
  readonly topP?: number;
}

/** Index of the largest logit (the first, on ties). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Picks the next token id. */
export function sampleToken(logits: Float32Array, o: SamplingOptions, rng: Rng): number {
  if (!(o.temperature >= 0)) throw new Error(`temperature must be >= 0, got ${o.temperature}`);
  if (o.temperature === 0) return argmax(logits);
  let ids = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  if (o.topK && o.topK > 0) ids = ids.slice(0, o.topK);
  const max = logits[ids[0]];
  const w = ids.map((i) => Math.exp((logits[i] - max) / o.temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let keep = ids.length;
  if (o.topP !== undefined && o.topP < 1) {
    let acc = 0;
    for (let j = 0; j < ids.length; j++) {
      acc += w[j] / total;
      if (acc >= o.topP) {
        keep = j + 1;
        break;
      }
    }
  }
  const kept = w.slice(0, keep);
  const sum = kept.reduce((a, b) => a + b, 0);
  let u = rng.next() * sum;
  for (let j = 0; j < keep; j++) {
    u -= kept[j];
    if (u < 0) return ids[j];
  }
  return ids[keep - 1];
}

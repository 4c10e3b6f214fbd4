/**
 * One feature's running statistics in a scan: firing count, sum and max of
 * activations, a histogram and quantile-bin example reservoirs over [0, M].
 * M starts at the first activation and doubles whenever an activation exceeds
 * it; bins then merge pairwise (histogram counts add, reservoirs are merged by
 * weighted sampling), so memory stays fixed and the bins always cover the
 * whole range seen. This is how SAEDashboard's and Neuronpedia's activation
 * histograms and quantile examples can be built in one pass.
 */
import type { Rng } from '../tensor/random.ts';
import { TopK, type Example } from './examples.ts';

/** A reservoir of examples from one activation bin. */
interface Reservoir {
  /** Examples seen in the bin. */
  seen: number;
  items: Example[];
}

/** Running statistics of one feature. */
export class FeatureStats {
  count = 0;
  sum = 0;
  max = 0;
  /** Upper edge of the binned range (0 before the first activation). */
  range = 0;
  readonly hist: Float64Array;
  readonly top: TopK;
  readonly bins: Reservoir[];

  constructor(topK: number, histBins: number, readonly quantileBins: number, readonly perBin: number) {
    this.hist = new Float64Array(histBins);
    this.top = new TopK(topK);
    this.bins = Array.from({ length: quantileBins }, () => ({ seen: 0, items: [] }));
  }

  /** Records one firing (act > 0); `make` builds the example when something keeps it. */
  add(act: number, make: () => Example, rng: Rng): void {
    this.count++;
    this.sum += act;
    if (act > this.max) this.max = act;
    if (this.range === 0) this.range = act;
    while (act > this.range) this.double(rng);
    const h = this.hist.length;
    this.hist[Math.min(h - 1, Math.floor((act / this.range) * h))]++;
    let example: Example | undefined;
    const get = () => (example ??= make());
    this.top.offer(act, get);
    const bin = this.bins[Math.min(this.quantileBins - 1, Math.floor((act / this.range) * this.quantileBins))];
    bin.seen++;
    if (bin.items.length < this.perBin) bin.items.push(get());
    else {
      const j = Math.floor(rng.next() * bin.seen);
      if (j < this.perBin) bin.items[j] = get();
    }
  }

  /** Histogram bin edges [histBins + 1]. */
  histEdges(): number[] {
    return Array.from({ length: this.hist.length + 1 }, (_, i) => (this.range * i) / this.hist.length);
  }

  /** Quantile bins with their ranges and examples (largest first within a bin). */
  quantiles(): { lo: number; hi: number; count: number; examples: Example[] }[] {
    const w = this.range / this.quantileBins;
    return this.bins.map((b, i) => ({ lo: i * w, hi: (i + 1) * w, count: b.seen, examples: [...b.items].sort((a, c) => c.act - a.act) }));
  }

  private double(rng: Rng): void {
    this.range *= 2;
    const h = this.hist.length;
    for (let i = 0; i < h / 2; i++) this.hist[i] = this.hist[2 * i] + this.hist[2 * i + 1];
    this.hist.fill(0, h / 2);
    const q = this.quantileBins;
    for (let i = 0; i < q / 2; i++) this.bins[i] = mergeReservoirs(this.bins[2 * i], this.bins[2 * i + 1], this.perBin, rng);
    for (let i = q / 2; i < q; i++) this.bins[i] = { seen: 0, items: [] };
  }
}

/** A uniform sample of the union of two reservoirs, each item weighted by the count it stands for. */
function mergeReservoirs(a: Reservoir, b: Reservoir, size: number, rng: Rng): Reservoir {
  const pool = [...a.items.map((e) => ({ e, w: a.seen / Math.max(1, a.items.length) })), ...b.items.map((e) => ({ e, w: b.seen / Math.max(1, b.items.length) }))];
  const keyed = pool.map((p) => ({ e: p.e, key: Math.pow(rng.next(), 1 / p.w) })).sort((x, y) => y.key - x.key);
  return { seen: a.seen + b.seen, items: keyed.slice(0, size).map((k) => k.e) };
}

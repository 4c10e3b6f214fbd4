/**
 * One feature's running statistics in a scan: firing count, sum and max of
 * activations, a histogram and quantile-bin example reservoirs over [0, M].
 * M is the smallest power of two above every activation seen, so it doubles
 * whenever an activation reaches it; bins then merge pairwise
 * (histogram counts add, reservoirs are merged by weighted sampling), so
 * memory stays fixed and the bins always cover the whole range seen. This is
 * how SAEDashboard's and Neuronpedia's activation histograms and quantile
 * examples can be built in one pass.
 *
 * Because M depends only on the largest activation, not on the order seen,
 * two features' states over disjoint parts of a corpus merge (`merge`) into
 * exactly the state of one pass over both: counts, max, histogram and top-k
 * examples bit-identical (power-of-two scaling is exact), the sum up to
 * float64 rounding, and each quantile bin a uniform sample of the union.
 */
import type { Rng } from '../tensor/random.ts';
import { TopK, type Example } from './examples.ts';

/** A reservoir of examples from one activation bin. */
interface Reservoir<T = Example> {
  /** Firings seen in the bin. */
  seen: number;
  items: T[];
}

/** One sampled firing of a quantile bin: the token it fired on and its activation. */
export interface TokenSample {
  readonly id: number;
  readonly act: number;
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
  /** Per quantile bin, a larger uniform sample of its firings' tokens (for the conditional distribution). */
  readonly tokenBins: Reservoir<TokenSample>[];

  constructor(topK: number, histBins: number, readonly quantileBins: number, readonly perBin: number, readonly tokenSamples = 32) {
    this.hist = new Float64Array(histBins);
    this.top = new TopK(topK);
    // A plain loop: a scan builds one of these per feature (and a merge one per feature and shard).
    this.bins = new Array<Reservoir>(quantileBins);
    this.tokenBins = new Array<Reservoir<TokenSample>>(quantileBins);
    for (let i = 0; i < quantileBins; i++) {
      this.bins[i] = { seen: 0, items: [] };
      this.tokenBins[i] = { seen: 0, items: [] };
    }
  }

  /** Records one firing (act > 0) of `token` at (row, pos); `make` builds the example when something keeps it. */
  add(act: number, row: number, pos: number, make: () => Example, rng: Rng, token = -1): void {
    this.count++;
    this.sum += act;
    if (act > this.max) this.max = act;
    if (this.range === 0) this.range = powerOfTwoAbove(act);
    while (act >= this.range) this.double(rng);
    const h = this.hist.length;
    this.hist[Math.min(h - 1, Math.floor((act / this.range) * h))]++;
    let example: Example | undefined;
    const get = () => (example ??= make());
    this.top.offer(act, row, pos, get);
    const q = Math.min(this.quantileBins - 1, Math.floor((act / this.range) * this.quantileBins));
    const bin = this.bins[q];
    bin.seen++;
    if (bin.items.length < this.perBin) bin.items.push(get());
    else {
      const j = Math.floor(rng.next() * bin.seen);
      if (j < this.perBin) bin.items[j] = get();
    }
    const tb = this.tokenBins[q];
    tb.seen++;
    if (tb.items.length < this.tokenSamples) tb.items.push({ id: token, act });
    else {
      const j = Math.floor(rng.next() * tb.seen);
      if (j < this.tokenSamples) tb.items[j] = { id: token, act };
    }
  }

  /** Histogram bin edges [histBins + 1]. */
  histEdges(): number[] {
    return Array.from({ length: this.hist.length + 1 }, (_, i) => (this.range * i) / this.hist.length);
  }

  /** Quantile bins with their ranges and examples (largest first within a bin). */
  quantiles(): { lo: number; hi: number; count: number; examples: Example[]; tokens: TokenSample[] }[] {
    const w = this.range / this.quantileBins;
    return this.bins.map((b, i) => ({ lo: i * w, hi: (i + 1) * w, count: b.seen, examples: [...b.items].sort((a, c) => c.act - a.act), tokens: [...this.tokenBins[i].items] }));
  }

  /**
   * Adds `o`, the same feature's state over other tokens (same bin counts),
   * into this one. Both are brought to the larger range first.
   */
  merge(o: FeatureStats, rng: Rng): void {
    if (o.hist.length !== this.hist.length || o.quantileBins !== this.quantileBins || o.perBin !== this.perBin || o.tokenSamples !== this.tokenSamples || o.top.k !== this.top.k) {
      throw new Error('cannot merge feature statistics with different bins or top-k sizes');
    }
    if (o.count === 0) return;
    const other = o.range < this.range ? o.copyAtRange(this.range, rng) : o;
    if (this.range === 0) this.range = other.range;
    while (this.range < other.range) this.double(rng);
    this.count += other.count;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
    for (let i = 0; i < this.hist.length; i++) this.hist[i] += other.hist[i];
    for (const e of other.top.items) this.top.offer(e.act, e.row, e.pos, () => e);
    for (let i = 0; i < this.quantileBins; i++) {
      this.bins[i] = mergeReservoirs(this.bins[i], other.bins[i], this.perBin, rng);
      this.tokenBins[i] = mergeReservoirs(this.tokenBins[i], other.tokenBins[i], this.tokenSamples, rng);
    }
  }

  /** A copy (examples shared: they are never changed in place). */
  copy(): FeatureStats {
    const c = new FeatureStats(this.top.k, this.hist.length, this.quantileBins, this.perBin, this.tokenSamples);
    c.count = this.count;
    c.sum = this.sum;
    c.max = this.max;
    c.range = this.range;
    c.hist.set(this.hist);
    c.top.items.push(...this.top.items);
    for (let i = 0; i < this.quantileBins; i++) {
      c.bins[i] = { seen: this.bins[i].seen, items: [...this.bins[i].items] };
      c.tokenBins[i] = { seen: this.tokenBins[i].seen, items: [...this.tokenBins[i].items] };
    }
    return c;
  }

  /** A copy of this state with its range doubled up to `range`. */
  private copyAtRange(range: number, rng: Rng): FeatureStats {
    const c = this.copy();
    while (c.range < range) c.double(rng);
    return c;
  }

  private double(rng: Rng): void {
    this.range *= 2;
    const h = this.hist.length;
    for (let i = 0; i < h / 2; i++) this.hist[i] = this.hist[2 * i] + this.hist[2 * i + 1];
    this.hist.fill(0, h / 2);
    const q = this.quantileBins;
    for (let i = 0; i < q / 2; i++) {
      this.bins[i] = mergeReservoirs(this.bins[2 * i], this.bins[2 * i + 1], this.perBin, rng);
      this.tokenBins[i] = mergeReservoirs(this.tokenBins[2 * i], this.tokenBins[2 * i + 1], this.tokenSamples, rng);
    }
    for (let i = q / 2; i < q; i++) {
      this.bins[i] = { seen: 0, items: [] };
      this.tokenBins[i] = { seen: 0, items: [] };
    }
  }
}

/** The smallest power of two > x (x > 0). */
function powerOfTwoAbove(x: number): number {
  let r = 2 ** Math.floor(Math.log2(x));
  while (r <= x) r *= 2;
  while (r / 2 > x) r /= 2;
  return r;
}

/** A uniform sample of the union of two reservoirs, each item weighted by the count it stands for. */
function mergeReservoirs<T>(a: Reservoir<T>, b: Reservoir<T>, size: number, rng: Rng): Reservoir<T> {
  return { seen: a.seen + b.seen, items: weightedUnion(a.items, a.seen, b.items, b.seen, size, rng) };
}

/**
 * A sample of size <= `size` from the union of two uniform samples that stand
 * for `na` and `nb` items, each item weighted by the count it stands for
 * (Efraimidis-Spirakis keys).
 */
export function weightedUnion<T>(a: readonly T[], na: number, b: readonly T[], nb: number, size: number, rng: Rng): T[] {
  // Nothing to choose: one side is empty, or the union fits and each side is whole (not itself a sample).
  if (b.length === 0) return a.slice(0, size);
  if (a.length === 0) return b.slice(0, size);
  if (a.length + b.length <= size && na === a.length && nb === b.length) return [...a, ...b];
  const n = a.length + b.length;
  const keys = new Float64Array(n);
  const ia = a.length / na;
  const ib = b.length / nb;
  for (let i = 0; i < a.length; i++) keys[i] = Math.pow(rng.next(), ia);
  for (let i = 0; i < b.length; i++) keys[a.length + i] = Math.pow(rng.next(), ib);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => keys[y] - keys[x]);
  return order.slice(0, size).map((i) => (i < a.length ? a[i] : b[i - a.length]));
}

/** A FeatureStats from its structured-clone form (v8 deserialization drops the class). */
export function reviveFeatureStats(plain: FeatureStats, o: { topK: number; histBins: number; quantileBins: number; perBin: number; tokenSamples?: number }): FeatureStats {
  return Object.assign(new FeatureStats(o.topK, o.histBins, o.quantileBins, o.perBin, o.tokenSamples ?? 32), plain, { top: Object.assign(new TopK(o.topK), plain.top) });
}

/**
 * The KV cache of generation on the JavaScript side, written in place: each
 * cached tensor is one buffer laid out [rows, KV heads, capacity, dHead], fed
 * to the graph whole as `past.{L}.key|value` with the slots past the filled
 * length hidden by the attention mask (`attnBias`). A step's keys and values
 * (the graph's `new.{L}.key|value`, [rows, KV, T, dHead]) are written into the
 * next T slots of each row and head: nothing already cached is copied.
 *
 * Measured on GPT-2 small, 32 rows: the earlier layout ([rows, KV, filled,
 * dHead], exactly the filled length) had to copy the whole cache into a new
 * layout at every step, 9-10 ms of a 66 ms decoding step at 33-64 positions.
 * The capacity grows in chunks of `CHUNK` slots (one copy per chunk), so the
 * attention reads at most CHUNK - 1 empty slots: their scores are masked to
 * exactly zero weight, and empty slots hold zeros or old finite keys, never NaN.
 */
import type { Feed } from '../runtime/session.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { MASKED } from './inputs.ts';
import type { ModelSpec } from './spec.ts';

/** Slots added at a time when the cache grows. */
export const CHUNK = 64;

/** A batch's KV cache: `filled` positions of `capacity` slots per row and head. */
export class KvCache {
  private bufs = new Map<string, Float32Array>();
  private rows: number;
  private cap = 0;
  /** Positions written so far (the same for every row: rows are left-padded to one length). */
  filled = 0;

  constructor(
    private readonly names: readonly string[],
    rows: number,
    private readonly kvHeads: number,
    private readonly dHead: number,
    /** Most positions any row reaches (the capacity never grows past it). */
    private readonly longest: number,
  ) {
    this.rows = rows;
  }

  /** An empty cache of a model's every layer's keys and values (`past.{L}.key|value`) for `rows` rows. */
  static of(spec: ModelSpec, rows: number, longest: number): KvCache {
    const names = Array.from({ length: spec.nLayers }, (_, L) => [`past.${L}.key`, `past.${L}.value`]).flat();
    return new KvCache(names, rows, spec.nKvHeads, spec.dHead, longest);
  }

  /** Rows in the cache. */
  get batch(): number {
    return this.rows;
  }

  /** Slots per row and head (the `past` inputs' third dimension). */
  get capacity(): number {
    return this.cap;
  }

  /** The cache's feeds: every `past` buffer shaped [rows, KV, capacity, dHead], and `past_len` [1] (the filled length). */
  feeds(): Record<string, Feed> {
    const shape = [this.rows, this.kvHeads, this.cap, this.dHead];
    const n = this.rows * this.kvHeads * this.cap * this.dHead;
    const out: Record<string, Feed> = { past_len: { dtype: 'int64', shape: [1], data: BigInt64Array.of(BigInt(this.filled)) } };
    for (const name of this.names) out[name] = { dtype: 'float32', shape, data: this.bufs.get(name)?.subarray(0, n) ?? new Float32Array(0) };
    return out;
  }

  /**
   * The attention mask [rows, 1, T, capacity + T] of a step of `T` new
   * positions: query t of row b (at cache index filled + t) sees cached slot k
   * when pad(b) <= k < filled, and new key j <= t unless `newKeyHidden(b, j)`
   * (a left-padded prompt's padding); empty slots are hidden.
   */
  attnBias(T: number, pad: (b: number) => number, newKeyHidden: (b: number, j: number) => boolean = () => false): Tensor<'float32'> {
    const { rows, cap, filled } = this;
    const S = cap + T;
    const bias = new Float32Array(rows * T * S).fill(MASKED);
    for (let b = 0; b < rows; b++) {
      const p = pad(b);
      for (let t = 0; t < T; t++) {
        const off = (b * T + t) * S;
        if (filled > p) bias.fill(0, off + p, off + filled);
        for (let j = 0; j <= t; j++) if (!newKeyHidden(b, j)) bias[off + cap + j] = 0;
      }
    }
    return { dtype: 'float32', shape: [rows, 1, T, S], data: bias };
  }

  /** Makes room for `T` more positions: a larger buffer (the filled slots copied) when they do not fit. */
  reserve(T: number): void {
    const need = this.filled + T;
    if (need <= this.cap) return;
    if (need > this.longest) throw new Error(`internal: KV cache of ${need} positions exceeds its longest ${this.longest}`);
    const cap = Math.min(this.longest, Math.ceil(need / CHUNK) * CHUNK);
    const hd = this.dHead;
    for (const name of this.names) {
      const old = this.bufs.get(name);
      const next = new Float32Array(this.rows * this.kvHeads * cap * hd);
      if (old && this.filled) for (let r = 0; r < this.rows * this.kvHeads; r++) next.set(old.subarray(r * this.cap * hd, (r * this.cap + this.filled) * hd), r * cap * hd);
      this.bufs.set(name, next);
    }
    this.cap = cap;
  }

  /** Writes a step's `new.{L}.key|value` [rows, KV, T, dHead] into the next T slots (growing the cache when they do not fit). */
  append(out: Readonly<Record<string, Tensor<'float32'>>>, T: number): void {
    this.reserve(T);
    const hd = this.dHead;
    for (const name of this.names) {
      const dst = this.bufs.get(name)!;
      const fresh = out[name.replace(/^past\./, 'new.')].data;
      for (let r = 0; r < this.rows * this.kvHeads; r++) dst.set(fresh.subarray(r * T * hd, (r + 1) * T * hd), (r * this.cap + this.filled) * hd);
    }
    this.filled += T;
  }

  /** Keeps the rows `keep` (ascending), moved down in place: finished rows leave the batch. */
  compact(keep: readonly number[]): void {
    const per = this.kvHeads * this.cap * this.dHead;
    for (const buf of this.bufs.values()) keep.forEach((r, i) => r !== i && buf.copyWithin(i * per, r * per, (r + 1) * per));
    this.rows = keep.length;
  }

  /** A cache of the rows `rows` of this one (repeats allowed), with room for `longest` positions: shared prefills copied out. */
  gather(rows: readonly number[], longest: number): KvCache {
    const out = new KvCache(this.names, rows.length, this.kvHeads, this.dHead, longest);
    out.reserve(this.filled);
    const hd = this.dHead;
    const KV = this.kvHeads;
    for (const name of this.names) {
      const src = this.bufs.get(name)!;
      const dst = out.bufs.get(name)!;
      rows.forEach((r, i) => {
        for (let h = 0; h < KV; h++) dst.set(src.subarray(((r * KV + h) * this.cap) * hd, ((r * KV + h) * this.cap + this.filled) * hd), ((i * KV + h) * out.cap) * hd);
      });
    }
    out.filled = this.filled;
    return out;
  }
}

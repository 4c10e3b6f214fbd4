/**
 * The KV cache of generation on the JavaScript side: two pooled buffers per
 * cached tensor, and the append of each step's keys and values (the graph's
 * `new.{L}.key|value`) after the past.
 */
import type { Tensor } from '../tensor/tensor.ts';

/** Cached keys and values by input name (`past.{L}.key|value`), each [B, KV, S, dHead]. */
export type Past = Record<string, Tensor<'float32'>>;

/**
 * Two buffers per cached tensor, each as large as the batch's whole cache
 * (rows x KV heads x longest sequence x head width): every step reads the
 * past from one and writes the present into the other, as views of their
 * first elements (a [B, KV, S, dHead] tensor is the first B*KV*S*dHead
 * values), so the cache costs two fixed allocations instead of a fresh one
 * per step for the garbage collector.
 */
export class KvPool {
  private readonly bufs = new Map<string, [Float32Array, Float32Array]>();
  private side = 0;

  constructor(private readonly names: readonly string[], private readonly capacity: number) {}

  /** Views of the next side's buffers shaped [B, KV, S, dHead], for a step to write into; `flip` makes them the past. */
  next(shape: readonly number[]): Past {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n > this.capacity) throw new Error(`internal: KV cache of ${n} values exceeds its pool of ${this.capacity}`);
    const out: Past = {};
    for (const name of this.names) {
      let pair = this.bufs.get(name);
      if (!pair) {
        pair = [new Float32Array(0), new Float32Array(0)];
        this.bufs.set(name, pair);
      }
      const k = 1 - this.side;
      if (pair[k].length < this.capacity) pair[k] = new Float32Array(this.capacity);
      out[name] = { dtype: 'float32', shape: [...shape], data: pair[k].subarray(0, n) };
    }
    return out;
  }

  private logitsBuf = new Float32Array(0);

  /** A reused [B, 1, V] buffer for a step's next-token logits. */
  logits(B: number, V: number): Tensor<'float32'> {
    if (this.logitsBuf.length < B * V) this.logitsBuf = new Float32Array(B * V);
    return { dtype: 'float32', shape: [B, 1, V], data: this.logitsBuf.subarray(0, B * V) };
  }

  /** Whether a cache of `n` values fits. */
  fits(n: number): boolean {
    return n <= this.capacity;
  }

  /** The side last written becomes the one read. */
  flip(): void {
    this.side = 1 - this.side;
  }
}

/**
 * The cache after a step: each [B, KV, S, dHead] tensor of the pool's other
 * side holds, per row and head, the past's positions then the step's (the
 * graph's `new.{L}.key|value` [B, KV, T, dHead]); the pool then flips.
 */
export function appendKv(past: Past, out: Readonly<Record<string, Tensor<'float32'>>>, pool: KvPool, shape: readonly number[]): Past {
  const [B, KV, S, hd] = shape;
  const next = pool.next(shape);
  for (const [name, dst] of Object.entries(next)) {
    const old = past[name].data;
    const fresh = out[name.replace(/^past\./, 'new.')].data;
    const pastLen = past[name].shape[2];
    const T = S - pastLen;
    for (let r = 0; r < B * KV; r++) {
      const at = r * S * hd;
      if (pastLen) dst.data.set(old.subarray(r * pastLen * hd, (r + 1) * pastLen * hd), at);
      dst.data.set(fresh.subarray(r * T * hd, (r + 1) * T * hd), at + pastLen * hd);
    }
  }
  pool.flip();
  return next;
}

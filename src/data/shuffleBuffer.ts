/**
 * A bounded shuffle buffer of activation rows (as SAELens's mixing buffer):
 * filled to capacity, it hands out uniformly sampled batches and is topped up
 * from the stream. Its contents and sampler state can be saved and restored,
 * so a resumed run draws exactly the batches an uninterrupted one would.
 */
import { Rng } from '../tensor/random.ts';

/** Rows of width `dIn` in one flat array. */
export class ShuffleBuffer {
  private data: Float32Array;
  private rows = 0;
  private readonly rng: Rng;

  /**
   * @param inOrder hand rows out first in, first out (no shuffling), for runs
   *   that must see rows in the order given.
   */
  constructor(readonly dIn: number, readonly capacity: number, seed: number, readonly inOrder = false) {
    this.data = new Float32Array(capacity * dIn);
    this.rng = new Rng(seed);
  }

  /** Rows held. */
  get size(): number {
    return this.rows;
  }

  /** Whether the buffer has reached capacity. */
  get full(): boolean {
    return this.rows >= this.capacity;
  }

  /** Appends rows [n, dIn]; grows past capacity when needed (one source group at most). */
  push(rows: Float32Array): void {
    const n = rows.length / this.dIn;
    if ((this.rows + n) * this.dIn > this.data.length) {
      const grown = new Float32Array((this.rows + n) * this.dIn);
      grown.set(this.data.subarray(0, this.rows * this.dIn));
      this.data = grown;
    }
    this.data.set(rows, this.rows * this.dIn);
    this.rows += n;
  }

  /** Removes and returns `n` uniformly sampled rows [n, dIn]. */
  take(n: number): Float32Array {
    if (n > this.rows) throw new Error(`shuffle buffer holds ${this.rows} rows, asked for ${n}`);
    const d = this.dIn;
    if (this.inOrder) {
      const first = this.data.slice(0, n * d);
      this.data.copyWithin(0, n * d, this.rows * d);
      this.rows -= n;
      return first;
    }
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const j = this.rng.int(this.rows);
      out.set(this.data.subarray(j * d, (j + 1) * d), i * d);
      this.rows--;
      if (j !== this.rows) this.data.copyWithin(j * d, this.rows * d, (this.rows + 1) * d);
    }
    return out;
  }

  /** Contents and sampler state, for a checkpoint. */
  snapshot(): { rows: Float32Array; rng: number[] } {
    return { rows: this.data.slice(0, this.rows * this.dIn), rng: this.rng.getState() };
  }

  /** Restores a `snapshot`. */
  restore(s: { rows: Float32Array; rng: readonly number[] }): void {
    this.rows = 0;
    this.push(s.rows);
    this.rng.setState(s.rng);
  }
}

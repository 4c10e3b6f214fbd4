/**
 * One copy of a model's float32 weights, shared by every compiled session.
 *
 * Weights reach ONNX Runtime as graph inputs that point at these arrays (ORT
 * wraps a CPU input's buffer without copying it), not as initializers: every
 * session of the model then reads the same memory, and no session prepacks or
 * constant-folds its own copy. Measured on this project's 2-core machine with
 * 512 MB of MatMul weights: initializers cost 512 MB more per session
 * (prepacked), memory-mapped external data with prepacking off is mapped once
 * per session (resident memory counts it again each time), inputs cost nothing
 * per session, at the same GEMM speed for 1 and 512 rows.
 *
 * Tensors are read on first use, straight from the checkpoint into their
 * final array (BF16/F16 widened tensor by tensor), so a forward-to-hook
 * session never reads the unembedding.
 */
import type { WeightSource } from '../io/weights.ts';
import type { Tensor } from '../tensor/tensor.ts';

/** What the store holds, for `saescope info` and `--json` reports. */
export interface WeightStoreStats {
  /** Tensors read so far. */
  readonly tensorsLoaded: number;
  /** Bytes of float32 weights held. */
  readonly bytes: number;
  /** Seconds spent reading and widening. */
  readonly readSeconds: number;
}

/** Lazily loaded, shared float32 weights of one model. */
export class WeightStore {
  private readonly loaded = new Map<string, Tensor<'float32'>>();
  private bytes = 0;
  private readSeconds = 0;

  constructor(
    /** Where the tensors come from. */
    readonly source: WeightSource,
    private readonly label: string,
  ) {}

  /** A tensor as stored in the checkpoint (orientation unchanged), read once. */
  f32(name: string): Tensor<'float32'> {
    let t = this.loaded.get(name);
    if (!t) {
      const t0 = performance.now();
      t = this.source.get(name);
      checkFinite(t.data, `${this.label}: tensor '${name}'`);
      this.readSeconds += (performance.now() - t0) / 1000;
      this.loaded.set(name, t);
      this.bytes += t.data.byteLength;
    }
    return t;
  }

  /** Whether a tensor has been read. */
  isLoaded(name: string): boolean {
    return this.loaded.has(name);
  }

  /** Memory and time so far. */
  stats(): WeightStoreStats {
    return { tensorsLoaded: this.loaded.size, bytes: this.bytes, readSeconds: this.readSeconds };
  }

  /** Drops every loaded tensor (sessions must be released first). */
  clear(): void {
    this.loaded.clear();
    this.bytes = 0;
  }
}

/**
 * Throws at the first NaN or infinity. Summing is a fast screen (a NaN or an
 * infinity anywhere makes the sum non-finite); only then is the index found.
 */
export function checkFinite(d: Float32Array, what: string): void {
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i] * 0;
  if (Number.isFinite(s)) return;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) throw new Error(`${what} contains ${d[i]} at element ${i}`);
  }
}

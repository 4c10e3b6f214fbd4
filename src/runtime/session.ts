/**
 * ONNX Runtime sessions over graphs saescope builds, and conversion between
 * saescope tensors and ORT tensors.
 */
import * as os from 'node:os';
import ort from 'onnxruntime-node';
import type { Tensor } from '../tensor/tensor.ts';

/** Options for creating sessions. */
export interface RuntimeOptions {
  /** Intra-op threads; defaults to the number of cores. */
  readonly threads?: number;
  /** Execution providers, in order of preference; defaults to `['cpu']`. */
  readonly executionProviders?: readonly string[];
}

/** A compiled graph ready to run. */
export class Session {
  private constructor(private readonly inner: ort.InferenceSession) {}

  /** Compiles serialized ONNX bytes. */
  static async create(bytes: Uint8Array, opts: RuntimeOptions = {}): Promise<Session> {
    const threads = opts.threads ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
    const inner = await ort.InferenceSession.create(bytes, {
      executionProviders: [...(opts.executionProviders ?? ['cpu'])],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      enableCpuMemArena: true,
    });
    return new Session(inner);
  }

  /** Input names the graph declares. */
  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  /** Output names the graph declares. */
  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  /**
   * Runs the graph; returns float32 outputs by name. Outputs named in `into`
   * are written into those caller-owned buffers (no allocation per call).
   */
  async run(feeds: Record<string, Feed>, fetch?: readonly string[], into?: Record<string, Tensor<'float32'>>): Promise<Record<string, Tensor<'float32'>>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = new ort.Tensor(v.dtype, v.data, [...v.shape]);
    let res: ort.InferenceSession.ReturnType;
    if (into) {
      const fetches: Record<string, ort.Tensor | null> = {};
      for (const name of fetch ?? this.inner.outputNames) fetches[name] = null;
      for (const [k, v] of Object.entries(into)) fetches[k] = new ort.Tensor('float32', v.data, [...v.shape]);
      res = await this.inner.run(ortFeeds, fetches);
    } else {
      res = fetch ? await this.inner.run(ortFeeds, [...fetch]) : await this.inner.run(ortFeeds);
    }
    const out: Record<string, Tensor<'float32'>> = {};
    for (const [k, v] of Object.entries(res)) {
      out[k] = { dtype: 'float32', shape: v.dims.map(Number), data: v.data as Float32Array };
    }
    return out;
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.inner.release();
  }
}

/** A graph input: float32 or int64. */
export type Feed = Tensor<'float32'> | Tensor<'int64'>;

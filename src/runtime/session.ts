/**
 * ONNX Runtime sessions over graphs saescope builds, and conversion between
 * saescope tensors and ORT tensors.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import { defaultThreads, externalDataOptions, ort } from './ort.ts';
import type { Tensor } from '../tensor/tensor.ts';

/** Options for creating sessions. */
export interface RuntimeOptions {
  /** Intra-op threads; defaults to $SAESCOPE_THREADS, else the number of cores. */
  readonly threads?: number;
  /** Execution providers, in order of preference; defaults to `['cpu']`. */
  readonly executionProviders?: readonly string[];
  /**
   * ORT's memory pattern (one planned block per input shape); default on.
   * Training steps turn it off: measured on the standard step (4096 x 24576),
   * it raised peak memory by 350 MB (2.12 GB against 1.77 GB) at the same speed.
   */
  readonly memPattern?: boolean;
  /**
   * ORT's CPU memory arena (default on). Off for KV-cache generation: the
   * cache grows a step at a time, and the arena keeps a block for every size
   * it was asked for, so its footprint grew with each step.
   */
  readonly memArena?: boolean;
}

/** What a graph needs besides its bytes. */
export interface GraphResources {
  /**
   * Inputs fed on every run (model weights): ORT wraps these buffers without
   * copying, so every session of a model shares one copy.
   */
  readonly boundFeeds?: Readonly<Record<string, Feed>>;
  /** Where external-data initializers are: a folder their locations are relative to, or the files' bytes. */
  readonly externalData?: { readonly folder: string } | { readonly files: readonly { readonly path: string; readonly data: Uint8Array }[] };
}

/** A compiled graph ready to run. */
export class Session {
  private readonly bound: Record<string, OrtTensor>;

  private constructor(private readonly inner: InferenceSession, boundFeeds: Readonly<Record<string, Feed>>) {
    this.bound = {};
    for (const [k, v] of Object.entries(boundFeeds)) this.bound[k] = toOrt(v);
  }

  /** Compiles serialized ONNX bytes. */
  static async create(bytes: Uint8Array, opts: RuntimeOptions = {}, res: GraphResources = {}): Promise<Session> {
    const threads = opts.threads ?? defaultThreads();
    const inner = await ort.InferenceSession.create(bytes, {
      executionProviders: [...(opts.executionProviders ?? ['cpu'])],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      enableCpuMemArena: opts.memArena ?? true,
      enableMemPattern: opts.memPattern ?? true,
      // ONNX Runtime's warnings (e.g. "Removing initializer") are noise to a user: errors only, unless SAESCOPE_ORT_VERBOSE is set (`--verbose`).
      logSeverityLevel: typeof process !== 'undefined' && process.env?.SAESCOPE_ORT_VERBOSE ? 2 : 3,
      ...(res.externalData ? ('folder' in res.externalData ? externalDataOptions(res.externalData.folder) : { externalData: res.externalData.files.map((f) => ({ path: f.path, data: f.data })) }) : {}),
    });
    return new Session(inner, res.boundFeeds ?? {});
  }

  /** Input names the caller must feed (bound weights excluded). */
  get feedNames(): readonly string[] {
    return this.inner.inputNames.filter((n) => !(n in this.bound));
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
    const ortFeeds: Record<string, OrtTensor> = { ...this.bound };
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
    let res: InferenceSession.ReturnType;
    if (into) {
      const fetches: Record<string, OrtTensor | null> = {};
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

/** A graph input. */
export type Feed = Tensor<'float32'> | Tensor<'int64'> | Tensor<'int32'> | Tensor<'uint8'> | Tensor<'int8'>;

function toOrt(v: Feed): OrtTensor {
  return new ort.Tensor(v.dtype, v.data as Float32Array, [...v.shape]);
}

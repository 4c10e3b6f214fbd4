/**
 * Where a graph's quantized weights come from: the on-disk cache (Node, read
 * by ONNX Runtime as external data from its folder) or bytes in memory (a
 * static site, handed to onnxruntime-web as external data buffers).
 */
import type { ExternalRef } from '../../runtime/graph.ts';
import type { Int8Rows, QuantBits } from './blockQuant.ts';

/** A quantized linear weight: MatMulNBits's B, scales and zero points as external data. */
export interface QuantEntry {
  readonly N: number;
  readonly K: number;
  readonly bits: QuantBits;
  readonly blockSize: number;
  readonly B: ExternalRef;
  readonly scales: ExternalRef;
  readonly zeroPoints: ExternalRef;
}

/** A quantized embedding: int8 rows and per-block scales as external data. */
export interface EmbedEntry {
  readonly rows: number;
  readonly cols: number;
  readonly blockSize: number;
  readonly q: ExternalRef;
  readonly scales: ExternalRef;
}

/** What the quantized tensors' external data is, for a session. */
export type ExternalData =
  | { readonly folder: string }
  | { readonly files: readonly { readonly path: string; readonly data: Uint8Array }[] };

/** Quantized weights, whatever holds them. */
export interface QuantSource {
  /** Bytes of the quantized data. */
  readonly bytes: number;
  /** Where sessions find the external data. */
  readonly external: ExternalData;
  /** The quantized form of a linear weight (throws naming it when absent). */
  linear(name: string): QuantEntry;
  /** A quantized embedding, in memory (fed to the gather as an input). */
  embedding(name: string): Int8Rows;
}

/** The entries of a quantized model, as a cache manifest or a site manifest lists them. */
export interface QuantEntries {
  readonly bits: QuantBits;
  readonly blockSize: number;
  readonly linears: Readonly<Record<string, QuantEntry>>;
  readonly embeddings: Readonly<Record<string, EmbedEntry>>;
}

/** Quantized weights held in memory: one data file's bytes and its entries. */
export class MemoryQuant implements QuantSource {
  readonly external: ExternalData;
  private readonly embedCache = new Map<string, Int8Rows>();

  constructor(private readonly entries: QuantEntries, private readonly location: string, private readonly data: Uint8Array) {
    this.external = { files: [{ path: location, data }] };
  }

  get bytes(): number {
    return this.data.byteLength;
  }

  linear(name: string): QuantEntry {
    const e = this.entries.linears[name];
    if (!e) throw new Error(`tensor '${name}' is not among the quantized weights`);
    return e;
  }

  embedding(name: string): Int8Rows {
    let r = this.embedCache.get(name);
    if (!r) {
      const e = this.entries.embeddings[name];
      if (!e) throw new Error(`embedding '${name}' is not among the quantized weights`);
      r = { rows: e.rows, cols: e.cols, blockSize: e.blockSize, q: new Int8Array(this.slice(e.q)), scales: new Float32Array(this.slice(e.scales)) };
      this.embedCache.set(name, r);
    }
    return r;
  }

  private slice(ref: ExternalRef): ArrayBuffer {
    if (ref.location !== this.location || ref.offset + ref.length > this.data.byteLength) throw new Error(`${ref.location}: [${ref.offset}, ${ref.offset + ref.length}) is outside the quantized data (${this.data.byteLength} bytes)`);
    return this.data.slice(ref.offset, ref.offset + ref.length).buffer;
  }
}

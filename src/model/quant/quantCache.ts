/**
 * The quantized-weights cache: a model's linear layers block-quantized once
 * and written to one file at 4 KiB-aligned offsets, which ONNX Runtime reads
 * as external data (and prepacks) when a session is created. A JSON manifest,
 * written last, records the checkpoint it came from; a manifest for another
 * checkpoint, format, or a file of the wrong size or sampled hash is rebuilt.
 * Writes are atomic (all bytes, fsync, rename): a full disk leaves nothing
 * half-written that a later load would trust.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readFully, tempPathFor, writeFileAtomic, writeFully, type WriteFn } from '../../io/atomicFile.ts';
import type { WeightSource } from '../../io/weights.ts';
import type { ExternalRef } from '../../runtime/graph.ts';
import { quantizeNBits, quantizeRowsInt8, type Int8Rows, type QuantBits } from './blockQuant.ts';
import type { EmbedEntry, ExternalData, QuantEntries, QuantEntry, QuantSource } from './quantSource.ts';

/** Bumped whenever the layout or the quantizer changes: older caches are rebuilt. */
export const QUANT_CACHE_FORMAT = 1;
const ALIGN = 4096;

/** Where and how the cache is written. */
export interface QuantCacheOptions {
  /** Cache root (default `$SAESCOPE_CACHE`, else `~/.cache/saescope`). */
  readonly cacheDir?: string;
  /** The write call (tests inject short writes and ENOSPC). */
  readonly write?: WriteFn;
  /** Told about fallbacks and rebuilds. */
  readonly onNotice?: (message: string) => void;
}

/** A linear weight to quantize: its checkpoint name and whether it is stored [out, in]. */
export interface LinearToQuantize {
  readonly name: string;
  readonly outFirst: boolean;
}

interface Manifest {
  readonly format: number;
  readonly identity: string;
  readonly bits: QuantBits;
  readonly blockSize: number;
  readonly file: string;
  readonly bytes: number;
  readonly sample: string;
  readonly linears: Record<string, QuantEntry>;
  readonly embeddings: Record<string, EmbedEntry & { readonly embedBlock: number }>;
}

/** What to put in a cache. */
export interface QuantPlan {
  readonly bits: QuantBits;
  readonly blockSize: number;
  readonly linears: readonly LinearToQuantize[];
  /** Embedding tensors, with the int8 block size for each. */
  readonly embeddings: readonly { readonly name: string; readonly blockSize: number }[];
}

/** An opened (or freshly built) cache. */
export class QuantCache implements QuantSource {
  private readonly embedCache = new Map<string, Int8Rows>();

  /** Use `QuantCache.open`. */
  constructor(
    /** The folder holding the cache file; external-data locations are relative to it. */
    readonly folder: string,
    private readonly m: Manifest,
    /** Whether this load built the cache. */
    readonly built: boolean,
  ) {}

  /** Opens the cache for a checkpoint, building it when absent or stale. */
  static open(source: WeightSource, plan: QuantPlan, opts: QuantCacheOptions = {}): QuantCache {
    const root = opts.cacheDir ?? process.env.SAESCOPE_CACHE ?? path.join(os.homedir(), '.cache', 'saescope');
    try {
      return openIn(root, source, plan, opts);
    } catch (e) {
      if (!isPermission(e)) throw e;
      const fallback = path.join(os.tmpdir(), `saescope-cache-${os.userInfo().uid}`);
      opts.onNotice?.(`the weights cache folder ${root} is not writable (${(e as NodeJS.ErrnoException).code}); using ${fallback} instead (set SAESCOPE_CACHE to choose)`);
      try {
        return openIn(fallback, source, plan, opts);
      } catch (e2) {
        throw new Error(`cannot write the quantized weights cache: ${root} is not writable and neither is ${fallback} (${(e2 as Error).message}); set SAESCOPE_CACHE to a writable folder`);
      }
    }
  }

  /** Total bytes of the cache file. */
  get bytes(): number {
    return this.m.bytes;
  }

  /** ORT reads the external data from the cache's folder. */
  get external(): ExternalData {
    return { folder: this.folder };
  }

  /** The cache's data file and its entries (for copying into a static site). */
  contents(): { file: string; entries: QuantEntries } {
    return { file: path.join(this.folder, this.m.file), entries: { bits: this.m.bits, blockSize: this.m.blockSize, linears: this.m.linears, embeddings: this.m.embeddings } };
  }

  /** The quantized form of a linear weight. */
  linear(name: string): QuantEntry {
    const e = this.m.linears[name];
    if (!e) throw new Error(`internal: tensor '${name}' is not in the quantized weights cache`);
    return e;
  }

  /** A quantized embedding, read into memory once (it is fed to the gather as an input). */
  embedding(name: string): Int8Rows {
    let r = this.embedCache.get(name);
    if (!r) {
      const e = this.m.embeddings[name];
      if (!e) throw new Error(`internal: embedding '${name}' is not in the quantized weights cache`);
      const file = path.join(this.folder, this.m.file);
      const q = new Int8Array(readAt(file, e.q));
      const scales = new Float32Array(readAt(file, e.scales));
      r = { rows: e.rows, cols: e.cols, blockSize: e.blockSize, q, scales };
      this.embedCache.set(name, r);
    }
    return r;
  }
}

function openIn(root: string, source: WeightSource, plan: QuantPlan, opts: QuantCacheOptions): QuantCache {
  const identity = source.identity();
  const key = createHash('sha256').update(`${QUANT_CACHE_FORMAT}\n${identity}`).digest('hex').slice(0, 20);
  const folder = path.join(root, 'weights', key);
  fs.mkdirSync(folder, { recursive: true });
  fs.accessSync(folder, fs.constants.W_OK);
  const base = `int${plan.bits}-b${plan.blockSize}`;
  const manifestPath = path.join(folder, `${base}.json`);
  const stale = staleReason(manifestPath, folder, identity, plan);
  if (!stale) return new QuantCache(folder, JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Manifest, false);
  if (stale !== 'absent') opts.onNotice?.(`rebuilding the int${plan.bits} weights cache in ${folder}: ${stale}`);
  const m = build(folder, base, identity, source, plan, opts.write ?? fs.writeSync);
  writeFileAtomic(manifestPath, [Buffer.from(JSON.stringify(m))], opts.write ?? fs.writeSync);
  return new QuantCache(folder, m, true);
}

function staleReason(manifestPath: string, folder: string, identity: string, plan: QuantPlan): string | undefined {
  if (!fs.existsSync(manifestPath)) return 'absent';
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Manifest;
  } catch {
    return 'the manifest is not valid JSON';
  }
  if (m.format !== QUANT_CACHE_FORMAT) return `it has format ${m.format}, this saescope writes ${QUANT_CACHE_FORMAT}`;
  if (m.identity !== identity) return 'it was built from another version of the checkpoint';
  if (m.bits !== plan.bits || m.blockSize !== plan.blockSize) return 'it has other quantization settings';
  if (plan.linears.some((l) => !m.linears[l.name]) || plan.embeddings.some((e) => m.embeddings[e.name]?.embedBlock !== e.blockSize)) return 'it lacks tensors this model needs';
  const file = path.join(folder, m.file);
  if (!fs.existsSync(file)) return 'its data file is missing';
  if (fs.statSync(file).size !== m.bytes) return `its data file has ${fs.statSync(file).size} bytes, the manifest says ${m.bytes}`;
  if (sampleHash(file, m.bytes) !== m.sample) return 'its data file does not match the hash in the manifest';
  return undefined;
}

function build(folder: string, base: string, identity: string, source: WeightSource, plan: QuantPlan, write: WriteFn): Manifest {
  const target = path.join(folder, `${base}.bin`);
  const tmp = tempPathFor(target);
  const fd = fs.openSync(tmp, 'w');
  let off = 0;
  const put = (bytes: Uint8Array): ExternalRef => {
    off = Math.ceil(off / ALIGN) * ALIGN;
    writeFully(fd, bytes, off, write, target);
    const ref = { location: `${base}.bin`, offset: off, length: bytes.byteLength };
    off += bytes.byteLength;
    return ref;
  };
  const linears: Record<string, QuantEntry> = {};
  const embeddings: Record<string, EmbedEntry & { embedBlock: number }> = {};
  try {
    for (const l of plan.linears) {
      const t = source.get(l.name);
      const [N, K] = l.outFirst ? t.shape : [t.shape[1], t.shape[0]];
      const q = quantizeNBits(t.data, N, K, !l.outFirst, plan.bits, plan.blockSize);
      linears[l.name] = { N, K, bits: plan.bits, blockSize: plan.blockSize, B: put(q.B), scales: put(bytesOf(q.scales)), zeroPoints: put(q.zeroPoints) };
    }
    for (const e of plan.embeddings) {
      const t = source.get(e.name);
      const q = quantizeRowsInt8(t.data, t.shape[0], t.shape[1], e.blockSize);
      embeddings[e.name] = { rows: q.rows, cols: q.cols, blockSize: q.blockSize, embedBlock: e.blockSize, q: put(bytesOf(q.q)), scales: put(bytesOf(q.scales)) };
    }
    // Pad to a whole alignment unit so the last tensor's pages are complete.
    const end = Math.ceil(off / ALIGN) * ALIGN;
    if (end > off) writeFully(fd, new Uint8Array(end - off), off, write, target);
    off = end;
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, target);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
    fs.rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || /no progress/.test((e as Error).message)) {
      throw new Error(`no space left on the device while writing the int${plan.bits} weights cache ${target} (${(off / 2 ** 20).toFixed(0)} MiB written); nothing was kept. Free space or set SAESCOPE_CACHE to another folder`);
    }
    throw e;
  }
  return { format: QUANT_CACHE_FORMAT, identity, bits: plan.bits, blockSize: plan.blockSize, file: `${base}.bin`, bytes: off, sample: sampleHash(target, off), linears, embeddings };
}

/** A cheap fingerprint: the size and 16 slices of 4 KiB spread over the file. */
function sampleHash(file: string, size: number): string {
  const h = createHash('sha256').update(String(size));
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    for (let i = 0; i < 16; i++) {
      const pos = Math.floor(((size - 4096) * i) / 15);
      const n = fs.readSync(fd, buf, 0, 4096, Math.max(0, pos));
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function readAt(file: string, ref: ExternalRef): ArrayBuffer {
  const buf = new Uint8Array(ref.length);
  const fd = fs.openSync(file, 'r');
  try {
    readFully(fd, buf, ref.offset, `${file} (quantized weights cache)`);
  } finally {
    fs.closeSync(fd);
  }
  return buf.buffer;
}

function bytesOf(a: Float32Array | Int8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function isPermission(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EROFS' || code === 'EPERM';
}

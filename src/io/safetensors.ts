/**
 * safetensors read/write (https://github.com/huggingface/safetensors): an
 * 8-byte little-endian header length, a JSON header of
 * `{name: {dtype, shape, data_offsets}}`, then the raw bytes. Tensors are read
 * lazily through a file descriptor, so a file may exceed memory; every header
 * entry is validated against the file's size before any read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { numel, type Tensor } from '../tensor/tensor.ts';
import { bf16Into, f16Into } from '../tensor/halfFloat.ts';
import { readFully, writeFileAtomic, type WriteFn } from './atomicFile.ts';

/** Where a safetensors file's bytes come from: a file on disk, or bytes in memory. */
export interface ByteSource {
  readonly size: number;
  /** What identifies these bytes, for caches. */
  readonly identity: string;
  /** Fills `into` from byte `position`; throws naming `what` when the bytes end early. */
  read(into: Uint8Array, position: number, what: string): void;
}

/** safetensors dtype names saescope reads. */
export type StDType = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8' | 'I8' | 'F64';

const BYTES: Record<StDType, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, I8: 1, F64: 8 };

/** One header entry. */
export interface TensorInfo {
  /** Tensor name in the file. */
  readonly name: string;
  /** Stored element type. */
  readonly dtype: StDType;
  /** Dimensions. */
  readonly shape: readonly number[];
  /** Byte offset of the data from the start of the file. */
  readonly start: number;
  /** Byte length of the data. */
  readonly length: number;
}

/** A lazily read safetensors file. */
export class SafetensorsFile {
  /** Path of the file, for error messages. */
  readonly path: string;
  /** Header entries by tensor name. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The free-form `__metadata__` map. */
  readonly metadata: Readonly<Record<string, string>>;

  private constructor(file: string, tensors: Map<string, TensorInfo>, metadata: Record<string, string>, private readonly src: ByteSource) {
    this.path = file;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /** What identifies these bytes (path, size, modification time): caches key on it. */
  get identity(): string {
    return this.src.identity;
  }

  /** Opens and validates a file's header; throws naming the file and the fault. */
  static open(file: string): SafetensorsFile {
    const st = fs.statSync(file);
    return SafetensorsFile.fromSource(file, {
      size: st.size,
      identity: JSON.stringify([path.resolve(file), st.size, st.mtimeMs]),
      read: (into, position, what) => {
        const fd = fs.openSync(file, 'r');
        try {
          readFully(fd, into, position, what);
        } finally {
          fs.closeSync(fd);
        }
      },
    });
  }

  /** A safetensors file already in memory (a browser download, a test); `label` names it in errors. */
  static fromBytes(label: string, bytes: Uint8Array): SafetensorsFile {
    return SafetensorsFile.fromSource(label, {
      size: bytes.byteLength,
      identity: JSON.stringify([label, bytes.byteLength]),
      read: (into, position, what) => {
        if (position + into.byteLength > bytes.byteLength) throw new Error(`${what} ends early (truncated)`);
        into.set(bytes.subarray(position, position + into.byteLength));
      },
    });
  }

  /** Validates the header read through `src`. */
  static fromSource(file: string, src: ByteSource): SafetensorsFile {
    const size = src.size;
    if (size < 8) throw new Error(`${file}: truncated safetensors file (${size} bytes, no header length)`);
    const lenBuf = new Uint8Array(8);
    src.read(lenBuf, 0, `${file}: header length`);
    const headerLen = Number(new DataView(lenBuf.buffer).getBigUint64(0, true));
    if (headerLen > MAX_HEADER) throw new Error(`${file}: corrupt safetensors file: header length ${headerLen} exceeds the ${MAX_HEADER / 2 ** 20} MiB limit`);
    if (headerLen > size - 8) {
      throw new Error(`${file}: truncated or corrupt safetensors file: header length ${headerLen} runs past the end of the file (${size} bytes)`);
    }
    const hb = new Uint8Array(headerLen);
    src.read(hb, 8, `${file}: header`);
    let header: unknown;
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(hb);
      header = JSON.parse(text);
    } catch (e) {
      throw new Error(`${file}: corrupt safetensors header (not UTF-8 JSON: ${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error(`${file}: corrupt safetensors header (not a JSON object: ${text.slice(0, 40)})`);
    const dup = duplicateKey(text);
    if (dup !== undefined) throw new Error(`${file}: corrupt safetensors header: tensor '${dup}' is listed twice`);
    const { tensors, metadata } = parseHeader(file, header as Record<string, unknown>, 8 + headerLen, size);
    return new SafetensorsFile(file, tensors, metadata, src);
  }

  /** Raw bytes of one tensor, in a fresh 8-byte-aligned buffer. */
  readRaw(name: string): { info: TensorInfo; bytes: Uint8Array } {
    const info = this.tensors.get(name);
    if (!info) throw new Error(`${this.path}: no tensor named '${name}'`);
    const bytes = new Uint8Array(new ArrayBuffer(info.length));
    this.src.read(bytes, info.start, `${this.path}: tensor '${name}'`);
    return { info, bytes };
  }

  /** Every tensor as float32, by name. */
  readAll(): Record<string, Tensor<'float32'>> {
    return Object.fromEntries([...this.tensors.keys()].map((k) => [k, this.readF32(k)]));
  }

  /**
   * One tensor as float32 (F16 and BF16 are widened; integer types
   * converted). F32 is read straight into the result; BF16 and F16 go through
   * a small reused buffer, so no second whole-tensor copy is ever held.
   */
  readF32(name: string): Tensor<'float32'> {
    const info = this.tensors.get(name);
    if (!info) throw new Error(`${this.path}: no tensor named '${name}'`);
    if (info.dtype !== 'F32' && info.dtype !== 'BF16' && info.dtype !== 'F16') {
      const { bytes } = this.readRaw(name);
      return { dtype: 'float32', shape: info.shape, data: toF32(info.dtype, bytes, `${this.path}:${name}`) };
    }
    const out = new Float32Array(info.length / BYTES[info.dtype]);
    const what = `${this.path}: tensor '${name}'`;
    if (info.dtype === 'F32') {
      this.src.read(new Uint8Array(out.buffer), info.start, what);
    } else {
      const widen = info.dtype === 'BF16' ? bf16Into : f16Into;
      const chunk = scratch();
      for (let done = 0; done < out.length; ) {
        const n = Math.min(out.length - done, chunk.length >> 1);
        const raw = chunk.subarray(0, n * 2);
        this.src.read(raw, info.start + done * 2, what);
        widen(new Uint16Array(raw.buffer, 0, n), out, done);
        done += n;
      }
    }
    return { dtype: 'float32', shape: info.shape, data: out };
  }
}

let scratchBuf: Uint8Array | undefined;
/** One 16 MiB read buffer reused by every widening read. */
function scratch(): Uint8Array {
  return (scratchBuf ??= new Uint8Array(16 << 20));
}


function parseHeader(file: string, header: Record<string, unknown>, dataStart: number, size: number) {
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || Object.values(raw).some((v) => typeof v !== 'string')) {
        throw new Error(`${file}: corrupt safetensors header: __metadata__ must map strings to strings`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const m = raw as { dtype?: string; shape?: unknown; data_offsets?: unknown };
    if (!m || typeof m.dtype !== 'string' || !(m.dtype in BYTES)) {
      throw new Error(`${file}: tensor '${name}' has unsupported dtype ${JSON.stringify(m?.dtype)} (expected one of ${Object.keys(BYTES).join(', ')})`);
    }
    const shape = m.shape;
    const offs = m.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new Error(`${file}: tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[1] < offs[0]) {
      throw new Error(`${file}: tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const dtype = m.dtype as StDType;
    const length = offs[1] - offs[0];
    const want = numel(shape) * BYTES[dtype];
    if (length !== want) {
      throw new Error(`${file}: tensor '${name}' spans ${length} bytes but ${dtype} [${shape.join(', ')}] needs ${want}`);
    }
    if (dataStart + offs[1] > size) {
      throw new Error(`${file}: truncated or corrupt: tensor '${name}' data_offsets [${offs[0]}, ${offs[1]}] run past the end of the file (${size - dataStart} data bytes)`);
    }
    tensors.set(name, { name, dtype, shape, start: dataStart + offs[0], length });
  }
  // As the safetensors crate requires: the tensors tile the data exactly (no overlap, no hole, nothing after).
  let end = dataStart;
  for (const t of [...tensors.values()].sort((a, b) => a.start - b.start || a.length - b.length)) {
    if (t.start !== end) {
      throw new Error(`${file}: corrupt safetensors header: tensor '${t.name}' starts at data byte ${t.start - dataStart}, expected ${end - dataStart} (${t.start < end ? 'it overlaps the previous tensor' : 'a gap before it'})`);
    }
    end = t.start + t.length;
  }
  if (end !== size) throw new Error(`${file}: corrupt safetensors file: ${size - end} bytes after the last tensor`);
  return { tensors, metadata };
}

/** Largest header accepted (the safetensors crate's limit is 100,000,000 bytes). */
const MAX_HEADER = 100_000_000;

/** The first top-level key of JSON object text that occurs twice (JSON.parse keeps the last silently). */
function duplicateKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (k < text.length && /\s/.test(text[k])) k++;
        if (text[k] === ':') {
          const key = JSON.parse(text.slice(i, j + 1)) as string;
          if (seen.has(key)) return key;
          seen.add(key);
        }
      }
      i = j;
    }
  }
  return undefined;
}

/** Integer and F64 tensors as float32 (F32, F16 and BF16 are read by `readF32` directly). */
function toF32(dtype: StDType, bytes: Uint8Array, where: string): Float32Array {
  const buf = bytes.buffer;
  switch (dtype) {
    case 'F64':
      return Float32Array.from(new Float64Array(buf, bytes.byteOffset, bytes.byteLength / 8));
    case 'I32':
      return Float32Array.from(new Int32Array(buf, bytes.byteOffset, bytes.byteLength / 4));
    case 'I64':
      return Float32Array.from(new BigInt64Array(buf, bytes.byteOffset, bytes.byteLength / 8), Number);
    case 'U8':
      return Float32Array.from(bytes);
    case 'I8':
      return Float32Array.from(new Int8Array(buf, bytes.byteOffset, bytes.byteLength));
  }
  throw new Error(`${where}: cannot convert dtype ${dtype} to float32`);
}

/** A tensor to write: float32 by default, or int64. */
export type WritableTensor = Tensor<'float32'> | Tensor<'int64'> | Tensor<'int32'>;

/**
 * Writes tensors to a safetensors file atomically (every byte written, fsync,
 * then a rename), so a failed or short write leaves any previous file intact.
 */
export function writeSafetensors(file: string, tensors: Record<string, WritableTensor>, metadata?: Record<string, string>, write?: WriteFn): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const parts: Uint8Array[] = [];
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const dtype = t.dtype === 'float32' ? 'F32' : t.dtype === 'int64' ? 'I64' : 'I32';
    if (t.data.length !== numel(t.shape)) throw new Error(`writeSafetensors: tensor '${name}' data does not match shape [${t.shape.join(', ')}]`);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype, shape: t.shape, data_offsets: [off, off + bytes.byteLength] };
    parts.push(bytes);
    off += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const hb = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  writeFileAtomic(file, [len, hb, ...parts], write);
}

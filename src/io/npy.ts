/**
 * numpy's `.npy` and `.npz` files, read without Python
 * (numpy/lib/format.py: magic `\x93NUMPY`, version, a little-endian header
 * length of 2 bytes (v1) or 4 (v2, v3), a Python dict literal with `descr`,
 * `fortran_order` and `shape`, padded so the data starts 16- or 64-aligned;
 * `.npz` is a zip of `.npy` members, stored by `np.savez` with zip64 extra
 * fields, deflated by `np.savez_compressed`). Float members are read straight
 * from the file into float32 (f2 and f8 converted); anything else is refused
 * by name.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { readFully } from './atomicFile.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { halfToFloat } from '../tensor/halfFloat.ts';

/** A parsed `.npy` header. */
export interface NpyHeader {
  /** numpy dtype string, e.g. `<f4`. */
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
  /** Bytes from the start of the `.npy` data to the first element. */
  readonly dataOffset: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** Parses the header at the start of `b` (which holds at least the header); throws naming `where`. */
export function parseNpyHeader(b: Uint8Array, where: string): NpyHeader {
  if (b.length < 10 || MAGIC.some((m, i) => b[i] !== m)) throw new Error(`${where}: not a .npy file (no \\x93NUMPY magic)`);
  const major = b[6];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (major !== 1 && major !== 2 && major !== 3) throw new Error(`${where}: unsupported .npy version ${major}.${b[7]}`);
  const lenBytes = major === 1 ? 2 : 4;
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = 8 + lenBytes;
  if (b.length < start + hlen) throw new Error(`${where}: .npy header is truncated`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(b.subarray(start, start + hlen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new Error(`${where}: malformed .npy header ${JSON.stringify(text.trim())}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${where}: bad shape (${shapeText}) in .npy header`);
  return { descr, fortranOrder: fortran === 'True', shape, dataOffset: start + hlen };
}

const ITEM: Record<string, number> = { '<f4': 4, '<f2': 2, '<f8': 8, '|f4': 4 };

/** Reads an array of `header` whose data starts at `position` in open file `fd`, as float32. */
function readArray(fd: number, position: number, available: number, header: NpyHeader, where: string): Tensor<'float32'> {
  const item = ITEM[header.descr];
  if (item === undefined) throw new Error(`${where}: dtype '${header.descr}' is not a little-endian float (expected <f4, <f2 or <f8)`);
  const n = header.shape.reduce((a, b) => a * b, 1);
  if (n * item > available) throw new Error(`${where}: array of shape (${header.shape.join(', ')}) needs ${n * item} bytes, the file has ${available}`);
  const out = new Float32Array(n);
  if (item === 4) {
    readFully(fd, new Uint8Array(out.buffer), position, where);
  } else {
    const raw = new Uint8Array(n * item);
    readFully(fd, raw, position, where);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < n; i++) out[i] = item === 8 ? dv.getFloat64(i * 8, true) : halfToFloat(dv.getUint16(i * 2, true));
  }
  return { dtype: 'float32', shape: [...header.shape], data: header.fortranOrder ? fortranToC(out, header.shape) : out };
}

/**
 * A Fortran-ordered (column-major) array's values in C (row-major) order:
 * what numpy writes for a transposed array (`np.savez(W_enc=W_dec.T)`).
 */
export function fortranToC(data: Float32Array, shape: readonly number[]): Float32Array {
  if (shape.length < 2) return data;
  const out = new Float32Array(data.length);
  // Fortran strides: the first index varies fastest.
  const fStride = shape.map((_, k) => shape.slice(0, k).reduce((a, b) => a * b, 1));
  const idx = new Array<number>(shape.length).fill(0);
  for (let c = 0; c < data.length; c++) {
    let f = 0;
    for (let k = 0; k < shape.length; k++) f += idx[k] * fStride[k];
    out[c] = data[f];
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

/** One member of a zip archive. */
interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localOffset: number;
}

/** An open `.npz`: member names, and each array read on demand. */
export class NpzFile {
  private constructor(readonly file: string, private readonly entries: ReadonlyMap<string, ZipEntry>, private readonly fileSize: number) {}

  /** Opens a `.npz` and reads its zip directory (zip64 included); throws naming the file when it is not one. */
  static open(file: string): NpzFile {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      return new NpzFile(file, readZipDirectory(fd, size, file), size);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Array names (member names without `.npy`). */
  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Whether the archive has array `name`. */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The header of array `name` (shape and dtype) without reading its data. */
  header(name: string): NpyHeader {
    return this.withMember(name, (fd, pos, avail, where, e) => {
      if (e.method === 8) return parseNpyHeader(inflateHead(fd, pos, e, where), where);
      const head = new Uint8Array(Math.min(avail, 65536 + 12));
      readFully(fd, head, pos, where);
      return parseNpyHeader(head, where);
    });
  }

  /** Reads array `name` as float32. */
  read(name: string): Tensor<'float32'> {
    return this.withMember(name, (fd, pos, avail, where, e) => {
      // The .npy header says how many bytes the member holds; the zip entry must declare exactly those (nothing trailing).
      const h = e.method === 8 ? parseNpyHeader(inflateHead(fd, pos, e, where), where) : (() => {
        const head = new Uint8Array(Math.min(avail, 65536 + 12));
        readFully(fd, head, pos, where);
        return parseNpyHeader(head, where);
      })();
      const want = h.dataOffset + h.shape.reduce((a, b) => a * b, 1) * (ITEM[h.descr] ?? 0);
      if (ITEM[h.descr] !== undefined && e.size !== want) {
        throw new Error(`${where}: the zip entry declares ${e.size} bytes but its .npy header describes ${want} (shape (${h.shape.join(', ')}), ${h.descr}); refusing undeclared or missing data`);
      }
      if (e.method === 8) {
        const bytes = inflate(fd, pos, e, where);
        return fromBytes(bytes, parseNpyHeader(bytes, where), where);
      }
      return readArray(fd, pos + h.dataOffset, avail - h.dataOffset, h, where);
    });
  }

  private withMember<T>(name: string, f: (fd: number, pos: number, available: number, where: string, e: ZipEntry) => T): T {
    const e = this.entries.get(name);
    const where = `${this.file}: array '${name}'`;
    if (!e) throw new Error(`${this.file}: no array '${name}' (it has ${this.names().join(', ') || 'none'})`);
    if (e.method !== 0 && e.method !== 8) throw new Error(`${where}: zip compression method ${e.method} is not supported (stored or deflate)`);
    const fd = fs.openSync(this.file, 'r');
    try {
      const local = new Uint8Array(30);
      readFully(fd, local, e.localOffset, where);
      const dv = new DataView(local.buffer);
      if (dv.getUint32(0, true) !== 0x04034b50) throw new Error(`${where}: bad zip local header`);
      const pos = e.localOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
      const avail = Math.min(e.method === 0 ? e.size : e.compressedSize, this.fileSize - pos);
      return f(fd, pos, avail, where, e);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Largest member inflated (bytes); a member's own declared size is the first bound. */
export const MAX_NPZ_MEMBER_BYTES = 32 * 2 ** 30;

/**
 * Inflates a deflated member into at most its declared size: a stream that
 * would inflate past it (a decompression bomb) or stops short of it is refused.
 */
function inflate(fd: number, pos: number, e: ZipEntry, where: string): Uint8Array {
  if (e.size > MAX_NPZ_MEMBER_BYTES) throw new Error(`${where}: declares ${e.size} bytes, over the ${MAX_NPZ_MEMBER_BYTES}-byte limit`);
  const raw = new Uint8Array(e.compressedSize);
  readFully(fd, raw, pos, where);
  let out: Buffer;
  try {
    out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new Error(`${where}: inflates past the ${e.size} bytes its zip entry declares (a decompression bomb?); refused`);
    throw new Error(`${where}: corrupt deflate data (${(err as Error).message})`);
  }
  if (out.length !== e.size) throw new Error(`${where}: inflates to ${out.length} bytes, not the ${e.size} its zip entry declares`);
  return out;
}

/** The start of a deflated member (enough for its .npy header), without inflating the rest. */
function inflateHead(fd: number, pos: number, e: ZipEntry, where: string): Uint8Array {
  const raw = new Uint8Array(Math.min(e.compressedSize, 4096));
  readFully(fd, raw, pos, where);
  try {
    return zlib.inflateRawSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: 1 << 22 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new Error(`${where}: its first 4 KiB inflate past 4 MiB (a decompression bomb?); refused`);
    throw new Error(`${where}: corrupt deflate data (${(err as Error).message})`);
  }
}

function fromBytes(bytes: Uint8Array, h: NpyHeader, where: string): Tensor<'float32'> {
  const item = ITEM[h.descr];
  if (item === undefined) throw new Error(`${where}: dtype '${h.descr}' is not a little-endian float (expected <f4, <f2 or <f8)`);
  const n = h.shape.reduce((a, b) => a * b, 1);
  if (h.dataOffset + n * item > bytes.length) throw new Error(`${where}: array data is truncated`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + h.dataOffset, n * item);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = item === 4 ? dv.getFloat32(i * 4, true) : item === 8 ? dv.getFloat64(i * 8, true) : halfToFloat(dv.getUint16(i * 2, true));
  return { dtype: 'float32', shape: [...h.shape], data: h.fortranOrder ? fortranToC(out, h.shape) : out };
}

/** Reads a zip's central directory (with zip64 records and extra fields). */
function readZipDirectory(fd: number, size: number, file: string): Map<string, ZipEntry> {
  const tailLen = Math.min(size, 65557);
  const tail = new Uint8Array(tailLen);
  readFully(fd, tail, size - tailLen, file);
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${file}: not a zip archive (.npz): no end-of-directory record (truncated?)`);
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tv.getUint32(loc, true) !== 0x07064b50) throw new Error(`${file}: zip64 locator missing`);
    const recOff = Number(tv.getBigUint64(loc + 8, true));
    const rec = new Uint8Array(56);
    readFully(fd, rec, recOff, file);
    const rv = new DataView(rec.buffer);
    if (rv.getUint32(0, true) !== 0x06064b50) throw new Error(`${file}: bad zip64 end-of-directory record`);
    count = Number(rv.getBigUint64(32, true));
    cdSize = Number(rv.getBigUint64(40, true));
    cdOffset = Number(rv.getBigUint64(48, true));
  }
  if (cdOffset + cdSize > size) throw new Error(`${file}: zip directory points past the end of the file (truncated?)`);
  const cd = new Uint8Array(cdSize);
  readFully(fd, cd, cdOffset, file);
  const v = new DataView(cd.buffer);
  const out = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || v.getUint32(p, true) !== 0x02014b50) throw new Error(`${file}: bad zip directory entry ${i}`);
    const method = v.getUint16(p + 10, true);
    let compressedSize = v.getUint32(p + 20, true);
    let uncompressed = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    let localOffset = v.getUint32(p + 42, true);
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = v.getUint16(x, true);
      const len = v.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        if (uncompressed === 0xffffffff) {
          uncompressed = Number(v.getBigUint64(q, true));
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = Number(v.getBigUint64(q, true));
          q += 8;
        }
        if (localOffset === 0xffffffff) localOffset = Number(v.getBigUint64(q, true));
      }
      x += 4 + len;
    }
    if (localOffset + 30 > size) throw new Error(`${file}: member '${name}' starts past the end of the file (truncated?)`);
    // Two members of one name: which one a reader gets would be a guess (numpy keeps the last), so neither is read.
    if (out.has(name.replace(/\.npy$/, ''))) throw new Error(`${file}: member '${name}' appears twice; refusing an archive with duplicate members`);
    out.set(name.replace(/\.npy$/, ''), { name, method, compressedSize, size: uncompressed, localOffset });
    p = xEnd + commentLen;
  }
  return out;
}

/**
 * A compact binary form of a scan's result, for the shard states of a
 * distributed scan. `v8.serialize` of a wide SAE's state (24,576 features,
 * each with its heap and reservoirs of small example objects) took 2 s to
 * read back per 120 MB; here every number lives in a few typed arrays, so
 * reading is a handful of copies. Values are kept as float64, so a state read
 * back is bit-identical to the one written (heap order included).
 *
 * Layout: the magic `SAESCAN1`, a u32 header length, the JSON header
 * (counts and options), the v8-serialized random contexts, then, each
 * starting at a multiple of 8 bytes: per-feature scalars
 * [count, sum, max, range] (f64), histograms (f64), reservoir `seen` counts
 * (f64), example counts per heap and reservoir (u32), example scalars
 * [act] (f64), example [row, pos, start, length] (i32), window token ids
 * (i32) and window activations (f64); then the token samples of the
 * quantile bins: their `seen` counts (f64), sizes (u32), ids (i32) and
 * activations (f64).
 */
import * as v8 from 'node:v8';
import type { Example } from './examples.ts';
import { FeatureStats } from './featureStats.ts';
import type { RandomContext, ScanResult } from './scan.ts';

const MAGIC = 'SAESCAN2';

interface Header {
  tokens: number;
  rows: number;
  contextsSeen: number;
  options: Record<string, unknown>;
  features: number;
  histBins: number;
  quantileBins: number;
  examples: number;
  windowTokens: number;
  contextsBytes: number;
  tokenSamples: number;
}

/** The scan's result as byte chunks (write them in order). */
export function packScan(r: ScanResult): Uint8Array[] {
  const o = r.options as { topK: number; histBins: number; quantileBins: number; perBin: number; tokenSamples?: number };
  const F = r.features.length;
  const H = o.histBins;
  const Q = o.quantileBins;
  let examples = 0;
  let windowTokens = 0;
  const each = (f: FeatureStats, fn: (e: Example) => void) => {
    f.top.items.forEach(fn);
    for (const b of f.bins) b.items.forEach(fn);
  };
  for (const f of r.features) each(f, (e) => {
    examples++;
    windowTokens += e.ids.length;
  });
  const scalars = new Float64Array(4 * F);
  const hist = new Float64Array(F * H);
  const seen = new Float64Array(F * Q);
  const counts = new Uint32Array(F * (1 + Q));
  const act = new Float64Array(examples);
  const meta = new Int32Array(4 * examples);
  const ids = new Int32Array(windowTokens);
  const acts = new Float64Array(windowTokens);
  let e = 0;
  let w = 0;
  r.features.forEach((f, i) => {
    scalars.set([f.count, f.sum, f.max, f.range], 4 * i);
    hist.set(f.hist, i * H);
    counts[i * (1 + Q)] = f.top.items.length;
    f.bins.forEach((b, j) => {
      seen[i * Q + j] = b.seen;
      counts[i * (1 + Q) + 1 + j] = b.items.length;
    });
    each(f, (x) => {
      if (x.acts.length !== x.ids.length) throw new Error(`feature ${i}: an example with ${x.ids.length} tokens and ${x.acts.length} activations`);
      act[e] = x.act;
      meta.set([x.row, x.pos, x.start, x.ids.length], 4 * e);
      ids.set(x.ids, w);
      acts.set(x.acts, w);
      e++;
      w += x.ids.length;
    });
  });
  let samples = 0;
  for (const f of r.features) for (const t of f.tokenBins) samples += t.items.length;
  const tSeen = new Float64Array(F * Q);
  const tCounts = new Uint32Array(F * Q);
  const tIds = new Int32Array(samples);
  const tActs = new Float64Array(samples);
  let t = 0;
  r.features.forEach((f, i) => f.tokenBins.forEach((b, j) => {
    tSeen[i * Q + j] = b.seen;
    tCounts[i * Q + j] = b.items.length;
    for (const x of b.items) {
      tIds[t] = x.id;
      tActs[t++] = x.act;
    }
  }));
  const contexts = v8.serialize(r.contexts);
  const header: Header = {
    tokens: r.tokens, rows: r.rows, contextsSeen: r.contextsSeen, options: { ...r.options }, features: F, histBins: H, quantileBins: Q,
    examples, windowTokens, contextsBytes: contexts.length, tokenSamples: samples,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const lead = Buffer.alloc(12);
  lead.write(MAGIC, 0, 'latin1');
  lead.writeUInt32LE(json.length, 8);
  const chunks: Uint8Array[] = [lead, json, contexts];
  let len = 12 + json.length + contexts.length;
  for (const a of [scalars, hist, seen, counts, act, meta, ids, acts, tSeen, tCounts, tIds, tActs]) {
    const pad = (8 - (len % 8)) % 8;
    if (pad) chunks.push(new Uint8Array(pad));
    chunks.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    len += pad + a.byteLength;
  }
  return chunks;
}

/** Reads back what `packScan` wrote; names what is wrong when the bytes are not a whole state. */
export function unpackScan(buf: Uint8Array, what = 'scan state'): ScanResult {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 12 || b.toString('latin1', 0, 8) !== MAGIC) throw new Error(`${what}: not a saescope scan state (no ${MAGIC} header)`);
  const hl = b.readUInt32LE(8);
  if (12 + hl > b.length) throw new Error(`${what}: truncated (header of ${hl} bytes past the end)`);
  const h = JSON.parse(b.toString('utf8', 12, 12 + hl)) as Header;
  let off = 12 + hl;
  const contexts = v8.deserialize(b.subarray(off, off + h.contextsBytes)) as RandomContext[];
  off += h.contextsBytes;
  const F = h.features;
  const H = h.histBins;
  const Q = h.quantileBins;
  const take = <T>(Ctor: { new (a: ArrayBuffer): T; BYTES_PER_ELEMENT: number }, n: number): T => {
    off += (8 - (off % 8)) % 8;
    const bytes = n * Ctor.BYTES_PER_ELEMENT;
    if (off + bytes > b.length) throw new Error(`${what}: truncated (${b.length} bytes, needs more than ${off + bytes})`);
    const copy = new ArrayBuffer(bytes);
    new Uint8Array(copy).set(b.subarray(off, off + bytes));
    off += bytes;
    return new Ctor(copy);
  };
  const scalars = take(Float64Array, 4 * F);
  const hist = take(Float64Array, F * H);
  const seen = take(Float64Array, F * Q);
  const counts = take(Uint32Array, F * (1 + Q));
  const act = take(Float64Array, h.examples);
  const meta = take(Int32Array, 4 * h.examples);
  const ids = take(Int32Array, h.windowTokens);
  const acts = take(Float64Array, h.windowTokens);
  const tSeen = take(Float64Array, F * Q);
  const tCounts = take(Uint32Array, F * Q);
  const tIds = take(Int32Array, h.tokenSamples);
  const tActs = take(Float64Array, h.tokenSamples);
  const o = h.options as { topK: number; perBin: number; tokenSamples?: number };
  let t = 0;
  let e = 0;
  let w = 0;
  const next = (): Example => {
    const n = meta[4 * e + 3];
    const xi = new Array<number>(n);
    const xa = new Array<number>(n);
    for (let k = 0; k < n; k++) {
      xi[k] = ids[w + k];
      xa[k] = acts[w + k];
    }
    const x: Example = { act: act[e], row: meta[4 * e], pos: meta[4 * e + 1], start: meta[4 * e + 2], ids: xi, acts: xa };
    e++;
    w += n;
    return x;
  };
  const features: FeatureStats[] = [];
  for (let i = 0; i < F; i++) {
    const f = new FeatureStats(o.topK, H, Q, o.perBin, o.tokenSamples ?? 32);
    [f.count, f.sum, f.max, f.range] = scalars.subarray(4 * i, 4 * i + 4);
    f.hist.set(hist.subarray(i * H, (i + 1) * H));
    for (let k = counts[i * (1 + Q)]; k > 0; k--) f.top.items.push(next());
    f.bins.forEach((bin, j) => {
      bin.seen = seen[i * Q + j];
      for (let k = counts[i * (1 + Q) + 1 + j]; k > 0; k--) bin.items.push(next());
    });
    f.tokenBins.forEach((bin, j) => {
      bin.seen = tSeen[i * Q + j];
      for (let k = tCounts[i * Q + j]; k > 0; k--, t++) bin.items.push({ id: tIds[t], act: tActs[t] });
    });
    features.push(f);
  }
  if (e !== h.examples || w !== h.windowTokens || t !== h.tokenSamples) throw new Error(`${what}: its example counts do not add up`);
  return { tokens: h.tokens, rows: h.rows, features, contexts, options: h.options, contextsSeen: h.contextsSeen };
}

/**
 * A sharded on-disk activation store: `manifest.json` plus
 * `shard-NNNNN.safetensors` files of activations [tokens, dIn] at one hook.
 * Each shard is written atomically (temporary file, then rename) before the
 * manifest records it, so a killed collection resumes from its last recorded
 * shard and never reads a half-written one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeTextAtomic } from '../io/atomicFile.ts';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { activationGroups } from './activationSource.ts';

/** What the manifest records. */
export interface StoreManifest {
  readonly model: string;
  readonly hook: string;
  readonly corpus: string;
  readonly contextSize: number;
  readonly dIn: number;
  /** Shards in write order, with their token counts. */
  readonly shards: readonly { readonly file: string; readonly tokens: number }[];
  /** Packed corpus rows consumed (where a resumed collection continues). */
  readonly rowsConsumed: number;
  /** Tokens stored. */
  readonly tokens: number;
  /** Whether the target was reached (or the corpus ran out). */
  readonly done: boolean;
}

/** Options of `collectActivations`. */
export interface CollectOptions {
  readonly corpus: string;
  readonly hook: string;
  readonly contextSize: number;
  /** Tokens to store in all. */
  readonly tokens: number;
  /** Tokens per shard (default 65,536). */
  readonly shardTokens?: number;
  readonly rowsPerPass?: number;
  /** Called after each shard. */
  readonly onShard?: (m: StoreManifest) => void;
}

/** Collects activations into `dir`, resuming a collection a manifest says is unfinished. */
export async function collectActivations(model: HookedModel, dir: string, o: CollectOptions): Promise<StoreManifest> {
  fs.mkdirSync(dir, { recursive: true });
  const hook = model.resolveHooks([o.hook])[0].name;
  let m = readManifest(dir) ?? { model: model.name, hook, corpus: o.corpus, contextSize: o.contextSize, dIn: 0, shards: [], rowsConsumed: 0, tokens: 0, done: false };
  if (m.hook !== hook || m.corpus !== o.corpus || m.contextSize !== o.contextSize) {
    throw new Error(`${dir}: holds activations of ${m.hook} over ${m.corpus} (context ${m.contextSize}); refusing to mix in ${hook} over ${o.corpus}`);
  }
  if (m.done || m.tokens >= o.tokens) return m;
  const shardTokens = o.shardTokens ?? 65536;
  let pending: Float32Array[] = [];
  let pendingTokens = 0;
  let dIn = m.dIn;
  const flush = (rowsConsumed: number, done: boolean) => {
    if (pendingTokens > 0) {
      const file = shardFile(m.shards.length);
      writeSafetensors(path.join(dir, file), { acts: { dtype: 'float32', shape: [pendingTokens, dIn], data: concat(pending, pendingTokens * dIn) } });
      m = { ...m, dIn, shards: [...m.shards, { file, tokens: pendingTokens }], tokens: m.tokens + pendingTokens };
    }
    m = { ...m, rowsConsumed, done };
    writeManifest(dir, m);
    pending = [];
    pendingTokens = 0;
    o.onShard?.(m);
  };
  let lastRows = m.rowsConsumed;
  for await (const group of activationGroups(model, { corpus: o.corpus, hooks: [hook], contextSize: o.contextSize, rowsPerPass: o.rowsPerPass, startRow: m.rowsConsumed })) {
    const acts = group.acts[hook];
    dIn = acts.length / group.tokens;
    const room = o.tokens - m.tokens - pendingTokens;
    const n = Math.min(group.tokens, room);
    pending.push(acts.subarray(0, n * dIn));
    pendingTokens += n;
    lastRows = group.rowsConsumed;
    if (m.tokens + pendingTokens >= o.tokens) {
      flush(lastRows, true);
      return m;
    }
    if (pendingTokens >= shardTokens) flush(lastRows, false);
  }
  flush(lastRows, true);
  return m;
}

/** The manifest of a store, or undefined when the folder has none. */
export function readManifest(dir: string): StoreManifest | undefined {
  const p = path.join(dir, 'manifest.json');
  if (!fs.existsSync(p)) return undefined;
  return JSON.parse(fs.readFileSync(p, 'utf8')) as StoreManifest;
}

/** Writes a store's manifest atomically (all bytes, fsync, rename). */
export function writeManifest(dir: string, m: StoreManifest): void {
  writeTextAtomic(path.join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
}

/** The file name of a store's shard `i`. */
export const shardFile = (i: number): string => `shard-${String(i).padStart(5, '0')}.safetensors`;

/** Options of `collectRows`. */
export interface RowRangeOptions {
  readonly corpus: string;
  readonly hook: string;
  readonly contextSize: number;
  /** Packed rows [start, end). */
  readonly start: number;
  readonly end: number;
  /** Tokens to keep (the last row may be kept in part). */
  readonly tokens: number;
  readonly rowsPerPass?: number;
  readonly onProgress?: (tokens: number) => void;
}

/**
 * Collects the activations of packed rows [start, end) into one shard file
 * (atomically): one shard of a distributed collection. Concatenated in row
 * order, such shards hold exactly the rows a one-process collection stores.
 */
export async function collectRows(model: HookedModel, file: string, o: RowRangeOptions): Promise<{ tokens: number; dIn: number }> {
  const hook = model.resolveHooks([o.hook])[0].name;
  const parts: Float32Array[] = [];
  let tokens = 0;
  let dIn = 0;
  for await (const group of activationGroups(model, { corpus: o.corpus, hooks: [hook], contextSize: o.contextSize, rowsPerPass: o.rowsPerPass, startRow: o.start, endRow: o.end })) {
    const acts = group.acts[hook];
    dIn = acts.length / group.tokens;
    const n = Math.min(group.tokens, o.tokens - tokens);
    parts.push(acts.subarray(0, n * dIn));
    tokens += n;
    o.onProgress?.(tokens);
    if (tokens >= o.tokens) break;
  }
  if (tokens !== o.tokens) throw new Error(`rows ${o.start}-${o.end} of '${o.corpus}' gave ${tokens} tokens, expected ${o.tokens} (did the corpus change?)`);
  writeSafetensors(file, { acts: { dtype: 'float32', shape: [tokens, dIn], data: concat(parts, tokens * dIn) } });
  return { tokens, dIn };
}

/** The parts one after another in one array of `length`. */
function concat(parts: readonly Float32Array[], length: number): Float32Array {
  const data = new Float32Array(length);
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.length;
  }
  return data;
}

/** Reads a store's shards in order, each as [tokens, dIn]. */
export function* readShards(dir: string): Generator<Tensor<'float32'>> {
  const m = readManifest(dir);
  if (!m) throw new Error(`${dir}: not an activation store (no manifest.json)`);
  for (const s of m.shards) yield SafetensorsFile.open(path.join(dir, s.file)).readF32('acts');
}

/**
 * A store's shards as activation groups for training, in order and repeating
 * (epochs), starting after `startShard` shards (resuming); `rowsConsumed`
 * counts shards read.
 */
export async function* storeGroups(dir: string, hook: string, startShard = 0): AsyncGenerator<import('./activationSource.ts').ActivationGroup> {
  const m = readManifest(dir);
  if (!m) throw new Error(`${dir}: not an activation store (no manifest.json)`);
  if (m.hook !== hook) throw new Error(`${dir}: holds activations of ${m.hook}, not ${hook}`);
  if (m.shards.length === 0) throw new Error(`${dir}: the activation store is empty`);
  for (let i = startShard; ; i++) {
    const s = m.shards[i % m.shards.length];
    const t = SafetensorsFile.open(path.join(dir, s.file)).readF32('acts');
    yield { acts: { [hook]: t.data }, tokens: t.shape[0], rowsConsumed: i + 1 };
  }
}

/**
 * The rows of one safetensors file's `acts` tensor [N, dIn] as activation
 * groups of `chunk` rows, in file order, cycling past the end (as
 * torch_reference.py's train-sae reads them); `rowsConsumed` counts rows, and
 * a resumed run starts after `startRow` of them. No hook is recorded in such a
 * file: the caller names it.
 */
export async function* fileGroups(file: string, hook: string, width: number, startRow = 0, chunk = 4096): AsyncGenerator<import('./activationSource.ts').ActivationGroup> {
  const f = SafetensorsFile.open(file);
  const info = f.tensors.get('acts');
  if (!info) throw new Error(`${file}: has no tensor 'acts' (rows [N, d_in]); found ${[...f.tensors.keys()].join(', ') || 'none'}`);
  if (info.shape.length !== 2 || info.shape[0] < 1) throw new Error(`${file}: 'acts' must be [N, d_in] with N >= 1, got [${info.shape.join(', ')}]`);
  if (info.shape[1] !== width) throw new Error(`${file}: rows are ${info.shape[1]} wide but ${hook} is ${width} wide`);
  const t = f.readF32('acts');
  const [n, d] = t.shape;
  for (let row = startRow; ; ) {
    const out = new Float32Array(chunk * d);
    for (let i = 0; i < chunk; i++) {
      const r = (row + i) % n;
      out.set(t.data.subarray(r * d, (r + 1) * d), i * d);
    }
    row += chunk;
    yield { acts: { [hook]: out }, tokens: chunk, rowsConsumed: row };
  }
}

/**
 * Activations at one or more hooks, streamed from a model over packed corpus
 * rows: each forward pass runs `rowsPerPass` rows and stops at the last hook
 * needed (no logits). BOS positions are dropped by default: their
 * activations are outliers no feature should spend capacity on.
 */
import { readCorpus } from './corpus.ts';
import { packRows } from './pack.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import { numel, type Tensor } from '../tensor/tensor.ts';

/** Options of an activation source. */
export interface ActivationSourceOptions {
  /** Corpus spec (see readCorpus). */
  readonly corpus: string;
  /** Hooks to collect. */
  readonly hooks: readonly string[];
  /** Tokens per row. */
  readonly contextSize: number;
  /** Rows per forward pass (default 8). */
  readonly rowsPerPass?: number;
  /** Keep BOS positions (default false). */
  readonly keepBos?: boolean;
  /** Packed rows already consumed (resuming). */
  readonly startRow?: number;
  /** Stop before this packed row (one shard of a distributed collection; first epoch only). */
  readonly endRow?: number;
  /** Passes over the corpus before it ends (default 1; Infinity repeats forever). */
  readonly epochs?: number;
}

/** One pass's activations per hook, [n, dIn] flattened, plus how far the source has read. */
export interface ActivationGroup {
  /** Activations by hook. */
  readonly acts: Readonly<Record<string, Float32Array>>;
  /** Tokens (rows x positions kept). */
  readonly tokens: number;
  /** Packed rows consumed so far, counted across epochs. */
  readonly rowsConsumed: number;
}

/** Streams activation groups. */
export async function* activationGroups(model: HookedModel, o: ActivationSourceOptions): AsyncGenerator<ActivationGroup> {
  if (!model.tokenizer) throw new Error(`${model.name}: has no tokenizer, so it cannot read a text corpus`);
  const hooks = model.resolveHooks(o.hooks).map((h) => h.name);
  const perPass = o.rowsPerPass ?? 8;
  const epochs = o.epochs ?? 1;
  let consumed = o.startRow ?? 0;
  const rowsPerEpoch = await countRows(model, o);
  if (rowsPerEpoch === 0) throw new Error(`corpus '${o.corpus}' has fewer tokens than one row of ${o.contextSize}`);
  for (let epoch = Math.floor(consumed / rowsPerEpoch); epoch < epochs; epoch++) {
    const skip = consumed - epoch * rowsPerEpoch;
    let batch: number[][] = [];
    for await (const row of packRows(readCorpus(o.corpus), model.tokenizer, { contextSize: o.contextSize, skipRows: skip })) {
      if (consumed + batch.length >= (o.endRow ?? Infinity)) break;
      batch.push(row);
      if (batch.length === perPass) {
        consumed += batch.length;
        yield await runGroup(model, batch, hooks, o.keepBos ?? false, consumed);
        batch = [];
      }
    }
    if (batch.length) {
      consumed += batch.length;
      yield await runGroup(model, batch, hooks, o.keepBos ?? false, consumed);
    }
    if (consumed >= (o.endRow ?? Infinity)) return;
  }
}

const rowCounts = new Map<string, number>();

/** Packed rows in one pass over the corpus (cached per corpus and context). */
async function countRows(model: HookedModel, o: ActivationSourceOptions): Promise<number> {
  const key = `${model.name}\u0000${o.corpus}\u0000${o.contextSize}`;
  let n = rowCounts.get(key);
  if (n === undefined) {
    n = 0;
    for await (const _ of packRows(readCorpus(o.corpus), model.tokenizer!, { contextSize: o.contextSize })) n++;
    rowCounts.set(key, n);
  }
  return n;
}

async function runGroup(model: HookedModel, rows: number[][], hooks: string[], keepBos: boolean, consumed: number): Promise<ActivationGroup> {
  const res = await model.run(rows, { cache: hooks, logits: 'none' });
  const keep = keptPositions(rows, keepBos ? undefined : model.tokenizer?.bosId);
  const acts: Record<string, Float32Array> = {};
  for (const h of hooks) acts[h] = gatherPositions(res.cache[h], keep);
  return { acts, tokens: keep.length, rowsConsumed: consumed };
}

/** Flat positions (b * T + t) of a rectangular batch, leaving out the `skip` token (BOS). */
export function keptPositions(rows: readonly (readonly number[])[], skip?: number): number[] {
  const keep: number[] = [];
  rows.forEach((r, b) => r.forEach((t, i) => {
    if (t !== skip) keep.push(b * r.length + i);
  }));
  return keep;
}

/** A hook's activations [batch, pos, ...] at the given flat positions, as [keep.length, width]. */
export function gatherPositions(t: Tensor<'float32'>, keep: readonly number[]): Float32Array {
  const d = numel(t.shape.slice(2));
  const out = new Float32Array(keep.length * d);
  keep.forEach((p, i) => out.set(t.data.subarray(p * d, (p + 1) * d), i * d));
  return out;
}

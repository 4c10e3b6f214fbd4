/**
 * Batches for evaluation and analysis: packed corpus rows run through the
 * model with the hook cached and full logits, plus the hook's activations at
 * the non-BOS positions (`keep` holds their flat positions in the batch).
 */
import { readCorpus } from '../../data/corpus.ts';
import { packRows } from '../../data/pack.ts';
import { gatherPositions, keptPositions } from '../../data/activationSource.ts';
import type { HookedModel, RunResult } from '../../model/hookedModel.ts';

/** One evaluated batch. */
export interface RowBatch {
  readonly rows: number[][];
  /** The clean run: logits and the hook's activation. */
  readonly clean: RunResult;
  /** Activations at kept positions [keep.length, dIn]. */
  readonly acts: Float32Array;
  /** Flat positions (b * T + t) of the kept tokens. */
  readonly keep: number[];
}

/** Streams batches until `tokens` kept positions have been read. */
export async function* activationRows(model: HookedModel, o: { corpus: string; hook: string; tokens: number; contextSize: number; rowsPerPass?: number; skipRows?: number; alsoCache?: readonly string[] }): AsyncGenerator<RowBatch> {
  if (!model.tokenizer) throw new Error(`${model.name}: has no tokenizer, so it cannot read a text corpus`);
  const per = o.rowsPerPass ?? 8;
  let seen = 0;
  let rows: number[][] = [];
  const flush = async (): Promise<RowBatch> => {
    const clean = await model.run(rows, { cache: [o.hook, ...(o.alsoCache ?? [])] });
    const keep = keptPositions(rows, model.tokenizer!.bosId);
    const out = { rows, clean, acts: gatherPositions(clean.cache[o.hook], keep), keep };
    seen += keep.length;
    rows = [];
    return out;
  };
  for await (const row of packRows(readCorpus(o.corpus), model.tokenizer, { contextSize: o.contextSize, skipRows: o.skipRows })) {
    rows.push(row);
    if (rows.length === per) {
      yield await flush();
      if (seen >= o.tokens) return;
    }
  }
  if (rows.length) yield await flush();
}

/**
 * Tokenizes documents and packs them into rows of exactly `contextSize`
 * tokens, as SAELens's token source does: every row starts with BOS (when the
 * model uses one) and documents are joined with BOS as the separator, so a
 * row may hold the end of one document and the start of the next.
 */
import type { TextTokenizer } from '../tokenizer/types.ts';

/** Options of `packRows`. */
export interface PackOptions {
  /** Tokens per row, BOS included. */
  readonly contextSize: number;
  /** Begin each row with BOS (default true when the tokenizer has one). */
  readonly prependBos?: boolean;
  /** Rows to skip first (resuming); they are tokenized but not yielded. */
  readonly skipRows?: number;
}

/** Streams packed rows of token ids. */
export async function* packRows(docs: AsyncIterable<string>, tok: TextTokenizer, o: PackOptions): AsyncGenerator<number[]> {
  const bos = (o.prependBos ?? true) ? tok.bosId : undefined;
  const body = o.contextSize - (bos === undefined ? 0 : 1);
  if (body < 1) throw new Error(`context size ${o.contextSize} leaves no room for tokens`);
  let skip = o.skipRows ?? 0;
  let pending: number[] = [];
  let first = true;
  for await (const doc of docs) {
    if (!first && bos !== undefined) pending.push(bos);
    first = false;
    for (const t of tok.encode(doc, { bos: false })) pending.push(t);
    while (pending.length >= body) {
      const row = pending.slice(0, body);
      pending = pending.slice(body);
      if (skip > 0) {
        skip--;
        continue;
      }
      yield bos === undefined ? row : [bos, ...row];
    }
  }
}

/**
 * Tokenizes documents and packs them into rows of exactly `contextSize`
 * tokens, as SAELens's token source does: every row starts with BOS (when the
 * model uses one) and documents are joined with BOS as the separator, so a
 * row may hold the end of one document and the start of the next.
 */
import type { TextTokenizer } from '../tokenizer/types.ts';

/** Characters tokenized at once: longer documents are cut at whitespace into pieces of at most this many. */
export const CHUNK_CHARS = 32_768;
/** Longest document read (characters); the rest is dropped with a notice. */
export const MAX_DOC_CHARS = 10_000_000;

/** Options of `packRows`. */
export interface PackOptions {
  /** Tokens per row, BOS included. */
  readonly contextSize: number;
  /** Begin each row with BOS (default true when the tokenizer has one). */
  readonly prependBos?: boolean;
  /** Rows to skip first (resuming); they are tokenized but not yielded. */
  readonly skipRows?: number;
  /** Told when a document is cut at MAX_DOC_CHARS. */
  readonly onNotice?: (message: string) => void;
}

/**
 * A document's text in pieces of at most CHUNK_CHARS characters, each cut
 * just after a whitespace when there is one in its last quarter (so words
 * are not split), for tokenizing a long document without holding all of its
 * tokenization at once.
 */
export function* textChunks(doc: string): Generator<string> {
  for (let i = 0; i < doc.length;) {
    let end = Math.min(doc.length, i + CHUNK_CHARS);
    if (end < doc.length) {
      const cut = doc.lastIndexOf(' ', end - 1);
      const nl = doc.lastIndexOf('\n', end - 1);
      const at = Math.max(cut, nl);
      if (at > i + (3 * CHUNK_CHARS) / 4) end = at + 1;
    }
    yield doc.slice(i, end);
    i = end;
  }
}

/** Streams packed rows of token ids. */
export async function* packRows(docs: AsyncIterable<string>, tok: TextTokenizer, o: PackOptions): AsyncGenerator<number[]> {
  const bos = (o.prependBos ?? true) ? tok.bosId : undefined;
  const body = o.contextSize - (bos === undefined ? 0 : 1);
  if (body < 1) throw new Error(`context size ${o.contextSize} leaves no room for tokens`);
  let skip = o.skipRows ?? 0;
  let pending: number[] = [];
  let first = true;
  let index = 0;
  for await (let doc of docs) {
    if (doc.length > MAX_DOC_CHARS) {
      o.onNotice?.(`document ${index} has ${doc.length} characters; only the first ${MAX_DOC_CHARS} are read`);
      doc = doc.slice(0, MAX_DOC_CHARS);
    }
    index++;
    if (!first && bos !== undefined) pending.push(bos);
    first = false;
    for (const piece of doc.length > CHUNK_CHARS ? textChunks(doc) : [doc]) {
      for (const t of tok.encode(piece, { bos: false })) pending.push(t);
      let used = 0;
      for (; pending.length - used >= body; used += body) {
        if (skip > 0) {
          skip--;
          continue;
        }
        const row = pending.slice(used, used + body);
        yield bos === undefined ? row : [bos, ...row];
      }
      if (used) pending = pending.slice(used);
    }
  }
}

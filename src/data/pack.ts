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

/** The documents as read for packing: each cut at MAX_DOC_CHARS (with a notice) and split into tokenizable pieces. */
async function* documentPieces(docs: AsyncIterable<string>, onNotice?: (message: string) => void): AsyncGenerator<{ doc: number; text: string; pieces: Iterable<string> }> {
  let index = 0;
  for await (let doc of docs) {
    if (doc.length > MAX_DOC_CHARS) {
      onNotice?.(`document ${index} has ${doc.length} characters; only the first ${MAX_DOC_CHARS} are read`);
      doc = doc.slice(0, MAX_DOC_CHARS);
    }
    yield { doc: index++, text: doc, pieces: doc.length > CHUNK_CHARS ? textChunks(doc) : [doc] };
  }
}

function bodyOf(tok: TextTokenizer, o: PackOptions): { bos: number | undefined; body: number } {
  const bos = (o.prependBos ?? true) ? tok.bosId : undefined;
  const body = o.contextSize - (bos === undefined ? 0 : 1);
  if (body < 1) throw new Error(`context size ${o.contextSize} leaves no room for tokens`);
  return { bos, body };
}

/** Streams packed rows of token ids. */
export async function* packRows(docs: AsyncIterable<string>, tok: TextTokenizer, o: PackOptions): AsyncGenerator<number[]> {
  const { bos, body } = bodyOf(tok, o);
  let skip = o.skipRows ?? 0;
  let pending: number[] = [];
  let first = true;
  for await (const { pieces } of documentPieces(docs, o.onNotice)) {
    if (!first && bos !== undefined) pending.push(bos);
    first = false;
    for (const piece of pieces) {
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

/** Where a packed token came from: its document (0-based, in corpus order), the token's index in it, and the document's text. */
export interface PackedOrigin {
  readonly doc: number;
  readonly token: number;
  readonly text: string;
  /** The document's tokens, as packing encoded them (no BOS or separator). */
  readonly ids: readonly number[];
}

/**
 * Finds the documents that packed tokens (row, position) came from, by
 * replaying `packRows` with the same options over the same documents.
 * Positions on a row's BOS or on the BOS between two documents belong to no
 * document (null). Reading stops once every position is placed.
 */
export async function locatePacked(docs: AsyncIterable<string>, tok: TextTokenizer, o: PackOptions, at: readonly { row: number; pos: number }[]): Promise<(PackedOrigin | null)[]> {
  const { bos, body } = bodyOf(tok, o);
  const lead = bos === undefined ? 0 : 1;
  // Each position's index in the stream of document tokens joined by separators (what packRows cuts into rows).
  const stream = at.map(({ row, pos }) => {
    if (!Number.isInteger(row) || row < 0 || !Number.isInteger(pos) || pos < 0 || pos >= o.contextSize) throw new Error(`position (row ${row}, pos ${pos}) is not in a packed row of ${o.contextSize} tokens`);
    return pos < lead ? -1 : row * body + pos - lead;
  });
  const out: (PackedOrigin | null)[] = at.map(() => null);
  let left = stream.filter((s) => s >= 0).length;
  let start = 0;
  for await (const { doc, text, pieces } of documentPieces(docs)) {
    if (left === 0) break;
    // A long replay leaves the event loop free between documents now and then (a server answers other requests meanwhile).
    if (doc % 256 === 255) await new Promise((r) => setTimeout(r, 0));
    if (doc > 0 && bos !== undefined) start++;
    const ids: number[] = [];
    for (const piece of pieces) for (const id of tok.encode(piece, { bos: false })) ids.push(id);
    const n = ids.length;
    stream.forEach((s, i) => {
      if (s >= start && s < start + n) {
        out[i] = { doc, token: s - start, text, ids };
        left--;
      }
    });
    start += n;
  }
  return out;
}

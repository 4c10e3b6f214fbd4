/** The tokenizer interface every model exposes, whatever the tokenizer format. */
export interface TextTokenizer {
  /** Vocabulary size, including added tokens. */
  readonly vocabSize: number;
  /** Beginning-of-sequence id, when the model uses one. */
  readonly bosId?: number;
  /** End-of-sequence id, when the model has one. */
  readonly eosId?: number;
  /** Token ids for `text`; with `bos`, BOS leads exactly once (as the model expects). */
  encode(text: string, opts?: { bos?: boolean }): number[];
  /** Text for ids, special tokens skipped unless asked. */
  decode(ids: readonly number[], opts?: { skipSpecial?: boolean }): string;
  /** The vocabulary string of one id (for display), or undefined if out of range. */
  idToToken(id: number): string | undefined;
}

/** Per-token display strings: each token's share of the decoded text. */
export function tokenPieces(tok: TextTokenizer, ids: readonly number[]): string[] {
  const out: string[] = [];
  let prev = '';
  for (let i = 0; i < ids.length; i++) {
    const text = tok.decode(ids.slice(0, i + 1), { skipSpecial: false });
    out.push(text.startsWith(prev) ? text.slice(prev.length) : (tok.idToToken(ids[i]) ?? ''));
    prev = text;
  }
  return out;
}

/**
 * Splitting a corpus into shards for a distributed scan: the packed rows a
 * one-process scan of `tokens` tokens would read, cut into contiguous row
 * ranges. Shards are deterministic (a function of the corpus, the tokenizer,
 * the context size and the token count), so a retried shard reads the same
 * tokens, and their merged results equal the one-process scan's.
 */
import { readCorpus } from '../data/corpus.ts';
import { packRows } from '../data/pack.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';

/** One shard: packed rows [start, end) and the tokens (non-BOS positions) it scans. */
export interface Shard {
  readonly index: number;
  readonly start: number;
  readonly end: number;
  readonly tokens: number;
}

/**
 * Tokenizes (without running any model) until `tokens` non-BOS tokens are
 * covered, as the scan counts them, and cuts those rows into `n` shards of
 * nearly equal row counts. The last row may be read only in part.
 */
export async function planShards(corpus: string | readonly string[], tok: TextTokenizer, contextSize: number, tokens: number, n: number): Promise<Shard[]> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`--shards must be a whole number >= 1 (got ${n})`);
  const perRow: number[] = [];
  let total = 0;
  for await (const row of packRows(readCorpus(corpus), tok, { contextSize })) {
    if (total >= tokens) break;
    let c = 0;
    for (const t of row) if (t !== tok.bosId) c++;
    c = Math.min(c, tokens - total);
    perRow.push(c);
    total += c;
  }
  if (total === 0) throw new Error(`the corpus has no row of ${contextSize} tokens to scan`);
  const shards: Shard[] = [];
  const k = Math.min(n, perRow.length);
  for (let i = 0; i < k; i++) {
    const start = Math.floor((i * perRow.length) / k);
    const end = Math.floor(((i + 1) * perRow.length) / k);
    shards.push({ index: i, start, end, tokens: perRow.slice(start, end).reduce((a, b) => a + b, 0) });
  }
  return shards;
}

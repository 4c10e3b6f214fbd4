/**
 * An example expanded to its whole document: packed rows mix documents, so
 * the packing is replayed over the scan's corpus to find the document the
 * example fired in; the example's window keeps its activations, placed at
 * its offset in the document, and the rest of the document is shown as text
 * (those tokens were read by the scan in other rows, where this feature's
 * activations were not kept).
 */
import { readCorpus } from '../data/corpus.ts';
import { locatePacked } from '../data/pack.ts';
import { tokenPieces, type TextTokenizer } from '../tokenizer/types.ts';
import type { ExampleView, FeatureDashboard } from './dashboard.ts';

/** An example in its document. */
export interface ExampleDocument {
  /** The document's index in the corpus (as the scan read it). */
  readonly doc: number;
  /** Tokens in the document (as packing encoded it). */
  readonly total: number;
  /** Document token index of `tokens[0]` (above 0 when a long document was cut to `maxTokens`). */
  readonly first: number;
  readonly tokens: string[];
  /** The feature's activation where the example's window covers the token, else null (not kept by the scan). */
  readonly acts: (number | null)[];
  /** Index in `tokens` of the token the example fired on. */
  readonly focus: number;
}

/** Longest stretch of a document returned around an example (tokens). */
export const DOCUMENT_TOKENS = 4096;

/**
 * The document an example of a dashboard came from, or null when the example
 * sits on a row's leading BOS (no document) or past the corpus's end (the
 * corpus changed since the scan). `source` is the dashboard's.
 */
export async function exampleDocument(tok: TextTokenizer, source: NonNullable<FeatureDashboard['source']>, e: ExampleView, maxTokens = DOCUMENT_TOKENS): Promise<ExampleDocument | null> {
  const [o] = await locatePacked(readCorpus(source.corpus), tok, { contextSize: source.contextSize }, [e]);
  if (!o) return null;
  const total = o.ids.length;
  // A window of at most maxTokens around the firing token.
  const first = Math.max(0, Math.min(o.token - (maxTokens >> 1), total - maxTokens));
  const ids = o.ids.slice(first, first + maxTokens);
  const acts: (number | null)[] = ids.map(() => null);
  // The example's window token i sits at document token o.token + (i - focus).
  e.acts.forEach((a, i) => {
    const at = o.token + i - e.focus - first;
    if (at >= 0 && at < ids.length) acts[at] = a;
  });
  return { doc: o.doc, total, first, tokens: tokenPieces(tok, ids), acts, focus: o.token - first };
}

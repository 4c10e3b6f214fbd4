/**
 * Examples as the explainer and scorers see them, in the style of Bills et
 * al. (2023) and EleutherAI's delphi: text with the activating tokens marked
 * <<like this>>, optionally followed by the activations.
 */
import type { ExampleView } from '../analysis/dashboard.ts';

/** Tokens are activating when above this fraction of the example's max (delphi marks every nonzero one). */
const MARK = 0;

/** Text with marked tokens: `marks[i]` says whether token i is marked. */
export function markedText(tokens: readonly string[], marks: readonly boolean[]): string {
  let out = '';
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!marks[i]) out += t;
    else {
      const lead = /^\s*/.exec(t)![0];
      out += `${lead}<<${t.slice(lead.length)}>>`;
    }
  }
  return out.replace(/>><</g, '');
}

/** An activating example with its true activating tokens marked. */
export function markActivating(e: ExampleView): string {
  return markedText(e.tokens, e.acts.map((a) => a > MARK));
}

/** The activations of the marked tokens, as delphi lists them. */
export function activationList(e: ExampleView): string {
  const max = Math.max(...e.acts, 1e-12);
  return e.tokens
    .map((t, i) => ({ t, a: e.acts[i] }))
    .filter((x) => x.a > MARK)
    .map((x) => `(${JSON.stringify(x.t.trim())}, ${Math.round((10 * x.a) / max)})`)
    .join(', ');
}

/** Plain text of an example (no marks). */
export function plainText(e: ExampleView): string {
  return e.tokens.join('');
}

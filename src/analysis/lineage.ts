/**
 * Feature lineage between two SAEs on the same hook (a smaller and a larger
 * dictionary, two seeds, two training runs): each latent's closest latents in
 * the other SAE by decoder cosine, the correlation of their activations over
 * a shared corpus, and what that says: a latent of A that several latents of
 * B choose as their match has split; a latent with no match above the
 * threshold is gone (A) or new (B).
 */
import { activationGroups } from '../data/activationSource.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import type { ExplanationLog } from '../registry/types.ts';
import type { Sae } from '../sae/sae.ts';
import { crossNearest } from './weightEffects.ts';

/** One latent and its closest latent in the other SAE. */
export interface LatentMatch {
  /** Latent of A (for `matches`) or of B (for `reverse`). */
  readonly latent: number;
  /** Its closest latent in the other SAE by decoder cosine. */
  readonly match: number;
  readonly cosine: number;
  /** Pearson correlation of the two latents' activations over the corpus (null without a corpus). */
  readonly correlation: number | null;
}

/** What `matchSaes` finds. */
export interface Lineage {
  readonly hook: string;
  readonly dSaeA: number;
  readonly dSaeB: number;
  /** Decoder cosine at or above which two latents count as the same feature. */
  readonly threshold: number;
  /** Tokens the correlations were measured over (0 without a corpus). */
  readonly tokens: number;
  /** Every latent of A with its closest latent of B. */
  readonly matches: readonly LatentMatch[];
  /** Every latent of B with its closest latent of A. */
  readonly reverse: readonly LatentMatch[];
  /** Latents of A that two or more latents of B match above the threshold, with those latents. */
  readonly splits: readonly { readonly latent: number; readonly into: readonly LatentMatch[] }[];
  /** Latents of A with no latent of B above the threshold. */
  readonly gone: readonly number[];
  /** Latents of B with no latent of A above the threshold. */
  readonly added: readonly number[];
}

/** Options of `matchSaes`. */
export interface MatchOptions {
  /** Decoder cosine for a match (default 0.7). */
  readonly threshold?: number;
  /** With a model and corpus: activation correlations over this many tokens. */
  readonly model?: HookedModel;
  readonly corpus?: string;
  readonly tokens?: number;
  readonly contextSize?: number;
}

/** Pairs the latents of two SAEs on the same hook. */
export async function matchSaes(a: Sae, b: Sae, o: MatchOptions = {}): Promise<Lineage> {
  if (a.cfg.hookName !== b.cfg.hookName) {
    throw new Error(`the SAEs read different hooks (A: ${a.cfg.hookName}, B: ${b.cfg.hookName}); lineage pairs latents of SAEs on the same hook`);
  }
  if (a.cfg.dIn !== b.cfg.dIn) throw new Error(`the SAEs have different input widths (A: ${a.cfg.dIn}, B: ${b.cfg.dIn})`);
  const threshold = o.threshold ?? 0.7;
  if (!(threshold > 0 && threshold <= 1)) throw new Error(`the match threshold must be in (0, 1], got ${threshold}`);
  const ab = await crossNearest(a, b, 1);
  const ba = await crossNearest(b, a, 1);
  const corr = o.model && o.corpus ? await correlations(o.model, a, b, ab, ba, o.corpus, o.tokens ?? 20_000, o.contextSize ?? a.cfg.contextSize) : undefined;
  const pair = (i: number, j: number) => corr?.get(i * b.cfg.dSae + j) ?? null;
  const matches = ab.map((r, i) => ({ latent: i, match: r.ids[0], cosine: r.values[0], correlation: pair(i, r.ids[0]) }));
  const reverse = ba.map((r, j) => ({ latent: j, match: r.ids[0], cosine: r.values[0], correlation: pair(r.ids[0], j) }));
  const into = new Map<number, LatentMatch[]>();
  for (const r of reverse) if (r.cosine >= threshold) into.set(r.match, [...(into.get(r.match) ?? []), r]);
  const splits = [...into].filter(([, l]) => l.length >= 2).sort((x, y) => x[0] - y[0]).map(([latent, l]) => ({ latent, into: l }));
  return {
    hook: a.cfg.hookName, dSaeA: a.cfg.dSae, dSaeB: b.cfg.dSae, threshold, tokens: corr?.tokens ?? 0, matches, reverse, splits,
    gone: matches.filter((m) => m.cosine < threshold).map((m) => m.latent),
    added: reverse.filter((m) => m.cosine < threshold).map((m) => m.latent),
  };
}

/**
 * Pearson correlations, over the corpus's non-BOS tokens, of the candidate
 * pairs (each latent with its closest latent the other way), keyed
 * i * dSaeB + j. A latent that never fires correlates 0.
 */
async function correlations(model: HookedModel, a: Sae, b: Sae, ab: readonly { ids: Int32Array }[], ba: readonly { ids: Int32Array }[], corpus: string, tokens: number, contextSize: number): Promise<Map<number, number> & { tokens: number }> {
  const nA = a.cfg.dSae;
  const nB = b.cfg.dSae;
  const cand: number[][] = Array.from({ length: nA }, (_, i) => [ab[i].ids[0]]);
  ba.forEach((r, j) => {
    if (!cand[r.ids[0]].includes(j)) cand[r.ids[0]].push(j);
  });
  const sumA = new Float64Array(nA);
  const sqA = new Float64Array(nA);
  const sumB = new Float64Array(nB);
  const sqB = new Float64Array(nB);
  const cross = cand.map((c) => new Float64Array(c.length));
  const denseB = new Float32Array(nB);
  let n = 0;
  for await (const g of activationGroups(model, { corpus, hooks: [a.cfg.hookName], contextSize })) {
    const take = Math.min(g.tokens, tokens - n);
    const x = g.acts[a.cfg.hookName].subarray(0, take * a.cfg.dIn);
    const ca = await a.encode({ dtype: 'float32', shape: [take, a.cfg.dIn], data: x });
    const cb = await b.encode({ dtype: 'float32', shape: [take, b.cfg.dIn], data: x });
    for (let t = 0; t < take; t++) {
      for (let e = cb.offsets[t]; e < cb.offsets[t + 1]; e++) {
        const v = cb.values[e];
        denseB[cb.indices[e]] = v;
        sumB[cb.indices[e]] += v;
        sqB[cb.indices[e]] += v * v;
      }
      for (let e = ca.offsets[t]; e < ca.offsets[t + 1]; e++) {
        const i = ca.indices[e];
        const v = ca.values[e];
        sumA[i] += v;
        sqA[i] += v * v;
        const c = cand[i];
        for (let k = 0; k < c.length; k++) cross[i][k] += v * denseB[c[k]];
      }
      for (let e = cb.offsets[t]; e < cb.offsets[t + 1]; e++) denseB[cb.indices[e]] = 0;
    }
    n += take;
    if (n >= tokens) break;
  }
  if (n === 0) throw new Error(`'${corpus}' gave no tokens to correlate the latents over`);
  const out = new Map<number, number>() as Map<number, number> & { tokens: number };
  out.tokens = n;
  cand.forEach((c, i) => c.forEach((j, k) => {
    const ma = sumA[i] / n;
    const mb = sumB[j] / n;
    const va = sqA[i] / n - ma * ma;
    const vb = sqB[j] / n - mb * mb;
    out.set(i * nB + j, va > 0 && vb > 0 ? (cross[i][k] / n - ma * mb) / Math.sqrt(va * vb) : 0);
  }));
  return out;
}

/**
 * Copies names and explanations from A's latents to the latents of B that
 * match them at `threshold` or above (every latent of a split gets its
 * parent's): explanations as source `carried`, with where they came from
 * and the match's cosine and correlation in their scores; a name only where
 * B's latent has none, noted as carried. Heuristic names are not carried
 * (a scan of B makes its own). Returns how many latents of B got something.
 */
export function carryNames(reg: ExplanationLog, model: string, a: { readonly sae: string; readonly name: string }, saeB: string, l: Lineage, threshold = l.threshold): number {
  const saeA = a.sae;
  let carried = 0;
  for (const r of l.reverse) {
    if (r.cosine < threshold) continue;
    const from = reg.get(model, saeA, r.match);
    const expl = reg.explanations(model, saeA, r.match).filter((e) => e.source !== 'heuristic' && e.source !== 'carried');
    if (!from?.name && !expl.length) continue;
    const scores = { carriedFrom: { sae: saeA, name: a.name, feature: r.match }, cosine: r.cosine, correlation: r.correlation };
    // Carrying again replaces what an earlier carry from the same SAE wrote.
    reg.removeExplanations(model, saeB, r.latent, (e) => e.source === 'carried' && (e.scores.carriedFrom as { sae?: string } | undefined)?.sae === saeA);
    for (const e of expl) {
      reg.addExplanation(model, saeB, r.latent, { explanation: e.explanation, source: 'carried', explainerModel: e.explainerModel, promptVersion: e.promptVersion, scores: { ...scores, originalSource: e.source, originalScores: e.scores } });
    }
    const own = reg.get(model, saeB, r.latent)?.name;
    if (from?.name && !own) {
      reg.set(model, saeB, r.latent, { name: from.name, notes: `name carried from ${a.name} #${r.match} (decoder cosine ${r.cosine.toFixed(3)}${r.correlation === null ? '' : `, activation correlation ${r.correlation.toFixed(3)}`})` });
    } else if (from?.name && own !== from.name) {
      reg.addExplanation(model, saeB, r.latent, { explanation: from.name, source: 'carried', explainerModel: null, promptVersion: null, scores: { ...scores, originalSource: 'name' } });
    }
    carried++;
  }
  return carried;
}

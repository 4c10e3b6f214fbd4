/**
 * Text to features (mlxterp's get_top_features_for_text, Qwen-Scope's
 * Analyze tab): every feature's activation at every token, the top features
 * pooled over tokens (BOS skipped by default: BOS features dominate every
 * text), and the feature x token matrix normalized per row for a heatmap.
 */
import type { HookedModel } from '../model/hookedModel.ts';
import { checkSaeFitsModel } from '../sae/compat.ts';
import type { SparseCodes } from '../sae/codes.ts';
import type { Sae } from '../sae/sae.ts';
import { tokenPieces } from '../tokenizer/types.ts';

/** How token activations pool into one score per feature. */
export type Pool = 'max' | 'mean' | 'sum';

/** A feature's pooled activation over a text. */
export interface FeatureScore {
  readonly feature: number;
  /** The pooled score the ranking used. */
  readonly score: number;
  readonly max: number;
  readonly mean: number;
  readonly sum: number;
  /** Tokens where it fires. */
  readonly count: number;
}

/** What `featuresForText` returns. */
export interface TextFeatures {
  readonly ids: number[];
  /** Display string of each token. */
  readonly tokens: string[];
  /** Whether each token took part in pooling (BOS does not by default). */
  readonly pooled: boolean[];
  /** Per-token sparse codes of every feature. */
  readonly codes: SparseCodes;
  /** Top features by the pooled score. */
  readonly top: FeatureScore[];
  /** Heatmap rows (the top features) x token columns: raw and divided by each row's max. */
  readonly heatmap: { features: number[]; values: number[][]; normalized: number[][] };
}

/** Options of `featuresForText`. */
export interface TextFeatureOptions {
  readonly top?: number;
  readonly pool?: Pool;
  /** Pool over BOS too (default false). */
  readonly includeBos?: boolean;
}

/** Feature activations of a text. */
export async function featuresForText(model: HookedModel, sae: Sae, text: string, o: TextFeatureOptions = {}): Promise<TextFeatures> {
  if (typeof text !== 'string' || text.trim().length === 0) throw new Error('the text is empty: give some text to analyze');
  checkSaeFitsModel(sae, model);
  const pool = o.pool ?? 'max';
  if (!['max', 'mean', 'sum'].includes(pool)) throw new Error(`pool must be max, mean or sum, got '${pool}'`);
  const hook = model.resolveHooks([sae.cfg.hookName])[0].name;
  const ids = model.toTokens(text)[0];
  const res = await model.run([ids], { cache: [hook], logits: 'none' });
  const codes = await sae.encode({ dtype: 'float32', shape: [ids.length, sae.cfg.dIn], data: res.cache[hook].data });
  const bos = model.tokenizer?.bosId;
  const pooled = ids.map((t, i) => o.includeBos === true || !(i === 0 && t === bos));
  const n = pooled.filter(Boolean).length;
  if (n === 0) throw new Error('the text has no tokens besides BOS');
  const agg = new Map<number, { max: number; sum: number; count: number }>();
  for (let p = 0; p < ids.length; p++) {
    if (!pooled[p]) continue;
    for (let e = codes.offsets[p]; e < codes.offsets[p + 1]; e++) {
      const a = agg.get(codes.indices[e]) ?? { max: 0, sum: 0, count: 0 };
      const v = codes.values[e];
      a.max = Math.max(a.max, v);
      a.sum += v;
      a.count++;
      agg.set(codes.indices[e], a);
    }
  }
  const scored = [...agg].map(([feature, a]) => {
    const mean = a.sum / n;
    return { feature, max: a.max, mean, sum: a.sum, count: a.count, score: pool === 'max' ? a.max : pool === 'mean' ? mean : a.sum };
  });
  const top = scored.sort((a, b) => b.score - a.score || a.feature - b.feature).slice(0, o.top ?? 10);
  const values = top.map((f) => ids.map((_, p) => activationAt(codes, p, f.feature)));
  const normalized = values.map((row) => {
    const m = Math.max(...row.filter((_, p) => pooled[p]), 1e-12);
    return row.map((v, p) => (pooled[p] ? v / m : 0));
  });
  const tokens = model.tokenizer ? tokenPieces(model.tokenizer, ids) : ids.map(String);
  return { ids, tokens, pooled, codes, top, heatmap: { features: top.map((f) => f.feature), values, normalized } };
}

/** A feature's activation at one position (0 when inactive). */
export function activationAt(codes: SparseCodes, p: number, f: number): number {
  for (let e = codes.offsets[p]; e < codes.offsets[p + 1]; e++) if (codes.indices[e] === f) return codes.values[e];
  return 0;
}

/** Every active feature at each token, strongest first (what a click on a token lists, beyond the heatmap's rows). */
export function activeByToken(codes: SparseCodes): { feature: number; act: number }[][] {
  return Array.from({ length: codes.n }, (_, t) => {
    const out: { feature: number; act: number }[] = [];
    for (let p = codes.offsets[t]; p < codes.offsets[t + 1]; p++) if (codes.values[p] > 0) out.push({ feature: codes.indices[p], act: codes.values[p] });
    return out.sort((a, b) => b.act - a.act);
  });
}

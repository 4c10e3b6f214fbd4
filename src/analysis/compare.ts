/**
 * Comparisons. Two texts: each feature's pooled activation in each and the
 * difference A - B (text 1 minus text 2), ranked (Qwen-Scope's Compare table). Two corpora: each
 * feature's density and mean activation per token in each, the difference,
 * a standardized effect size over rows, and a bootstrap confidence interval
 * (resampling rows) for the features with the largest effects.
 */
import { readCorpus } from '../data/corpus.ts';
import { packRows } from '../data/pack.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import { checkSaeFitsModel } from '../sae/compat.ts';
import type { Sae } from '../sae/sae.ts';
import { Rng } from '../tensor/random.ts';
import { featuresForText, type Pool } from './textFeatures.ts';

/** One row of the two-text comparison. */
export interface TextDiff {
  readonly feature: number;
  readonly a: number;
  readonly b: number;
  /** a - b: text 1 minus text 2. */
  readonly diff: number;
}

/** Features ranked by |activation in A - activation in B| (pooled per text); diff is A - B. */
export async function compareTexts(model: HookedModel, sae: Sae, a: string, b: string, o: { pool?: Pool; top?: number } = {}): Promise<TextDiff[]> {
  const all = sae.cfg.dSae;
  const [fa, fb] = [await featuresForText(model, sae, a, { pool: o.pool, top: all }), await featuresForText(model, sae, b, { pool: o.pool, top: all })];
  const sa = new Map(fa.top.map((f) => [f.feature, f.score]));
  const sb = new Map(fb.top.map((f) => [f.feature, f.score]));
  const rows = [...new Set([...sa.keys(), ...sb.keys()])].map((feature) => {
    const x = sa.get(feature) ?? 0;
    const y = sb.get(feature) ?? 0;
    return { feature, a: x, b: y, diff: x - y };
  });
  return rows.sort((p, q) => Math.abs(q.diff) - Math.abs(p.diff) || p.feature - q.feature).slice(0, o.top ?? 20);
}

/** One row of the two-corpus comparison. */
export interface CorpusDiff {
  readonly feature: number;
  readonly densityA: number;
  readonly densityB: number;
  /** Mean activation per token (zeros included). */
  readonly meanA: number;
  readonly meanB: number;
  /** meanA - meanB: corpus A minus corpus B. */
  readonly diff: number;
  /** diff over the pooled standard deviation of per-row means (Cohen's d over rows). */
  readonly effectSize: number;
  /** 95% bootstrap interval of diff (rows resampled), for the top features. */
  readonly ci?: readonly [number, number];
}

interface CorpusStats {
  tokens: number;
  fired: Float64Array;
  sums: Float64Array;
  /** Per row: feature -> (sum of activations, tokens in the row). */
  rows: { sums: Map<number, number>; tokens: number }[];
}

async function corpusStats(model: HookedModel, sae: Sae, corpus: string, tokens: number, ctx: number): Promise<CorpusStats> {
  const hook = model.resolveHooks([sae.cfg.hookName])[0].name;
  const st: CorpusStats = { tokens: 0, fired: new Float64Array(sae.cfg.dSae), sums: new Float64Array(sae.cfg.dSae), rows: [] };
  const bos = model.tokenizer!.bosId;
  let batch: number[][] = [];
  const flush = async () => {
    const res = await model.run(batch, { cache: [hook], logits: 'none' });
    const T = batch[0].length;
    const codes = await sae.encode({ dtype: 'float32', shape: [batch.length * T, sae.cfg.dIn], data: res.cache[hook].data });
    batch.forEach((row, b) => {
      const r = { sums: new Map<number, number>(), tokens: 0 };
      for (let t = 0; t < T && st.tokens < tokens; t++) {
        if (row[t] === bos) continue;
        st.tokens++;
        r.tokens++;
        const p = b * T + t;
        for (let e = codes.offsets[p]; e < codes.offsets[p + 1]; e++) {
          const f = codes.indices[e];
          st.fired[f]++;
          st.sums[f] += codes.values[e];
          r.sums.set(f, (r.sums.get(f) ?? 0) + codes.values[e]);
        }
      }
      if (r.tokens) st.rows.push(r);
    });
    batch = [];
  };
  for await (const row of packRows(readCorpus(corpus), model.tokenizer!, { contextSize: ctx })) {
    batch.push(row);
    if (batch.length === 16) await flush();
    if (st.tokens >= tokens) break;
  }
  if (batch.length && st.tokens < tokens) await flush();
  if (st.tokens === 0) throw new Error(`corpus '${corpus}' gave no tokens`);
  return st;
}

/** Compares feature usage between two corpora. */
export async function compareCorpora(model: HookedModel, sae: Sae, corpusA: string, corpusB: string, o: { tokens?: number; top?: number; resamples?: number; seed?: number; contextSize?: number } = {}): Promise<CorpusDiff[]> {
  checkSaeFitsModel(sae, model);
  if (!model.tokenizer) throw new Error(`${model.name}: has no tokenizer, so it cannot read a text corpus`);
  const tokens = o.tokens ?? 20000;
  const ctx = o.contextSize ?? sae.cfg.contextSize;
  const A = await corpusStats(model, sae, corpusA, tokens, ctx);
  const B = await corpusStats(model, sae, corpusB, tokens, ctx);
  const rowMeans = (s: CorpusStats, f: number) => s.rows.map((r) => (r.sums.get(f) ?? 0) / r.tokens);
  const rows: CorpusDiff[] = [];
  for (let f = 0; f < sae.cfg.dSae; f++) {
    if (A.fired[f] === 0 && B.fired[f] === 0) continue;
    const meanA = A.sums[f] / A.tokens;
    const meanB = B.sums[f] / B.tokens;
    const sd = Math.sqrt((variance(rowMeans(A, f)) + variance(rowMeans(B, f))) / 2);
    rows.push({ feature: f, densityA: A.fired[f] / A.tokens, densityB: B.fired[f] / B.tokens, meanA, meanB, diff: meanA - meanB, effectSize: sd > 0 ? (meanA - meanB) / sd : 0 });
  }
  rows.sort((p, q) => Math.abs(q.effectSize) - Math.abs(p.effectSize) || Math.abs(q.diff) - Math.abs(p.diff));
  const top = rows.slice(0, o.top ?? 20);
  const rng = new Rng(o.seed ?? 0);
  return top.map((r) => ({ ...r, ci: bootstrap(A, B, r.feature, o.resamples ?? 200, rng) }));
}

/** 95% percentile interval of meanB - meanA with rows resampled with replacement. */
function bootstrap(A: CorpusStats, B: CorpusStats, f: number, n: number, rng: Rng): [number, number] {
  const sample = (s: CorpusStats) => {
    let sum = 0, tok = 0;
    for (let i = 0; i < s.rows.length; i++) {
      const r = s.rows[rng.int(s.rows.length)];
      sum += r.sums.get(f) ?? 0;
      tok += r.tokens;
    }
    return sum / tok;
  };
  const diffs = Array.from({ length: n }, () => sample(A) - sample(B)).sort((x, y) => x - y);
  return [diffs[Math.floor(0.025 * (n - 1))], diffs[Math.ceil(0.975 * (n - 1))]];
}

function variance(x: number[]): number {
  const m = x.reduce((a, b) => a + b, 0) / x.length;
  return x.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, x.length - 1);
}

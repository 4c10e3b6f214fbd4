/**
 * Feature dashboards in Neuronpedia's shape, assembled from a scan and the
 * SAE's weights: density, activation histogram, top and quantile examples
 * (tokens with this feature's activation at each), logit effects and the
 * nearest features.
 */
import { absoluteCorpus } from '../data/corpus.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import type { Sae } from '../sae/sae.ts';
import { tokenPieces } from '../tokenizer/types.ts';
import type { Example } from './examples.ts';
import type { ScanResult } from './scan.ts';
import { logitEffects, nearestFeatures, type Ranked } from './weightEffects.ts';

/** An example as shown: token strings with activations, the firing token at `focus`. */
export interface ExampleView {
  readonly act: number;
  readonly row: number;
  readonly pos: number;
  readonly focus: number;
  readonly tokens: string[];
  readonly ids: number[];
  readonly acts: number[];
}

/** One feature's dashboard. */
export interface FeatureDashboard {
  readonly feature: number;
  /** Fraction of scanned tokens where the feature fires. */
  readonly density: number;
  readonly count: number;
  readonly maxAct: number;
  /** Mean activation over the tokens where it fires. */
  readonly meanAct: number;
  readonly histogram: { edges: number[]; counts: number[] };
  readonly top: ExampleView[];
  /**
   * Activation intervals: their firing counts, a few examples with context,
   * and a larger uniform sample of the tokens they fired on (for the
   * conditional distribution; absent in dashboards from before it existed).
   */
  readonly quantiles: { lo: number; hi: number; count: number; examples: ExampleView[]; tokens?: { id: number; token: string; act: number }[] }[];
  readonly logits: { positive: { token: string; id: number; value: number }[]; negative: { token: string; id: number; value: number }[] };
  readonly neighbors: { feature: number; cosine: number }[];
  /** Random contexts where the feature is inactive throughout (for scoring explanations). */
  readonly negatives: ExampleView[];
  /** The corpus the scan read (its spec) and its packed row length: examples expand to their documents from it (absent for scans of in-memory texts). */
  readonly source?: { readonly corpus: string; readonly contextSize: number };
}

/** Dashboards for the given features (all by default). */
export async function buildDashboards(model: HookedModel, sae: Sae, s: ScanResult, features?: readonly number[]): Promise<Map<number, FeatureDashboard>> {
  const which = features ?? s.features.map((_, i) => i);
  for (const f of which) if (!Number.isInteger(f) || f < 0 || f >= sae.cfg.dSae) throw new Error(`feature ${f} is out of range [0, ${sae.cfg.dSae})`);
  const residual = sae.cfg.dIn === model.spec.dModel;
  const logits = residual ? await logitEffects(model, sae) : undefined;
  const near = await nearestFeatures(sae);
  const tok = model.tokenizer;
  const view = (e: Example): ExampleView => {
    const ids = [...e.ids];
    return { act: e.act, row: e.row, pos: e.pos, focus: e.pos - e.start, tokens: tok ? tokenPieces(tok, ids) : ids.map(String), ids, acts: [...e.acts] };
  };
  const named = (r: Ranked) => [...r.ids].map((id, i) => ({ token: tok?.decode([id], { skipSpecial: false }) ?? String(id), id, value: r.values[i] }));
  const { corpus, contextSize } = s.options;
  // A file corpus is kept as an absolute path: a server started elsewhere reads the same file.
  const source = typeof corpus === 'string' && typeof contextSize === 'number' ? { corpus: absoluteCorpus(corpus), contextSize } : undefined;
  const out = new Map<number, FeatureDashboard>();
  for (const f of which) {
    const st = s.features[f];
    out.set(f, {
      feature: f,
      density: st.count / s.tokens,
      count: st.count,
      maxAct: st.max,
      meanAct: st.count ? st.sum / st.count : 0,
      histogram: { edges: st.histEdges(), counts: [...st.hist] },
      top: st.top.sorted().map(view),
      quantiles: st.quantiles().map((q) => ({
        ...q, examples: q.examples.map(view),
        tokens: q.tokens.filter((t) => t.id >= 0).map((t) => ({ id: t.id, token: tok ? tokenPieces(tok, [t.id])[0] : String(t.id), act: t.act })),
      })),
      logits: logits ? { positive: named(logits.positive[f]), negative: named(logits.negative[f]) } : { positive: [], negative: [] },
      neighbors: [...near[f].ids].map((id, i) => ({ feature: id, cosine: near[f].values[i] })),
      negatives: s.contexts.filter((c) => !binaryHas(c.active, f)).slice(0, 20).map((c) => view({ act: 0, row: c.row, pos: c.pos, start: c.start, ids: [...c.ids], acts: new Array<number>(c.ids.length).fill(0) })),
      ...(source ? { source } : {}),
    });
  }
  return out;
}

function binaryHas(sorted: Int32Array, x: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if (sorted[m] === x) return true;
    if (sorted[m] < x) lo = m + 1;
    else hi = m - 1;
  }
  return false;
}

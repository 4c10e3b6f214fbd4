/**
 * Steering, described and compared with the feature's explanation (the
 * semantic-progression study): each steered output of a sweep goes to the LLM
 * beside the unsteered one ("what changed?"); the descriptions name the
 * behavioural stages (consecutive magnitudes stay in one stage while their
 * descriptions stay similar), and each description is compared with the
 * feature's explanation by the cosine similarity of their embeddings. Per
 * feature, the mean of those similarities is its consistency; across features
 * the sweep's robustness-vs-density Spearman test is reported beside it.
 */
import type { ExplanationLog, RecordKeys, SteeringDescription } from '../registry/types.ts';
import type { SweepResult } from '../steering/sweep.ts';
import { spearman } from '../steering/spearman.ts';
import { cosine, type Embedder } from './embeddings.ts';
import type { LlmClient } from './llmClient.ts';
import { describeSteeringChange } from './steeringChange.ts';

/** One steered output and what the LLM said changed. */
export interface DescribedRecord extends SteeringDescription {
  /** Index of the prompt in the sweep. */
  readonly promptIndex: number;
}

/** A run of consecutive magnitudes whose descriptions stay alike. */
export interface DescribedStage {
  /** First and last magnitude of the stage. */
  readonly from: number;
  readonly to: number;
  /** The stage's name: its first description. */
  readonly name: string;
}

/** Per feature and prompt: the stages the descriptions mark. */
export interface DescribedProgression {
  readonly feature: number;
  readonly prompt: number;
  readonly stages: readonly DescribedStage[];
}

/** Per feature. */
export interface DescribedFeature {
  readonly feature: number;
  /** The explanation compared against, or null when the feature has none. */
  readonly explanation: string | null;
  /** Mean similarity of the feature's descriptions to its explanation; null without an explanation. */
  readonly consistency: number | null;
  /** Descriptions measured. */
  readonly n: number;
  /** Mean number of described stages over prompts. */
  readonly meanStages: number;
}

/** What `describeSweep` returns. */
export interface DescribedSweep {
  /** `endpoint:<model>` or `lexical` (the fallback: word overlap, not embeddings). */
  readonly method: string;
  readonly records: readonly DescribedRecord[];
  readonly progressions: readonly DescribedProgression[];
  readonly features: readonly DescribedFeature[];
  /** Mean consistency over features with an explanation. */
  readonly meanConsistency: number | null;
  /** The sweep's robustness (breakpoint) against density, as the sweep computed it. */
  readonly robustnessVsDensity: SweepResult['robustnessVsDensity'];
  /** Consistency against density across features. */
  readonly consistencyVsDensity: { rho: number; p: number; n: number };
}

/** Options of `describeSweep`. */
export interface DescribeOptions {
  readonly client: LlmClient;
  readonly embedder: Embedder;
  /** Explanations by feature; features absent here are looked up in the registry. */
  readonly explanations?: ReadonlyMap<number, string>;
  /** Where descriptions are stored (and explanations found). */
  readonly registry?: ExplanationLog;
  /** The model's and SAE's identities in the registry. */
  readonly keys?: RecordKeys;
  /** Consecutive descriptions with at least this similarity share a stage (default 0.8 for endpoint embeddings, 0.5 lexical). */
  readonly stageThreshold?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Describes every steered output of `sweep` (magnitude > 0) against its prompt's unsteered output. */
export async function describeSweep(sweep: SweepResult, prompts: readonly string[], o: DescribeOptions): Promise<DescribedSweep> {
  const steered = sweep.records.filter((r) => r.magnitude > 0);
  const base = new Map(sweep.records.filter((r) => r.magnitude === 0).map((r) => [`${r.feature}:${r.prompt}`, r.text]));
  const texts: string[] = [];
  for (const r of steered) {
    texts.push(await describeSteeringChange(o.client, prompts[r.prompt], base.get(`${r.feature}:${r.prompt}`) ?? '', r.text));
    o.onProgress?.(texts.length, steered.length);
  }
  const features = [...new Set(sweep.records.map((r) => r.feature))];
  const explanations = new Map(features.map((f) => [f, o.explanations?.get(f) ?? registryExplanation(o, f)]));
  const known = features.filter((f) => explanations.get(f));
  const vectors = await o.embedder.embed([...texts, ...known.map((f) => explanations.get(f)!)]);
  const explVec = new Map(known.map((f, i) => [f, vectors[texts.length + i]]));
  const records: DescribedRecord[] = steered.map((r, i) => {
    const e = explVec.get(r.feature);
    return { feature: r.feature, prompt: prompts[r.prompt], promptIndex: r.prompt, magnitude: r.magnitude, description: texts[i], similarity: e ? cosine(vectors[i], e) : null, method: o.embedder.method };
  });
  if (o.registry && o.keys) o.registry.setSteeringDescriptions(o.keys.model, o.keys.sae, records);
  const threshold = o.stageThreshold ?? (o.embedder.method === 'lexical' ? 0.5 : 0.8);
  const progressions = stagesOf(records, vectors, threshold);
  const perFeature: DescribedFeature[] = features.map((f) => {
    const sims = records.filter((r) => r.feature === f && r.similarity !== null).map((r) => r.similarity!);
    const ps = progressions.filter((p) => p.feature === f);
    return {
      feature: f, explanation: explanations.get(f) ?? null, consistency: sims.length ? mean(sims) : null,
      n: records.filter((r) => r.feature === f).length, meanStages: ps.length ? mean(ps.map((p) => p.stages.length)) : 0,
    };
  });
  const scored = perFeature.filter((f) => f.consistency !== null);
  const density = new Map(sweep.features.map((c) => [c.feature, c.density]));
  const withDensity = scored.filter((f) => density.get(f.feature) !== null && density.get(f.feature) !== undefined);
  return {
    method: o.embedder.method, records, progressions, features: perFeature,
    meanConsistency: scored.length ? mean(scored.map((f) => f.consistency!)) : null,
    robustnessVsDensity: sweep.robustnessVsDensity,
    consistencyVsDensity: spearman(withDensity.map((f) => f.consistency!), withDensity.map((f) => density.get(f.feature)!)),
  };
}

/** Stages per feature and prompt, over magnitudes in order; `vectors[i]` embeds `records[i].description`. */
function stagesOf(records: readonly DescribedRecord[], vectors: readonly Float32Array[], threshold: number): DescribedProgression[] {
  const groups = new Map<string, number[]>();
  records.forEach((r, i) => groups.set(`${r.feature}:${r.promptIndex}`, [...(groups.get(`${r.feature}:${r.promptIndex}`) ?? []), i]));
  const out: DescribedProgression[] = [];
  for (const idx of groups.values()) {
    idx.sort((a, b) => records[a].magnitude - records[b].magnitude);
    const stages: DescribedStage[] = [];
    let start = idx[0];
    let last = idx[0];
    for (const i of idx.slice(1)) {
      if (cosine(vectors[last], vectors[i]) < threshold) {
        stages.push({ from: records[start].magnitude, to: records[last].magnitude, name: records[start].description });
        start = i;
      }
      last = i;
    }
    stages.push({ from: records[start].magnitude, to: records[last].magnitude, name: records[start].description });
    out.push({ feature: records[idx[0]].feature, prompt: records[idx[0]].promptIndex, stages });
  }
  return out;
}

/** The newest explanation that is not a heuristic name, else the feature's description or name. */
function registryExplanation(o: DescribeOptions, f: number): string | undefined {
  if (!o.registry || !o.keys) return undefined;
  const e = o.registry.explanations(o.keys.model, o.keys.sae, f).find((x) => x.source !== 'heuristic');
  if (e) return e.explanation;
  const rec = o.registry.get(o.keys.model, o.keys.sae, f);
  return rec?.description ?? rec?.name ?? undefined;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

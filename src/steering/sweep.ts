/**
 * Steering sweeps (the semantic-progression study): features x prompts x
 * magnitudes (multiples of each feature's typical maximum, the 95th
 * percentile of its firing activations), each output measured as the
 * unsteered model reads it back (metrics.ts).
 *
 * Per feature and prompt: the **onset** is the smallest magnitude at which the
 * concept shows in the text: the number of generated tokens on which the
 * unsteered model, reading them, activates the feature at or above its natural
 * level (half the median of its firing activations) is clearly above the
 * unsteered output's: k >= k0 + 2 + 2 sqrt(k0) (two Poisson standard
 * deviations, and at least two tokens more). The **breakpoint** is the smallest magnitude at which the text
 * degrades: perplexity under the unsteered model past its multiple of the
 * unsteered output's, or distinct-2 under its floor. The **usable range** is
 * [onset, breakpoint) when the onset comes first, else there is none.
 * **Stages** (consecutive outputs grouped while their word sets stay similar)
 * are counted over the outputs before the breakpoint; those at or past it are
 * reported apart as degraded. Per feature the medians over prompts, with
 * counts; across features, Spearman's rho between robustness (breakpoint) and
 * density.
 */
import { writeTextAtomic } from '../io/atomicFile.ts';
import { WEIGHT_BITS, type HookedModel } from '../model/hookedModel.ts';
import type { RecordKeys, RegistryReader } from '../registry/types.ts';
import type { Sae } from '../sae/sae.ts';
import { outputMetrics, type OutputMetrics } from './metrics.ts';
import { generateBatch, type BatchRow } from '../model/generateBatch.ts';
import { activationAt } from '../analysis/textFeatures.ts';
import { klAndNll } from '../sae/eval/lossMath.ts';
import type { AddIntervention, ClampIntervention } from '../hooks/interventions.ts';
import { READS_AT_ONCE, ReadBack } from './readBack.ts';
import { noUsableRange, typicalMax } from './presets.ts';
import { spearman } from './spearman.ts';
import { steeringInterventions, type SteerPositions } from './steer.ts';

/** Where a sweep files its calibrations: each one is a candidate until applied. */
export interface CalibrationWriter extends RegistryReader {
  addCalibration(model: string, sae: string, feature: number, calibration: unknown, settings: unknown): number;
  applyCalibration(id: number): void;
}

/** Options of a sweep. */
export interface SweepOptions {
  readonly features: readonly number[];
  readonly prompts: readonly string[];
  /** Wrap each prompt as a user turn of the model's chat template. */
  readonly chat?: boolean;
  /** Magnitudes as multiples of each feature's typical maximum activation (default 16 from 0 to 8). */
  readonly magnitudes?: readonly number[];
  readonly maxNewTokens?: number;
  readonly temperature?: number;
  readonly seed?: number;
  readonly positions?: SteerPositions;
  /** Degradation: perplexity above this multiple of the unsteered one (default 3) ... */
  readonly perplexityFactor?: number;
  /** ... or distinct-2 below this (default 0.5). */
  readonly minDistinct2?: number;
  /** Typical maxima and calibrations in; each feature's calibration out, as a candidate (applied only with `apply`). */
  readonly registry?: CalibrationWriter;
  /** The model's and SAE's identities in the registry (without them the registry is neither read nor written). */
  readonly keys?: RecordKeys;
  /** Apply each feature's calibration as it is stored, so its presets use it (default: stored only). */
  readonly apply?: boolean;
  /** Densities per feature for the robustness correlation (default: measured with the typical maxima). */
  readonly densities?: ReadonlyMap<number, number>;
  /** Generations decoded together (default: as many as fit a 256 MiB KV cache, see `sweepBatchSize`). */
  readonly batchSize?: number;
  /** Called after each generation with the count done and the total. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Awaited between generations (a server lets waiting requests run there). */
  readonly between?: () => Promise<void>;
}

/** One steered output. */
export interface SweepRecord extends OutputMetrics {
  readonly feature: number;
  readonly prompt: number;
  /** Multiple of the typical maximum. */
  readonly magnitude: number;
  /** The strength added (magnitude x typical max). */
  readonly strength: number;
  readonly text: string;
}

/** What one calibration was measured with (stored beside it). */
export interface SweepSettings {
  readonly prompts: readonly string[];
  readonly magnitudes: readonly number[];
  readonly maxNewTokens: number;
  readonly positions: SteerPositions;
  readonly temperature: number;
  readonly perplexityFactor: number;
  readonly minDistinct2: number;
  readonly date: string;
  /** Fewer than 3 prompts or fewer than 32 tokens per output: weak evidence, so said wherever it is shown. */
  readonly weak: boolean;
}

/** Per feature and prompt. */
export interface Progression {
  readonly feature: number;
  readonly prompt: number;
  /** First magnitude where the concept shows in the text, or null. */
  readonly onset: number | null;
  /** First magnitude where the text degrades, or null. */
  readonly breakpoint: number | null;
  /** [onset, breakpoint) when the onset comes first; null otherwise. */
  readonly usable: readonly [number, number] | null;
  /** Behavioural stages among the outputs before the breakpoint. */
  readonly stages: number;
  /** Outputs at or past the breakpoint (one "degraded" stage, reported apart). */
  readonly degraded: number;
}

/** Per feature, across prompts. */
export interface FeatureCalibration {
  readonly feature: number;
  /** The 95th percentile of the feature's firing activations: magnitudes are multiples of it. */
  readonly typicalMax: number;
  /** The median of its firing activations: a token above it shows the feature. */
  readonly natural: number;
  readonly density: number | null;
  /** Median onset and breakpoint magnitudes over the prompts where they occur. */
  readonly onset: number | null;
  readonly breakpoint: number | null;
  /** Prompts swept, and how many showed an onset and a breakpoint. */
  readonly prompts: number;
  readonly onsetCount: number;
  readonly breakpointCount: number;
  /** Fractions of prompts where each occurred, and their standard deviations. */
  readonly onsetRate: number;
  readonly breakpointRate: number;
  readonly onsetStd: number | null;
  readonly breakpointStd: number | null;
  /** Mean stages before the breakpoint, and mean outputs at or past it. */
  readonly meanStages: number;
  readonly meanDegraded: number;
  /** [onset, breakpoint) in magnitudes when the onset comes first; null otherwise. */
  readonly usable: readonly [number, number] | null;
  /** The usable range in strength units. */
  readonly usableStrength: readonly [number, number] | null;
  /** Why there is no usable range, when there is none. */
  readonly noUsableRange: string | null;
  /** The registry id this calibration was stored under, when it was. */
  readonly id?: number;
  /** Whether the sweep was weak evidence (see SweepSettings). */
  readonly weak: boolean;
}

/** What a sweep returns. */
export interface SweepResult {
  readonly settings: SweepSettings;
  readonly records: SweepRecord[];
  readonly progressions: Progression[];
  readonly features: FeatureCalibration[];
  /** Robustness (breakpoint) against density across features. */
  readonly robustnessVsDensity: { rho: number; p: number; n: number };
}

const DEFAULT_MAGNITUDES = Array.from({ length: 16 }, (_, i) => Number(((i * 8) / 15).toFixed(3)));

/**
 * Rows per batch for a sweep (each generation and its clean twin are two):
 * twice the batch's KV cache (every layer's keys and values for `length`
 * tokens) and its logits stay within 30% of the model's weights in memory,
 * so a batched sweep costs little more memory than one generation at a time;
 * from 2 to 64 rows, even. The cache is one buffer, but memory grows with the
 * rows by more than it: counted once (28 rows on GPT-2 small), the batched
 * sweep of `npm run bench -- sweep` peaked at 1.33-1.36 times one generation
 * at a time's; counted twice (18 rows), 1.11.
 */
export function sweepBatchSize(model: HookedModel, length: number): number {
  const s = model.spec;
  // The weights' size from the shapes (they load lazily): attention, MLP, embedding and unembedding, at the weights' precision.
  const params = s.nLayers * (2 * s.dModel * s.nHeads * s.dHead + 2 * s.dModel * s.nKvHeads * s.dHead + (s.gatedMlp ? 3 : 2) * s.dModel * s.dMlp) + 2 * s.dVocab * s.dModel;
  const weights = (params * WEIGHT_BITS[model.weightMode]) / 8;
  const perRow = 2 * 2 * s.nLayers * s.nKvHeads * s.dHead * length * 4 + 2 * s.dVocab * 4;
  return Math.max(2, Math.min(64, 2 * Math.floor((0.3 * weights) / perRow / 2)));
}

/** Runs a sweep. */
export async function sweep(model: HookedModel, sae: Sae, o: SweepOptions): Promise<SweepResult> {
  const mags = [...(o.magnitudes ?? DEFAULT_MAGNITUDES)].sort((a, b) => a - b);
  for (const m of mags) if (!Number.isFinite(m)) throw new Error(`magnitude ${m} is not a finite number`);
  if (o.prompts.length === 0) throw new Error('a sweep needs at least one prompt');
  if (!mags.includes(0)) mags.unshift(0);
  const maxNewTokens = o.maxNewTokens ?? 32;
  const settings: SweepSettings = {
    prompts: [...o.prompts], magnitudes: mags, maxNewTokens, positions: o.positions ?? 'all', temperature: o.temperature ?? 0,
    perplexityFactor: o.perplexityFactor ?? 3, minDistinct2: o.minDistinct2 ?? 0.5, date: new Date().toISOString(), weak: o.prompts.length < 3 || maxNewTokens < 32,
  };
  const tm = await typicalMax(model, sae, o.features, { registry: o.registry, keys: o.keys });
  const promptIds = o.prompts.map((p) => (o.chat ? model.chatPrompt(p) : model.toTokens(p)[0]));
  const jobs: SweepJob[] = [];
  for (const f of o.features) {
    for (let p = 0; p < o.prompts.length; p++) {
      for (const m of mags) {
        const strength = m * tm.values.get(f)!;
        const { interventions } = await steeringInterventions(model, sae, [{ feature: f, strength }], settings.positions, promptIds[p].length);
        jobs.push({ feature: f, prompt: p, promptIds: promptIds[p], magnitude: m, strength, interventions: strength === 0 ? [] : interventions });
      }
    }
  }
  const records = await sweepGenerations(model, sae, jobs, {
    maxNewTokens, temperature: settings.temperature, seed: o.seed ?? 0, naturals: tm.naturals, batchSize: o.batchSize, between: o.between, onProgress: o.onProgress,
  });
  const progressions = progressionsOf(records, settings);
  let features = o.features.map((f) => calibrate(f, tm.values.get(f)!, tm.naturals.get(f) ?? 0, o.densities?.get(f) ?? tm.densities.get(f) ?? null, progressions.filter((p) => p.feature === f), settings.weak));
  const withDensity = features.filter((c) => c.density !== null && c.breakpoint !== null);
  const robustnessVsDensity = spearman(withDensity.map((c) => c.breakpoint!), withDensity.map((c) => c.density!));
  if (o.registry && o.keys) {
    const { registry, keys } = o;
    features = features.map((c) => {
      const id = registry.addCalibration(keys.model, keys.sae, c.feature, c, settings);
      if (o.apply) registry.applyCalibration(id);
      return { ...c, id };
    });
  }
  return { settings, records, progressions, features, robustnessVsDensity };
}

/** One generation of a sweep: a feature steered at a strength on a prompt. */
export interface SweepJob {
  readonly feature: number;
  readonly prompt: number;
  readonly promptIds: readonly number[];
  readonly magnitude: number;
  readonly strength: number;
  readonly interventions: readonly (AddIntervention | ClampIntervention)[];
}

/**
 * Generates and measures every job in batches: each generation beside its
 * clean twin, which reads the steered text by teacher forcing (its logits
 * give KL and perplexity, its hook the read-back), so nothing is rerun and
 * no logits are kept. Unsteered jobs on one prompt (magnitude 0, one per
 * feature) are the same generation (same prompt, sampling and seed), so they
 * share one pair of rows, each job reading its own feature from the twin's
 * hook. Records in job order.
 */
export async function sweepGenerations(model: HookedModel, sae: Sae, jobs: readonly SweepJob[], o: {
  readonly maxNewTokens: number; readonly temperature: number; readonly seed: number; readonly naturals: ReadonlyMap<number, number>;
  readonly batchSize?: number; readonly between?: () => Promise<void>; readonly onProgress?: (done: number, total: number) => void;
}): Promise<SweepRecord[]> {
  const { maxNewTokens } = o;
  const total = jobs.length;
  // Pair p is rows 2p (the generation) and 2p + 1 (its twin); pairOf[j] is job j's pair, jobsOf[p] the jobs pair p measures.
  const rows: BatchRow[] = [];
  const jobsOf: number[][] = [];
  const pairOf: number[] = [];
  const unsteered = new Map<string, number>();
  jobs.forEach((j, i) => {
    const key = j.interventions.length === 0 ? j.promptIds.join(',') : undefined;
    let p = key === undefined ? undefined : unsteered.get(key);
    if (p === undefined) {
      p = jobsOf.length;
      if (key !== undefined) unsteered.set(key, p);
      rows.push(
        { prompt: j.promptIds, maxNewTokens, temperature: o.temperature, seed: o.seed, interventions: j.interventions, stopAtEos: false },
        { prompt: j.promptIds, maxNewTokens, stopAtEos: false, follow: 2 * p },
      );
      jobsOf.push([]);
    }
    jobsOf[p].push(i);
    pairOf[i] = p;
  });
  const acc = jobs.map(() => ({ kl: 0, nll: 0, act: 0, above: 0 }));
  const steeredLogits = new Map<number, Float32Array>();
  const scratch = new Float64Array(model.spec.dVocab);
  const hook = sae.cfg.hookName;
  // The twins' hook values are encoded READS_AT_ONCE tokens at a time (readBack.ts), each token once for its pair's jobs.
  const reads = new ReadBack(sae.cfg.dIn, READS_AT_ONCE, async (pairs, x) => {
    const codes = await sae.encode(x);
    pairs.forEach((p, k) => {
      for (const j of jobsOf[p]) {
        const act = activationAt(codes, k, jobs[j].feature);
        acc[j].act += act;
        if (act > 0 && act >= (o.naturals.get(jobs[j].feature) ?? 0)) acc[j].above++;
      }
    });
  });
  let done = 0;
  const results = await generateBatch(model, rows, {
    maxBatch: o.batchSize ?? sweepBatchSize(model, Math.max(...jobs.map((j) => j.promptIds.length)) + maxNewTokens),
    between: o.between,
    cache: [hook],
    observe: (row, logits, token) => {
      if (row % 2 === 0) {
        steeredLogits.set(row, logits);
        return;
      }
      const steered = steeredLogits.get(row - 1)!;
      steeredLogits.delete(row - 1);
      if (token < 0) return;
      const m = klAndNll(logits, steered, token, scratch);
      for (const j of jobsOf[(row - 1) / 2]) {
        acc[j].kl += m.kl;
        acc[j].nll += m.nll;
      }
    },
    onCache: (batchRows, _positions, values) => {
      const v = values[hook];
      const width = v.data.length / batchRows.length;
      batchRows.forEach((r, i) => {
        if (r % 2 === 1) reads.push((r - 1) / 2, v.data.subarray(i * width, (i + 1) * width));
      });
    },
    onRowDone: (row) => {
      if (row % 2 === 1) for (let k = jobsOf[(row - 1) / 2].length; k > 0; k--) o.onProgress?.(++done, total);
    },
  });
  await reads.done();
  return jobs.map((j, i) => ({
    feature: j.feature, prompt: j.prompt, magnitude: j.magnitude, strength: j.strength, text: results[2 * pairOf[i]].text, ...outputMetrics(results[2 * pairOf[i]].ids, acc[i]),
  }));
}

/** Onset, breakpoint, usable range and stages of each (feature, prompt). */
export function progressionsOf(records: readonly SweepRecord[], s: Pick<SweepSettings, 'perplexityFactor' | 'minDistinct2'>): Progression[] {
  const out: Progression[] = [];
  const groups = new Map<string, SweepRecord[]>();
  for (const r of records) groups.set(`${r.feature}:${r.prompt}`, [...(groups.get(`${r.feature}:${r.prompt}`) ?? []), r]);
  for (const unsorted of groups.values()) {
    const rs = [...unsorted].sort((a, b) => a.magnitude - b.magnitude);
    const base = rs.find((r) => r.magnitude === 0)!;
    const steered = rs.filter((r) => r.magnitude > 0);
    const shows = steered.find((r) => showsConcept(r.fireCount, base.fireCount));
    const breaks = steered.find((r) => r.perplexity > s.perplexityFactor * base.perplexity || r.distinct2 < s.minDistinct2);
    const onset = shows?.magnitude ?? null;
    const breakpoint = breaks?.magnitude ?? null;
    const before = breakpoint === null ? rs : rs.filter((r) => r.magnitude < breakpoint);
    out.push({
      feature: base.feature, prompt: base.prompt, onset, breakpoint,
      usable: onset !== null && breakpoint !== null && onset < breakpoint ? [onset, breakpoint] : null,
      stages: stagesOf(before), degraded: rs.length - before.length,
    });
  }
  return out;
}

/** Whether `k` tokens showing the feature is clearly more than the unsteered output's `k0`: k >= k0 + 2 + 2 sqrt(k0). */
export function showsConcept(k: number, k0: number): boolean {
  return k >= k0 + 2 + 2 * Math.sqrt(k0);
}

/** Consecutive outputs stay in one stage while the Jaccard similarity of their word sets is at least 0.5. */
export function stagesOf(rs: readonly { text: string }[]): number {
  if (rs.length === 0) return 0;
  const words = rs.map((r) => new Set(r.text.toLowerCase().match(/[a-z']+/g) ?? []));
  let stages = 1;
  for (let i = 1; i < words.length; i++) {
    const a = words[i - 1];
    const b = words[i];
    const inter = [...a].filter((w) => b.has(w)).length;
    const union = new Set([...a, ...b]).size;
    if ((union === 0 ? 1 : inter / union) < 0.5) stages++;
  }
  return stages;
}

function calibrate(feature: number, typical: number, natural: number, density: number | null, ps: Progression[], weak: boolean): FeatureCalibration {
  const stat = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
    if (!v.length) return { median: null, std: null, n: 0 };
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const median = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    return { median, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), n: v.length };
  };
  const on = stat(ps.map((p) => p.onset));
  const br = stat(ps.map((p) => p.breakpoint));
  const why = noUsableRange(on.median, br.median);
  const usable = why === null ? ([on.median!, br.median!] as const) : null;
  const n = Math.max(1, ps.length);
  return {
    feature, typicalMax: typical, natural, density, onset: on.median, breakpoint: br.median, prompts: ps.length, onsetCount: on.n, breakpointCount: br.n,
    onsetRate: on.n / n, breakpointRate: br.n / n, onsetStd: on.std, breakpointStd: br.std,
    meanStages: ps.reduce((a, p) => a + p.stages, 0) / n, meanDegraded: ps.reduce((a, p) => a + p.degraded, 0) / n,
    usable, usableStrength: usable ? [usable[0] * typical, usable[1] * typical] : null, noUsableRange: why, weak,
  };
}

/**
 * Writes the records as CSV (RFC 4180 quoting). `described` (from `sweep
 * --describe`) adds each steered output's description and its similarity to
 * the feature's explanation, keyed by feature, prompt index and magnitude.
 */
export function writeSweepCsv(file: string, records: readonly SweepRecord[], described?: readonly { feature: number; promptIndex: number; magnitude: number; description: string; similarity: number | null }[]): void {
  const cols = ['feature', 'prompt', 'magnitude', 'strength', 'featureAct', 'fireCount', 'kl', 'perplexity', 'distinct2', 'text'] as const;
  const q = (v: unknown) => {
    const s = String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const byKey = new Map((described ?? []).map((d) => [`${d.feature}:${d.promptIndex}:${d.magnitude}`, d]));
  const extra = (r: SweepRecord) => {
    const d = byKey.get(`${r.feature}:${r.prompt}:${r.magnitude}`);
    return [q(d?.description ?? ''), d?.similarity ?? ''];
  };
  const head = [...cols, ...(described ? ['description', 'similarity'] : [])].join(',');
  writeTextAtomic(file, [head, ...records.map((r) => [...cols.map((c) => q(r[c])), ...(described ? extra(r) : [])].join(','))].join('\n') + '\n');
}

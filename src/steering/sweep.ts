/**
 * Steering sweeps (the semantic-progression study): features x prompts x
 * magnitudes, each output measured (metrics.ts). Per feature and prompt the
 * sweep finds the magnitude where the concept first shows (the feature's
 * activation in the output passes twice the unsteered level and a tenth of
 * its typical maximum), the point where the text degrades (perplexity past a
 * multiple of the unsteered one, or distinct-2 below a floor), and the number
 * of behavioural stages (consecutive outputs grouped while their word sets
 * stay similar). Across prompts it reports how consistent those points are;
 * across features, Spearman's rho between robustness (the degradation point)
 * and density.
 */
import { writeTextAtomic } from '../io/atomicFile.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import type { RecordKeys, RegistryReader } from '../registry/types.ts';
import type { Sae } from '../sae/sae.ts';
import { measureOutput, type OutputMetrics } from './metrics.ts';
import { typicalMax } from './presets.ts';
import { spearman } from './spearman.ts';
import { steeringInterventions, type SteerPositions } from './steer.ts';

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
  readonly registry?: RegistryReader & { setCalibration(model: string, sae: string, feature: number, calibration: unknown): void };
  /** The model's and SAE's identities in the registry (without them the registry is neither read nor written). */
  readonly keys?: RecordKeys;
  /** Densities per feature for the robustness correlation (default: measured with the typical maxima). */
  readonly densities?: ReadonlyMap<number, number>;
  readonly onProgress?: (done: number, total: number) => void;
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

/** Per feature and prompt. */
export interface Progression {
  readonly feature: number;
  readonly prompt: number;
  /** First magnitude where the concept shows, or null. */
  readonly onset: number | null;
  /** First magnitude where the text degrades, or null. */
  readonly breakpoint: number | null;
  readonly stages: number;
}

/** Per feature, across prompts. */
export interface FeatureCalibration {
  readonly feature: number;
  readonly typicalMax: number;
  readonly density: number | null;
  /** Mean onset and breakpoint magnitudes over the prompts where they occur. */
  readonly onset: number | null;
  readonly breakpoint: number | null;
  /** Fraction of prompts where each occurred, and their standard deviations. */
  readonly onsetRate: number;
  readonly breakpointRate: number;
  readonly onsetStd: number | null;
  readonly breakpointStd: number | null;
  readonly meanStages: number;
  /** The range [onset, breakpoint) where the concept shows and text holds, in strength units. */
  readonly usableStrength: readonly [number, number] | null;
}

/** What a sweep returns. */
export interface SweepResult {
  readonly records: SweepRecord[];
  readonly progressions: Progression[];
  readonly features: FeatureCalibration[];
  /** Robustness (breakpoint) against density across features. */
  readonly robustnessVsDensity: { rho: number; p: number; n: number };
}

const DEFAULT_MAGNITUDES = Array.from({ length: 16 }, (_, i) => Number(((i * 8) / 15).toFixed(3)));

/** Runs a sweep. */
export async function sweep(model: HookedModel, sae: Sae, o: SweepOptions): Promise<SweepResult> {
  const mags = [...(o.magnitudes ?? DEFAULT_MAGNITUDES)].sort((a, b) => a - b);
  for (const m of mags) if (!Number.isFinite(m)) throw new Error(`magnitude ${m} is not a finite number`);
  if (o.prompts.length === 0) throw new Error('a sweep needs at least one prompt');
  if (!mags.includes(0)) mags.unshift(0);
  const tm = await typicalMax(model, sae, o.features, { registry: o.registry, keys: o.keys });
  const records: SweepRecord[] = [];
  const total = o.features.length * o.prompts.length * mags.length;
  for (const f of o.features) {
    for (let p = 0; p < o.prompts.length; p++) {
      const promptIds = o.chat ? model.chatPrompt(o.prompts[p]) : model.toTokens(o.prompts[p])[0];
      for (const m of mags) {
        const strength = m * tm.values.get(f)!;
        const { interventions } = await steeringInterventions(model, sae, [{ feature: f, strength }], o.positions ?? 'all', promptIds.length);
        const active = strength === 0 ? [] : interventions;
        const out = await model.generate(promptIds, { maxNewTokens: o.maxNewTokens ?? 32, temperature: o.temperature ?? 0, seed: o.seed ?? 0, interventions: active, stopAtEos: false });
        const metrics = await measureOutput(model, sae, f, promptIds, out.ids, active);
        records.push({ feature: f, prompt: p, magnitude: m, strength, text: out.text, ...metrics });
        o.onProgress?.(records.length, total);
      }
    }
  }
  const progressions = progressionsOf(records, o);
  const features = o.features.map((f) => calibrate(f, tm.values.get(f)!, o.densities?.get(f) ?? tm.densities.get(f) ?? null, progressions.filter((p) => p.feature === f)));
  const withDensity = features.filter((c) => c.density !== null && c.breakpoint !== null);
  const robustnessVsDensity = spearman(withDensity.map((c) => c.breakpoint!), withDensity.map((c) => c.density!));
  if (o.registry && o.keys) for (const c of features) o.registry.setCalibration(o.keys.model, o.keys.sae, c.feature, c);
  return { records, progressions, features, robustnessVsDensity };
}

function progressionsOf(records: SweepRecord[], o: SweepOptions): Progression[] {
  const out: Progression[] = [];
  const groups = new Map<string, SweepRecord[]>();
  for (const r of records) groups.set(`${r.feature}:${r.prompt}`, [...(groups.get(`${r.feature}:${r.prompt}`) ?? []), r]);
  for (const rs of groups.values()) {
    const base = rs.find((r) => r.magnitude === 0)!;
    const tmax = rs.find((r) => r.magnitude > 0)?.strength ? rs.find((r) => r.magnitude > 0)!.strength / rs.find((r) => r.magnitude > 0)!.magnitude : 1;
    const shows = rs.find((r) => r.magnitude > 0 && r.featureAct > 2 * base.featureAct && r.featureAct > 0.1 * tmax);
    const breaks = rs.find((r) => r.magnitude > 0 && (r.perplexity > (o.perplexityFactor ?? 3) * base.perplexity || r.distinct2 < (o.minDistinct2 ?? 0.5)));
    out.push({ feature: base.feature, prompt: base.prompt, onset: shows?.magnitude ?? null, breakpoint: breaks?.magnitude ?? null, stages: stagesOf(rs) });
  }
  return out;
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

function calibrate(feature: number, typical: number, density: number | null, ps: Progression[]): FeatureCalibration {
  const stat = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null);
    if (!v.length) return { mean: null, std: null, rate: 0 };
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), rate: v.length / xs.length };
  };
  const on = stat(ps.map((p) => p.onset));
  const br = stat(ps.map((p) => p.breakpoint));
  const usable = on.mean !== null ? ([on.mean * typical, (br.mean ?? Infinity) * typical] as const) : null;
  return {
    feature, typicalMax: typical, density, onset: on.mean, breakpoint: br.mean, onsetRate: on.rate, breakpointRate: br.rate,
    onsetStd: on.std, breakpointStd: br.std, meanStages: ps.reduce((a, p) => a + p.stages, 0) / Math.max(1, ps.length),
    usableStrength: usable && Number.isFinite(usable[1]) ? usable : usable ? [usable[0], Number.MAX_VALUE] : null,
  };
}

/**
 * Writes the records as CSV (RFC 4180 quoting). `described` (from `sweep
 * --describe`) adds each steered output's description and its similarity to
 * the feature's explanation, keyed by feature, prompt index and magnitude.
 */
export function writeSweepCsv(file: string, records: readonly SweepRecord[], described?: readonly { feature: number; promptIndex: number; magnitude: number; description: string; similarity: number | null }[]): void {
  const cols = ['feature', 'prompt', 'magnitude', 'strength', 'featureAct', 'kl', 'perplexity', 'distinct2', 'text'] as const;
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

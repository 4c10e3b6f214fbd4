/**
 * Strength presets: multiples of a feature's typical maximum activation, so a
 * preset means the same push for every feature. The typical maximum comes
 * from a scan stored in the registry when there is one, and otherwise is
 * measured on a small default corpus: text the model itself samples, which is
 * in its own distribution whatever the model.
 */
import type { FeatureDashboard } from '../analysis/dashboard.ts';
import { scan } from '../analysis/scan.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import type { RecordKeys, RegistryReader } from '../registry/types.ts';
import type { Sae } from '../sae/sae.ts';

/**
 * Preset names and their default multiples of the typical maximum (the 95th
 * percentile of a feature's firing activations), used when a feature has no
 * applied calibration. Measured on the demo SAE (topk, 1024 latents, k 16, at
 * blocks.1.hook_resid_pre of TinyStories-656K, scanned as the demo scans it):
 * 16 features of typical density (0.5-5%), 3 prompts, greedy, 60 tokens.
 * The output changed from the unsteered one on 92% of (feature, prompt) pairs
 * at 0.1x and on all of them from 0.2x; the text held (distinct-2 >= 0.5,
 * perplexity <= 3x the unsteered) on 98% at 0.3-0.4x, 92-98% at 0.5-0.7x,
 * 79% at 1x and 40% at 1.6x. Light sits where every output changes, strong
 * where the text still holds with a margin. test/steering.test.ts checks the
 * figures on other features of the same SAE.
 */
export const PRESETS = { light: 0.2, medium: 0.4, strong: 0.6 } as const;

/** A preset name. */
export type Preset = keyof typeof PRESETS;

/**
 * The quantile of firing activations a preset's scale is: the 95th
 * percentile, which moves little from scan to scan, where the single maximum
 * is one outlier token.
 */
export const SCALE_QUANTILE = 0.95;

/** A feature's natural level is this fraction of the median of its firing activations. */
export const NATURAL_FRACTION = 0.5;

/** Typical maximum activations of features, and where they came from. */
export interface TypicalMax {
  /** Per feature, the 95th percentile of its firing activations (the "typical maximum" presets multiply). */
  readonly values: ReadonlyMap<number, number>;
  /**
   * Per feature, its natural firing level: half the median of its firing
   * activations. A token the unsteered model reads at or above it shows the
   * feature; the half keeps the typical firings and drops the faint ones.
   */
  readonly naturals: ReadonlyMap<number, number>;
  /** Feature densities from the same source. */
  readonly densities: ReadonlyMap<number, number>;
  readonly source: 'registry' | 'measured';
}

/**
 * The q-quantile of a feature's firing activations from its histogram
 * (counts per bin over `edges`), linear within the bin; 0 without firings.
 */
export function firingQuantile(h: { readonly edges: readonly number[]; readonly counts: ArrayLike<number> }, q: number): number {
  let total = 0;
  for (let i = 0; i < h.counts.length; i++) total += h.counts[i];
  if (total <= 0) return 0;
  const want = q * total;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i];
    if (c > 0 && seen + c >= want) return h.edges[i] + ((want - seen) / c) * (h.edges[i + 1] - h.edges[i]);
    seen += c;
  }
  return h.edges[h.counts.length];
}

/** Texts sampled from the model (from BOS), the default corpus for measuring activations. */
export async function selfSamples(model: HookedModel, n = 12, tokens = 96, seed = 0): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await model.generate('', { maxNewTokens: tokens, temperature: 1, seed: seed + i })).text);
  return out.filter((t) => t.trim().length > 0);
}

/** Each feature's scale and natural level: from the registry's scan, else measured on `corpus` (default: the model's own samples). */
export async function typicalMax(model: HookedModel, sae: Sae, features: readonly number[], o: { registry?: RegistryReader; corpus?: string | readonly string[]; keys?: RecordKeys } = {}): Promise<TypicalMax> {
  for (const f of features) checkFeature(sae, f);
  const values = new Map<number, number>();
  const naturals = new Map<number, number>();
  const densities = new Map<number, number>();
  if (o.registry && o.keys) {
    for (const f of features) {
      const d = o.registry.dashboard<FeatureDashboard>(o.keys.model, o.keys.sae, f);
      if (!d || !(d.maxAct > 0)) continue;
      values.set(f, firingQuantile(d.histogram, SCALE_QUANTILE));
      naturals.set(f, NATURAL_FRACTION * firingQuantile(d.histogram, 0.5));
      densities.set(f, d.density);
    }
    if (values.size === features.length) return { values, naturals, densities, source: 'registry' };
  }
  const corpus = o.corpus ?? (await selfSamples(model));
  const s = await scan(model, sae, { corpus, tokens: 20000, contextSize: Math.min(128, model.spec.nCtx), features, topK: 1, perBin: 1, quantileBins: 2, histBins: 32 });
  for (const f of features) {
    if (values.has(f)) continue;
    const st = s.features[f];
    const h = { edges: st.histEdges(), counts: st.hist };
    values.set(f, firingQuantile(h, SCALE_QUANTILE));
    naturals.set(f, NATURAL_FRACTION * firingQuantile(h, 0.5));
    densities.set(f, st.count / s.tokens);
  }
  // A feature that never fired on the corpus gets the median scale of the measured ones (or 1), and half of it as its level.
  const seen = [...values.values()].filter((v) => v > 0).sort((a, b) => a - b);
  const fallback = seen.length ? seen[Math.floor(seen.length / 2)] : 1;
  for (const [f, v] of values) {
    if (v > 0) continue;
    values.set(f, fallback);
    naturals.set(f, NATURAL_FRACTION * fallback / 2);
  }
  return { values, naturals, densities, source: 'measured' };
}

/** A sweep's calibration of one feature, in multiples of its typical maximum (`sweep.ts`). */
export interface PresetCalibration {
  readonly onset: number | null;
  readonly breakpoint: number | null;
}

/** Why a feature has no usable range, or null when it has one. */
export function noUsableRange(onset: number | null, breakpoint: number | null): string | null {
  if (onset === null && breakpoint === null) return 'the concept never showed in the text and the text never broke at these magnitudes';
  if (onset === null) return `the concept never showed in the text before the text broke (at ${breakpoint}x)`;
  if (breakpoint === null) return `the text never broke at these magnitudes, so the range has no upper end (the concept shows at ${onset}x): sweep higher`;
  if (onset >= breakpoint) return `the concept shows only at ${onset}x, at or past where the text breaks (${breakpoint}x)`;
  return null;
}

/** A feature's preset multiples and where they came from. */
export interface PresetMultiples {
  readonly multiples: Record<Preset, number>;
  readonly source: 'calibration' | 'default';
  /** Why the defaults are used, when they are. */
  readonly reason?: string;
}

/**
 * Preset multiples for one feature. With an applied calibration that has a
 * usable range [onset, breakpoint), they sit inside it: light at the onset,
 * medium halfway, strong 85% of the way to the breakpoint. Without a usable
 * range (no onset, no breakpoint, or the onset at or past the breakpoint),
 * and without a calibration, the defaults, with the reason.
 */
export function presetMultiples(c: PresetCalibration | undefined): PresetMultiples {
  const d = { ...PRESETS };
  if (!c) return { multiples: d, source: 'default', reason: 'no applied calibration' };
  const on = c.onset;
  const bp = c.breakpoint;
  const ok = (v: number | null): v is number => v !== null && Number.isFinite(v) && v > 0;
  if (ok(on) && ok(bp) && on < bp) return { multiples: { light: on, medium: on + 0.5 * (bp - on), strong: on + 0.85 * (bp - on) }, source: 'calibration' };
  return { multiples: d, source: 'default', reason: `the applied calibration has no usable range (${noUsableRange(on, bp) ?? 'no positive onset and breakpoint'})` };
}

/** Throws naming the feature and the SAE's range. */
export function checkFeature(sae: Sae, f: number): void {
  if (!Number.isInteger(f) || f < 0 || f >= sae.cfg.dSae) throw new Error(`feature ${f} is out of range [0, ${sae.cfg.dSae}) for this SAE`);
}

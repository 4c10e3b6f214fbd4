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
 * Preset names and their default multiples of the typical maximum activation,
 * used when a feature has no sweep calibration. Measured on TinyStories-656K's
 * own samples (16 features from the middle half by density, 4 prompts, 11
 * magnitudes): the text degrades at a median of 1.31x and a lower quartile of
 * 1.06x the typical maximum, so strong sits at 0.9x (it was 4x, and medium at
 * 2x already broke the text). test/steering.test.ts re-measures this.
 */
export const PRESETS = { light: 0.3, medium: 0.6, strong: 0.9 } as const;

/** A preset name. */
export type Preset = keyof typeof PRESETS;

/** Typical maximum activations of features, and where they came from. */
export interface TypicalMax {
  readonly values: ReadonlyMap<number, number>;
  /** Feature densities from the same source. */
  readonly densities: ReadonlyMap<number, number>;
  readonly source: 'registry' | 'measured';
}

/** Texts sampled from the model (from BOS), the default corpus for measuring activations. */
export async function selfSamples(model: HookedModel, n = 12, tokens = 96, seed = 0): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await model.generate('', { maxNewTokens: tokens, temperature: 1, seed: seed + i })).text);
  return out.filter((t) => t.trim().length > 0);
}

/** The typical maximum activation of each feature: from the registry's scan, else measured. */
export async function typicalMax(model: HookedModel, sae: Sae, features: readonly number[], o: { registry?: RegistryReader; corpus?: string | readonly string[]; keys?: RecordKeys } = {}): Promise<TypicalMax> {
  for (const f of features) checkFeature(sae, f);
  const fromRegistry = new Map<number, number>();
  const densities = new Map<number, number>();
  if (o.registry && o.keys) {
    for (const f of features) {
      const d = o.registry.dashboard<FeatureDashboard>(o.keys.model, o.keys.sae, f);
      if (d && d.maxAct > 0) {
        fromRegistry.set(f, d.maxAct);
        densities.set(f, d.density);
      }
    }
    if (fromRegistry.size === features.length) return { values: fromRegistry, densities, source: 'registry' };
  }
  const corpus = o.corpus ?? (await selfSamples(model));
  const s = await scan(model, sae, { corpus, tokens: 20000, contextSize: Math.min(128, model.spec.nCtx), features, topK: 1, perBin: 1, quantileBins: 2, histBins: 2 });
  const values = new Map<number, number>();
  for (const f of features) {
    // A feature that never fired on the default corpus gets the median of the measured ones (or 1).
    values.set(f, fromRegistry.get(f) ?? s.features[f].max);
    if (!densities.has(f)) densities.set(f, s.features[f].count / s.tokens);
  }
  const seen = [...values.values()].filter((v) => v > 0).sort((a, b) => a - b);
  const fallback = seen.length ? seen[Math.floor(seen.length / 2)] : 1;
  for (const [f, v] of values) if (!(v > 0)) values.set(f, fallback);
  return { values, densities, source: 'measured' };
}

/** A sweep's calibration of one feature, in multiples of its typical maximum (`sweep.ts`). */
export interface PresetCalibration {
  readonly onset: number | null;
  readonly breakpoint: number | null;
}

/**
 * Preset multiples for one feature. With a sweep calibration they sit in the
 * range where the concept shows and the text holds: light at the onset,
 * strong at 85% of the way to the breakpoint, medium halfway. With only a
 * breakpoint the defaults are scaled so strong stays under it; with only an
 * onset, light starts there. Without one, the defaults.
 */
export function presetMultiples(c: PresetCalibration | undefined): { multiples: Record<Preset, number>; source: 'calibration' | 'default' } {
  const d = { ...PRESETS };
  const on = c?.onset ?? null;
  const bp = c?.breakpoint ?? null;
  const ok = (v: number | null): v is number => v !== null && Number.isFinite(v) && v > 0;
  if (ok(on) && ok(bp) && on < bp) return { multiples: { light: on, medium: on + 0.5 * (bp - on), strong: on + 0.85 * (bp - on) }, source: 'calibration' };
  if (ok(bp)) {
    const k = Math.min(1, (0.85 * bp) / d.strong);
    return { multiples: { light: d.light * k, medium: d.medium * k, strong: d.strong * k }, source: 'calibration' };
  }
  if (ok(on)) {
    const k = on / d.light;
    return { multiples: { light: on, medium: d.medium * k, strong: d.strong * k }, source: 'calibration' };
  }
  return { multiples: d, source: 'default' };
}

/** Throws naming the feature and the SAE's range. */
export function checkFeature(sae: Sae, f: number): void {
  if (!Number.isInteger(f) || f < 0 || f >= sae.cfg.dSae) throw new Error(`feature ${f} is out of range [0, ${sae.cfg.dSae}) for this SAE`);
}

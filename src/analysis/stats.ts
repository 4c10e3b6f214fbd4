/**
 * Feature statistics from the classic SAE tutorial: dead features, the most
 * and least frequent, an "interesting feature" score (medium frequency, high
 * magnitude), and per-feature weight statistics.
 */
import type { Sae } from '../sae/sae.ts';
import type { ScanResult } from './scan.ts';

/** Per-feature summary. */
export interface FeatureSummary {
  readonly feature: number;
  readonly density: number;
  readonly log10Density: number;
  readonly maxAct: number;
  readonly meanAct: number;
  /**
   * Interest: a Gaussian bump on log10 density centred on 10^-2.5 (neither
   * dense nor rare) times the max activation relative to the SAE's median
   * max activation.
   */
  readonly interest: number;
}

/** Feature statistics of a scan. */
export interface FeatureStatistics {
  readonly tokens: number;
  /** Features that never fired. */
  readonly dead: number[];
  /** Features firing on more than 10% of tokens. */
  readonly dense: number[];
  /** Mean number of active features per token (equals the sum of densities). */
  readonly meanL0: number;
  readonly mostFrequent: FeatureSummary[];
  readonly leastFrequent: FeatureSummary[];
  readonly interesting: FeatureSummary[];
  readonly all: FeatureSummary[];
}

/** Statistics over a scan; `n` is the length of each ranked list. */
export function featureStatistics(s: ScanResult, n = 20): FeatureStatistics {
  const maxes = s.features.map((f) => f.max).filter((m) => m > 0).sort((a, b) => a - b);
  const median = maxes.length ? maxes[Math.floor(maxes.length / 2)] : 1;
  const all: FeatureSummary[] = s.features.map((f, feature) => {
    const density = f.count / s.tokens;
    const log10Density = Math.log10(density + 1e-10);
    const interest = density > 0 ? Math.exp(-((log10Density + 2.5) ** 2) / 2) * (f.max / median) : 0;
    return { feature, density, log10Density, maxAct: f.max, meanAct: f.count ? f.sum / f.count : 0, interest };
  });
  const alive = all.filter((a) => a.density > 0);
  return {
    tokens: s.tokens,
    dead: all.filter((a) => a.density === 0).map((a) => a.feature),
    dense: all.filter((a) => a.density > 0.1).map((a) => a.feature),
    meanL0: all.reduce((t, a) => t + a.density, 0),
    mostFrequent: [...alive].sort((a, b) => b.density - a.density).slice(0, n),
    leastFrequent: [...alive].sort((a, b) => a.density - b.density).slice(0, n),
    interesting: [...alive].sort((a, b) => b.interest - a.interest).slice(0, n),
    all,
  };
}

/** Decoder and encoder weight statistics of one feature. */
export interface WeightStats {
  readonly feature: number;
  readonly decoderNorm: number;
  readonly encoderNorm: number;
  /** Cosine between the feature's encoder column and decoder row. */
  readonly encDecCosine: number;
  readonly encoderBias: number;
}

/** Weight statistics of every feature. */
export function weightStatistics(sae: Sae): WeightStats[] {
  const { dIn, dSae } = sae.cfg;
  const We = sae.weights.W_enc.data;
  const Wd = sae.weights.W_dec.data;
  return Array.from({ length: dSae }, (_, f) => {
    let dn = 0, en = 0, dot = 0;
    for (let i = 0; i < dIn; i++) {
      const d = Wd[f * dIn + i];
      const e = We[i * dSae + f];
      dn += d * d;
      en += e * e;
      dot += d * e;
    }
    return { feature: f, decoderNorm: Math.sqrt(dn), encoderNorm: Math.sqrt(en), encDecCosine: dot / Math.max(Math.sqrt(dn * en), 1e-12), encoderBias: sae.weights.b_enc.data[f] };
  });
}

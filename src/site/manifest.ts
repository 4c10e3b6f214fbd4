/**
 * The static site's data layout: `data/manifest.json` names every file the
 * page downloads (with its size and SHA-256, so a missing, short or corrupted
 * file is named in the page), the model's config, and each SAE's folded
 * config. Written by exportSite, read by the browser engine.
 */
import type { FeatureDashboard } from '../analysis/dashboard.ts';
import type { BrowseRow, DensityScore, ExplanationRecord, FeatureRecord } from '../registry/registry.ts';
import type { SaeConfig } from '../sae/config.ts';
import type { QuantEntries } from '../model/quant/quantSource.ts';
import type { WeightMode } from '../model/hookedModel.ts';
import type { DeclaredTensor } from './partialWeights.ts';
import type { FeatureCalibration } from '../steering/sweep.ts';

/** One file of the site's data, relative to the site's root. */
export interface SiteFile {
  readonly path: string;
  readonly bytes: number;
  /** Lower-case hex SHA-256 of the bytes. */
  readonly sha256: string;
}

/** What `data/manifest.json` holds. */
export interface SiteManifest {
  readonly format: 'saescope-site';
  readonly version: 1;
  /** saescope version that wrote the site. */
  readonly saescope: string;
  /** Hash of every file's hash: names the browser cache, so a republished site is fetched again. */
  readonly id: string;
  readonly model: {
    readonly name: string;
    readonly config: Readonly<Record<string, unknown>>;
    /** The checkpoint's safetensors files, as the model folder had them. */
    readonly weights: readonly SiteFile[];
    readonly tokenizer: SiteFile;
    readonly tokenizerConfig: SiteFile | null;
    /** With `--weights int8`: the MatMulNBits data file, its entries, and the tensors it replaces (absent from `weights`). */
    readonly quant?: {
      readonly file: SiteFile;
      /** The entries' external-data location (the file's name). */
      readonly location: string;
      readonly entries: QuantEntries;
      readonly declared: readonly DeclaredTensor[];
      /** The weight mode exported (sites written before it: `int<bits>`). */
      readonly mode?: WeightMode;
    };
  };
  readonly saes: readonly {
    readonly name: string;
    /** The SAE's identity in the registry it was exported from (absent in sites written before identities). */
    readonly id?: string;
    /** The SAE's config with every load-time fold applied (the weights file holds the folded weights). */
    readonly cfg: SaeConfig;
    readonly weights: SiteFile;
    /** Dashboards, registry records and the scatter for this SAE (SiteFeatures JSON). */
    readonly features: SiteFile;
  }[];
  readonly limits: { readonly maxTextChars: number; readonly maxNewTokens: number };
}

/** One SAE's registry data in the site (what the server reads from SQLite). */
export interface SiteFeatures {
  /** Every feature the registry knew, as the Registry page lists them. */
  readonly rows: readonly BrowseRow[];
  /** Labels (name or best explanation) by feature. */
  readonly labels: Readonly<Record<string, string>>;
  /** Per feature: dashboard, record, explanations, steering calibration. */
  readonly features: Readonly<Record<string, {
    readonly dashboard: FeatureDashboard | null;
    readonly record: FeatureRecord | null;
    readonly explanations: readonly ExplanationRecord[];
    readonly calibration: FeatureCalibration | null;
  }>>;
  readonly scatter: readonly DensityScore[];
}

/** Hex SHA-256 through Web Crypto (Node 20 and browsers alike). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

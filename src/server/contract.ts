/**
 * The one typed contract between the server and the web app: every route's
 * request and response. Types only, so the browser bundle imports nothing
 * from the server.
 */
import type { ExampleDocument } from '../analysis/documents.ts';
import type { FeatureDashboard } from '../analysis/dashboard.ts';
import type { CorpusDiff, TextDiff } from '../analysis/compare.ts';
import type { BrowseRow, DensityScore, ExplanationRecord, FeatureRecord } from '../registry/registry.ts';
import type { ConditionalHistogram } from '../analysis/conditional.ts';
import type { FeatureCalibration, SweepRecord, SweepSettings } from '../steering/sweep.ts';
import type { CalibrationRecord } from '../registry/types.ts';

export type { FeatureDashboard, TextDiff, CorpusDiff, ExplanationRecord, FeatureRecord, FeatureCalibration, SweepRecord, BrowseRow, CalibrationRecord, SweepSettings };

/** POST /api/feature/:sae/:feature/calibration {id} applies a stored calibration; DELETE undoes the last apply. Both answer the feature's calibrations. */
export interface CalibrationApplyRequest {
  readonly id: number;
}
export interface CalibrationsResponse {
  readonly calibration: FeatureCalibration | null;
  readonly calibrations: readonly CalibrationRecord[];
}

/** An error body: every non-2xx answer. */
export interface ApiError {
  readonly error: string;
}

/** GET /api/info */
export interface InfoResponse {
  readonly model: string;
  readonly dModel: number;
  readonly nLayers: number;
  readonly nCtx: number;
  /** Whether the model has a chat template (the Steer page's chat toggle). */
  readonly chat: boolean;
  /** Served SAEs: display name, identity, and whether these weights were scanned into the registry. */
  /** A transcoder's `hookOut` is the hook it writes (its decoder rows steer there); an SAE has none. */
  readonly saes: readonly { name: string; id: string; hook: string; hookOut?: string; dSae: number; architecture: string; k?: number; scanned: boolean }[];
  readonly presets: Readonly<Record<string, number>>;
  readonly limits: { maxTextChars: number; maxNewTokens: number };
}

/** POST /api/analyze */
export interface AnalyzeRequest {
  readonly sae: string;
  readonly text: string;
  readonly top?: number;
  readonly pool?: 'max' | 'mean' | 'sum';
}
export interface AnalyzeResponse {
  /** Every active feature at each token (feature, activation), strongest first: what a click on a token lists. */
  readonly active?: { feature: number; act: number }[][];
  readonly tokens: string[];
  readonly pooled: boolean[];
  readonly top: { feature: number; score: number; max: number; mean: number; count: number; name: string | null }[];
  readonly heatmap: { features: number[]; values: number[][]; normalized: number[][] };
}

/** GET /api/feature/:sae/:feature */
export interface FeatureResponse {
  readonly sae: string;
  /** The SAE's identity (content fingerprint). */
  readonly saeId: string;
  readonly feature: number;
  /** Whether these weights were scanned (false: the page offers a scan instead of dashboards). */
  readonly scanned: boolean;
  /** The SAE's width (jump, previous, next, random). */
  readonly dSae: number;
  readonly record: FeatureRecord | null;
  readonly explanations: ExplanationRecord[];
  readonly dashboard: FeatureDashboard | null;
  /** Labels (name or best explanation) of the neighbouring features. */
  readonly labels: Readonly<Record<number, string>>;
  /** Whether an LLM endpoint is configured (the Explain button). */
  readonly explainer: boolean;
  /** The feature's applied sweep calibration (what its presets use), when one is applied. */
  readonly calibration: FeatureCalibration | null;
  /** Every stored calibration of the feature, newest first, with settings and which one is applied. */
  readonly calibrations: readonly CalibrationRecord[];
  /** Conditional activation distributions: by firing token (with a scan), by explanation match (after score --conditional). */
  readonly conditional: { readonly token: ConditionalHistogram; readonly explanation: ConditionalHistogram | null } | null;
  /** Whether examples expand to their whole documents here (the scan's corpus is one this server may read). */
  readonly documents: boolean;
}

/** GET /api/feature/:sae/:feature/document?row=R&pos=P: an example of the dashboard in its whole document. */
export type DocumentResponse = ExampleDocument;

/** POST /api/feature/:sae/:feature/explain */
export interface ExplainResponse {
  readonly explanations: ExplanationRecord[];
}

/** PUT /api/feature/:sae/:feature */
export interface FeatureEditRequest {
  readonly name?: string | null;
  readonly notes?: string | null;
  readonly tags?: string[];
  readonly description?: string | null;
  readonly examples?: string[];
  readonly confidence?: number | null;
  /**
   * The record's `updatedAt` when the edit began (null: there was no record).
   * When given and the record changed since, the answer is 409 with the
   * current record, and nothing is written.
   */
  readonly base?: string | null;
}

/** POST /api/compare */
export interface CompareRequest {
  readonly sae: string;
  readonly a: string;
  readonly b: string;
  readonly top?: number;
}
export interface CompareResponse {
  /** Rows with each feature's label (name or best explanation). */
  readonly rows: (TextDiff & { name: string | null })[];
}

/** One feature to steer. */
export interface SteerFeature {
  readonly feature: number;
  readonly preset?: 'light' | 'medium' | 'strong';
  readonly strength?: number;
  readonly clamp?: number;
}

/** The strength a steered feature used (after presets, with where the preset came from). */
export interface SteerStrengthUsed {
  feature: number; strength?: number; clamp?: number; preset?: string; presetSource?: 'calibration' | 'default'; multiple?: number; presetReason?: string;
}

/** POST /api/steer: answered as NDJSON lines of `SteerEvent`. */
export interface SteerRequest {
  readonly sae: string;
  readonly prompt: string;
  /** The features to steer together (one steered output). */
  readonly features?: SteerFeature[];
  /** Or several steerings compared side by side (one steered output each, decoded in one batch); `features` is then left out. */
  readonly variants?: SteerFeature[][];
  readonly positions?: 'prompt' | 'generated' | 'all';
  readonly maxNewTokens?: number;
  readonly temperature?: number;
  readonly seed?: number;
  /** Wrap the prompt as a user turn of the model's chat template. */
  readonly chat?: boolean;
}
export type SteerEvent =
  /** The text so far of the unsteered output, or of a steered one (`variant`: its index; 0 with `features`). */
  | { kind: 'token'; which: 'steered' | 'unsteered'; variant?: number; text: string }
  | { kind: 'done'; steered: string; unsteered: string; strengths: SteerStrengthUsed[];
      /** Why each output ended: `context` when the model's context filled before the requested length. */
      stopReasons?: { steered: string; unsteered: string }; contextNote?: string;
      /** Every variant's output (the first is `steered`). */
      variants?: { steered: string; strengths: SteerStrengthUsed[]; stopReason: string }[] }
  | { kind: 'error'; error: string };

/** POST /api/sweep */
export interface SweepRequest {
  readonly sae: string;
  readonly features: number[];
  readonly prompts: string[];
  readonly magnitudes?: number[];
  readonly maxNewTokens?: number;
}
export interface SweepResponse {
  /** What the calibrations were measured with (weak: fewer than 3 prompts or 32 tokens). */
  readonly settings: SweepSettings;
  readonly records: SweepRecord[];
  readonly features: FeatureCalibration[];
  readonly robustnessVsDensity: { rho: number; p: number; n: number };
}

/** GET /api/search?q= : features whose name, explanation or tags match, in every served SAE. */
export interface SearchResponse {
  readonly results: readonly { sae: string; feature: number; name: string | null; explanation: string | null; density: number | null }[];
}

/** GET /api/registry?sae=&search=&sort=feature|density|max|name&desc=&offset=&limit= : every feature the registry knows, paged. */
export interface RegistryResponse {
  readonly total: number;
  readonly offset: number;
  readonly features: BrowseRow[];
}

/** GET /api/registry/scatter?sae= : density against the detection score, per feature with both. */
export interface ScatterResponse {
  readonly points: readonly DensityScore[];
}

/** GET /api/data: the corpora jobs may read (paths as a job request takes them; `bytes` is a folder's .txt count). */
export interface DataResponse {
  readonly corpora: readonly { path: string; kind: 'txt' | 'jsonl' | 'folder'; bytes: number }[];
}

/** POST /api/jobs */
export type JobRequest =
  | { kind: 'train'; hook: string; architecture: 'topk' | 'standard' | 'batchtopk' | 'jumprelu'; dSae: number; k?: number; corpus: string; tokens: number; out: string; batchSize?: number; lr?: number; overwrite?: boolean }
  | { kind: 'scan'; sae: string; corpus: string; tokens: number };

/** A job's state. */
export interface Job {
  readonly id: string;
  readonly kind: 'train' | 'scan';
  readonly status: 'queued' | 'running' | 'done' | 'failed' | 'stopped';
  readonly progress: number;
  readonly message: string;
  /** Training curves: step, loss, L0, explained variance. */
  readonly curve: { step: number; loss: number; l0: number; ev: number }[];
  /** A finished training job's explained variance on its last batch. */
  readonly finalEv?: number;
  readonly request: JobRequest;
  /** The SAE a finished training job made (its identity and display name), or the SAE a scan read. */
  readonly sae?: { readonly id: string; readonly name: string };
}
export interface JobsResponse {
  readonly jobs: Job[];
}

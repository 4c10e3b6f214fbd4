/**
 * The registry's records and the narrow interfaces the layers above use.
 * Every record is filed under a model identity and an SAE identity
 * (`RecordKeys`), never under a path: see identities.ts.
 */

/** The identities a record is filed under: a model id (`hf:org/name@rev` or `model-…`) and an SAE id (`sae-…`). */
export interface RecordKeys {
  readonly model: string;
  readonly sae: string;
}

/** One feature's record. */
export interface FeatureRecord {
  readonly model: string;
  readonly sae: string;
  readonly feature: number;
  readonly name: string | null;
  readonly description: string | null;
  readonly confidence: number | null;
  /** The word the confidence was given as (`low`, `medium`, `high`), when it was; `confidence` holds its number. */
  readonly confidenceLabel: string | null;
  readonly notes: string | null;
  readonly tags: readonly string[];
  readonly examples: readonly string[];
  readonly updatedAt: string;
}

/** Editable fields of a feature. */
export type FeaturePatch = Partial<Pick<FeatureRecord, 'name' | 'description' | 'confidence' | 'confidenceLabel' | 'notes' | 'tags' | 'examples'>>;

/** The numbers confidence words map to. */
export const CONFIDENCE_WORDS: Readonly<Record<string, number>> = { low: 0.25, medium: 0.5, high: 0.75 };

/** An explanation with its scores. */
export interface ExplanationRecord {
  readonly id: number;
  readonly feature: number;
  readonly explanation: string;
  /**
   * `llm`, `heuristic` (never shown as an LLM explanation), `neuronpedia`
   * (imported) or `carried` (copied from the matching latent of another SAE,
   * with the match in its scores).
   */
  readonly source: 'llm' | 'heuristic' | 'neuronpedia' | 'carried';
  readonly explainerModel: string | null;
  readonly promptVersion: string | null;
  readonly scores: Readonly<Record<string, unknown>>;
  readonly createdAt: string;
}

/** One point of the density-vs-interpretability scatter. */
export interface DensityScore {
  readonly feature: number;
  /** Fraction of scanned tokens where the feature fires. */
  readonly density: number;
  /** Detection balanced accuracy of the feature's newest scored explanation. */
  readonly detection: number;
  /** Where that explanation came from (`llm`, `neuronpedia`, `carried`). */
  readonly source: string;
}

/** What an LLM said changed when a feature was steered at one magnitude on one prompt. */
export interface SteeringDescription {
  readonly feature: number;
  readonly prompt: string;
  /** Multiple of the feature's typical maximum. */
  readonly magnitude: number;
  readonly description: string;
  /** Cosine similarity of the description to the feature's explanation; null without an explanation. */
  readonly similarity: number | null;
  /** How the similarity was computed: `endpoint:<model>` or `lexical`. */
  readonly method: string;
}

/** One stored calibration of a feature. */
export interface CalibrationRecord {
  readonly id: number;
  readonly calibration: unknown;
  /** What the sweep measured it with (prompts, magnitudes, tokens, date, weak). */
  readonly settings: unknown;
  readonly createdAt: string;
  /** Whether it is the one the feature's presets use. */
  readonly applied: boolean;
}

/** A page of `browse`. */
export interface BrowseQuery {
  readonly search?: string;
  readonly sort?: 'feature' | 'density' | 'max' | 'name';
  readonly desc?: boolean;
  readonly limit?: number;
  readonly offset?: number;
}

/** One row of `browse`. */
export interface BrowseRow {
  readonly feature: number;
  readonly name: string | null;
  readonly explanation: string | null;
  readonly tags: readonly string[];
  readonly confidence: number | null;
  readonly density: number | null;
  readonly maxAct: number | null;
}

/** Where an SAE or model was seen. */
export interface Location {
  /** Real path (symlinks resolved), or the path as recorded when it no longer resolves. */
  readonly path: string;
  readonly firstSeen: string;
  readonly lastSeen: string;
}

/** An SAE the registry knows, by identity. */
export interface SaeEntry {
  /** `sae-` + 32 hex (content), or `unresolved-…` for records whose folder was gone at migration. */
  readonly id: string;
  /** Short unique display name (URLs, menus, exports). */
  readonly name: string;
  readonly hook: string | null;
  readonly dIn: number | null;
  readonly dSae: number | null;
  readonly architecture: string | null;
  /** The model name in the SAE's own metadata. */
  readonly modelName: string | null;
  /** `ok`, or `unresolved` (migrated rows whose folder no longer existed). */
  readonly status: 'ok' | 'unresolved';
  readonly firstSeen: string;
  readonly lastSeen: string;
  /** Every location, most recently seen first. */
  readonly locations: readonly Location[];
}

/** A model the registry knows, by identity. */
export interface ModelEntry {
  /** `hf:org/name@revision`, `model-` + 32 hex (content), or `unresolved-…`. */
  readonly id: string;
  readonly name: string;
  readonly hfId: string | null;
  readonly revision: string | null;
  readonly status: 'ok' | 'unresolved';
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly locations: readonly Location[];
}

/** What steering reads from a registry (typical maxima and calibrations); a static site implements it from JSON. */
export interface RegistryReader {
  dashboard<T = unknown>(model: string, sae: string, feature: number): T | undefined;
  calibration<T = unknown>(model: string, sae: string, feature: number): T | undefined;
}

/** What the LLM client caches its answers in. */
export interface AnswerCache {
  cachedAnswer(key: string): string | undefined;
  cacheAnswer(key: string, response: string): void;
}

/** What naming, scoring and lineage read and write: features, explanations and scans, by identity. */
export interface ExplanationLog extends RegistryReader {
  get(model: string, sae: string, feature: number): FeatureRecord | undefined;
  set(model: string, sae: string, feature: number, patch: FeaturePatch, expectUpdatedAt?: string | null): FeatureRecord;
  explanations(model: string, sae: string, feature: number): ExplanationRecord[];
  addExplanation(model: string, sae: string, feature: number, e: Omit<ExplanationRecord, 'id' | 'feature' | 'createdAt'>): number;
  scoreExplanation(id: number, scores: Record<string, unknown>): void;
  removeExplanations(model: string, sae: string, feature: number, which: (e: ExplanationRecord) => boolean): void;
  setSteeringDescriptions(model: string, sae: string, rows: readonly SteeringDescription[]): void;
}

/** An edit made from a stale copy of a feature: carries the current record. */
export class ConflictError extends Error {
  constructor(readonly current: FeatureRecord | undefined) {
    super(`this feature was changed elsewhere${current ? ` at ${current.updatedAt}` : ''} since it was loaded; reload it and edit again`);
  }
}

/** Throws unless `f` is a feature index. */
export function checkFeature(f: number): void {
  if (!Number.isInteger(f) || f < 0) throw new Error(`feature index must be a non-negative integer, got ${f}`);
}

let lastStamp = 0;
/** Now, as stored; strictly increasing within a process, so "last seen" orders events in the same millisecond. */
export function nowIso(): string {
  lastStamp = Math.max(Date.now(), lastStamp + 1);
  return new Date(lastStamp).toISOString();
}

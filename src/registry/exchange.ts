/**
 * Registry exchange files. `saescope-registry` version 2 holds everything the
 * registry knows about one SAE under one model, keyed by their identities:
 * features (name, description, confidence, notes, tags, examples), every
 * explanation with its explainer, prompt version and scores, calibrations,
 * steering descriptions and, on request, dashboards. Importing it into any
 * registry gives equal records. The seed-style shape
 * `{"1234": {name, description, examples, confidence, notes}}` imports too
 * (into an SAE the caller names), with `confidence` a number in [0, 1] or
 * low/medium/high.
 */
import type { Registry } from './registry.ts';
import { CONFIDENCE_WORDS, type ExplanationRecord, type FeaturePatch, type ModelEntry, type RecordKeys, type SaeEntry, type SteeringDescription } from './types.ts';

/** One feature in an exchange file. */
export interface ExchangeFeature {
  readonly name: string | null;
  readonly description: string | null;
  readonly confidence: number | null;
  readonly confidenceLabel?: string | null;
  readonly notes: string | null;
  readonly tags: readonly string[];
  readonly examples: readonly string[];
}

/** The complete exchange file (version 2). */
export interface RegistryExport {
  readonly format: 'saescope-registry';
  readonly version: 2;
  readonly model: Pick<ModelEntry, 'id' | 'name' | 'hfId' | 'revision'>;
  readonly sae: Pick<SaeEntry, 'id' | 'name' | 'hook' | 'dIn' | 'dSae' | 'architecture' | 'modelName'>;
  readonly features: Readonly<Record<string, ExchangeFeature>>;
  readonly explanations: readonly (Omit<ExplanationRecord, 'id'>)[];
  readonly calibrations: Readonly<Record<string, unknown>>;
  readonly steeringDescriptions: readonly SteeringDescription[];
  /** Present when exported with dashboards. */
  readonly dashboards?: Readonly<Record<string, unknown>>;
}

/** The seed-style shape. */
export type SeedRegistryJson = Record<string, { name?: string | null; description?: string | null; examples?: string[]; confidence?: number | string | null; notes?: string | null; tags?: string[] }>;

/** Most features an exchange file may hold. */
const MAX_FEATURES = 4_000_000;

/** Everything about one SAE under one model. */
export function exportRegistry(reg: Registry, keys: RecordKeys, o: { dashboards?: boolean } = {}): RegistryExport {
  const model = reg.identities.model(keys.model);
  const sae = reg.identities.sae(keys.sae);
  if (!model) throw new Error(`no model ${keys.model} in the registry`);
  if (!sae) throw new Error(`no SAE ${keys.sae} in the registry`);
  const features: Record<string, ExchangeFeature> = {};
  for (const r of reg.list({ model: keys.model, sae: keys.sae, limit: 1e9 })) {
    // Rows that hold nothing (made when an explanation was filed) carry no information.
    if (r.name === null && r.description === null && r.confidence === null && r.notes === null && !r.tags.length && !r.examples.length) continue;
    features[String(r.feature)] = { name: r.name, description: r.description, confidence: r.confidence, confidenceLabel: r.confidenceLabel, notes: r.notes, tags: [...r.tags], examples: [...r.examples] };
  }
  const explanations = reg.explanationStore.all(keys.model, keys.sae).map(({ id: _id, ...e }) => e);
  return {
    format: 'saescope-registry', version: 2,
    model: { id: model.id, name: model.name, hfId: model.hfId, revision: model.revision },
    sae: { id: sae.id, name: sae.name, hook: sae.hook, dIn: sae.dIn, dSae: sae.dSae, architecture: sae.architecture, modelName: sae.modelName },
    features, explanations, calibrations: Object.fromEntries(reg.steering.calibrations(keys.model, keys.sae)),
    steeringDescriptions: reg.steering.descriptions(keys.model, keys.sae),
    ...(o.dashboards ? { dashboards: Object.fromEntries(reg.dashboards.all(keys.model, keys.sae)) } : {}),
  };
}

/** What an import did. */
export interface ImportReport {
  readonly keys: RecordKeys;
  readonly features: number;
  readonly explanations: number;
  readonly calibrations: number;
  readonly dashboards: number;
}

/**
 * Imports an exchange file, in one transaction. A version-2 file goes under
 * its own identities unless `into` names others (its SAE and model entries
 * are created when the registry lacks them); the seed shape needs `into`.
 * Explanations already present (same text, source, explainer and prompt
 * version) are not added twice.
 */
export function importRegistry(reg: Registry, data: unknown, into?: RecordKeys, what = 'registry JSON'): ImportReport {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`${what}: expected an object (a saescope-registry export, or features keyed by index)`);
  const full = (data as { format?: unknown }).format === 'saescope-registry';
  if (full) checkExport(data as RegistryExport, what);
  else checkSeed(data as SeedRegistryJson, what);
  return reg.transaction(() => {
    let keys: RecordKeys;
    if (full) {
      const x = data as RegistryExport;
      keys = into ?? { model: reg.identities.ensureModel(x.model).id, sae: reg.identities.ensureSae(x.sae).id };
      return importFull(reg, x, keys);
    }
    if (!into) throw new Error(`${what}: features keyed by index need the SAE and model to file them under (--sae and --model)`);
    keys = into;
    let n = 0;
    for (const [k, v] of Object.entries(data as SeedRegistryJson)) {
      reg.set(keys.model, keys.sae, Number(k), seedPatch(v));
      n++;
    }
    return { keys, features: n, explanations: 0, calibrations: 0, dashboards: 0 };
  });
}

function importFull(reg: Registry, x: RegistryExport, keys: RecordKeys): ImportReport {
  for (const [k, v] of Object.entries(x.features)) {
    reg.set(keys.model, keys.sae, Number(k), {
      name: v.name, description: v.description, confidence: v.confidence, confidenceLabel: v.confidenceLabel ?? null, notes: v.notes, tags: [...v.tags], examples: [...v.examples],
    });
  }
  let explanations = 0;
  for (const e of x.explanations) {
    const dup = reg.explanations(keys.model, keys.sae, e.feature).some((y) => y.explanation === e.explanation && y.source === e.source && y.explainerModel === e.explainerModel && y.promptVersion === e.promptVersion);
    if (dup) continue;
    reg.explanationStore.add(keys.model, keys.sae, e.feature, e);
    explanations++;
  }
  for (const [k, c] of Object.entries(x.calibrations)) reg.setCalibration(keys.model, keys.sae, Number(k), c);
  if (x.steeringDescriptions.length) reg.setSteeringDescriptions(keys.model, keys.sae, x.steeringDescriptions);
  const dashboards = x.dashboards ? new Map(Object.entries(x.dashboards).map(([k, d]) => [Number(k), d])) : new Map();
  if (dashboards.size) reg.setDashboards(keys.model, keys.sae, dashboards);
  return { keys, features: Object.keys(x.features).length, explanations, calibrations: Object.keys(x.calibrations).length, dashboards: dashboards.size };
}

/** A seed-style entry as a patch: confidence words map to numbers and are kept. */
function seedPatch(v: SeedRegistryJson[string]): FeaturePatch {
  const patch: Record<string, unknown> = {};
  for (const key of ['name', 'description', 'notes', 'examples', 'tags'] as const) if (v[key] !== undefined) patch[key] = v[key];
  if (typeof v.confidence === 'string') patch.confidenceLabel = v.confidence.trim().toLowerCase();
  else if (v.confidence !== undefined) patch.confidence = v.confidence;
  return patch as FeaturePatch;
}

const isIndex = (k: string) => /^\d{1,9}$/.test(k);
const strOrNull = (v: unknown) => v === null || v === undefined || typeof v === 'string';
const strList = (v: unknown) => v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string'));

function checkSeed(data: SeedRegistryJson, what: string): void {
  const entries = Object.entries(data);
  if (entries.length > MAX_FEATURES) throw new Error(`${what}: ${entries.length} features; the limit is ${MAX_FEATURES}`);
  for (const [k, v] of entries) {
    if (!isIndex(k)) throw new Error(`${what}: key '${k}' is not a feature index`);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what}: feature ${k} is not an object`);
    for (const f of ['name', 'description', 'notes'] as const) if (!strOrNull(v[f])) throw new Error(`${what}: feature ${k}: ${f} must be a string`);
    if (!strList(v.examples)) throw new Error(`${what}: feature ${k}: examples must be a list of strings`);
    if (!strList(v.tags)) throw new Error(`${what}: feature ${k}: tags must be a list of strings`);
    const c = v.confidence;
    const okWord = typeof c === 'string' && CONFIDENCE_WORDS[c.trim().toLowerCase()] !== undefined;
    const okNumber = c === null || c === undefined || (typeof c === 'number' && c >= 0 && c <= 1);
    if (!okWord && !okNumber) throw new Error(`${what}: feature ${k}: confidence must be a number in [0, 1] or one of ${Object.keys(CONFIDENCE_WORDS).join(', ')}, got ${JSON.stringify(c)}`);
  }
}

function checkExport(x: RegistryExport, what: string): void {
  if (x.version !== 2) throw new Error(`${what}: saescope-registry version ${String(x.version)} is not one this saescope reads (2)`);
  if (typeof x.model?.id !== 'string' || typeof x.sae?.id !== 'string' || typeof x.sae?.name !== 'string') throw new Error(`${what}: model.id, sae.id and sae.name are required`);
  if (typeof x.features !== 'object' || x.features === null) throw new Error(`${what}: features must be an object keyed by index`);
  checkSeed(x.features as unknown as SeedRegistryJson, `${what} features`);
  if (!Array.isArray(x.explanations)) throw new Error(`${what}: explanations must be a list`);
  for (const [i, e] of x.explanations.entries()) {
    if (!Number.isInteger(e?.feature) || e.feature < 0 || typeof e.explanation !== 'string' || !['llm', 'heuristic', 'neuronpedia', 'carried'].includes(e.source)) {
      throw new Error(`${what}: explanation ${i} needs a feature index, an explanation text and a source (llm, heuristic, neuronpedia, carried)`);
    }
    if (typeof e.scores !== 'object' || e.scores === null) throw new Error(`${what}: explanation ${i}: scores must be an object`);
  }
  for (const [k] of Object.entries(x.calibrations ?? {})) if (!isIndex(k)) throw new Error(`${what}: calibration key '${k}' is not a feature index`);
  if (!Array.isArray(x.steeringDescriptions)) throw new Error(`${what}: steeringDescriptions must be a list`);
  for (const [k] of Object.entries(x.dashboards ?? {})) if (!isIndex(k)) throw new Error(`${what}: dashboard key '${k}' is not a feature index`);
}

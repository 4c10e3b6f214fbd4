/**
 * The research record: one SQLite file (better-sqlite3, WAL mode) holding
 * models and SAEs by identity (identities.ts) and, per (model, SAE, feature),
 * names, notes, tags and examples (features.ts), explanations with scores
 * (explanations.ts), scan dashboards (dashboards.ts), steering calibrations
 * and descriptions (steeringStore.ts) and cached LLM answers. `Registry` is
 * the facade over those stores. Rows are filed under identities, never under
 * paths: any spelling of a folder, a copy or a move finds the same record,
 * and new weights in an old folder are a new SAE. Every write is one
 * transaction; concurrent processes wait on the lock (busy timeout).
 */
import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import type { HookedModel } from '../model/hookedModel.ts';
import { findCachedSnapshot } from '../io/hub.ts';
import { modelSource } from '../model/identity.ts';
import { saeIdentity } from '../sae/identity.ts';
import type { Sae } from '../sae/sae.ts';
import { DashboardStore } from './dashboards.ts';
import { ExplanationStore, type NewExplanation } from './explanations.ts';
import { FeatureStore } from './features.ts';
import { IdentityStore } from './identities.ts';
import { migratePathKeys, type KeyMigration } from './migrateKeys.ts';
import { IDENTITY_MIGRATION, MIGRATIONS } from './schema.ts';
import { LlmCacheStore, SteeringStore } from './steeringStore.ts';
import type {
  BrowseQuery, BrowseRow, DensityScore, ExplanationRecord, FeaturePatch, FeatureRecord, ModelEntry, RecordKeys, RegistryReader, SaeEntry, SteeringDescription,
} from './types.ts';

export * from './types.ts';

/** Default registry path: `$SAESCOPE_REGISTRY` or `./saescope-registry.db`. */
export function defaultRegistryPath(): string {
  return process.env.SAESCOPE_REGISTRY ?? 'saescope-registry.db';
}

/** The keys of a model and an SAE, with the SAE's display name. */
export interface FiledSae extends RecordKeys {
  /** The SAE's unique display name. */
  readonly name: string;
}

/** A hub id: `name` or `owner/name`. */
const HUB_ID = /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/;

const modelIds = new WeakMap<HookedModel, { file: string; id: string }>();

/** An open registry. */
export class Registry implements RegistryReader {
  readonly identities: IdentityStore;
  readonly features: FeatureStore;
  readonly explanationStore: ExplanationStore;
  readonly dashboards: DashboardStore;
  readonly steering: SteeringStore;
  readonly llmCache: LlmCacheStore;
  /** What opening this file migrated from path keys, when it did. */
  migration?: KeyMigration;

  private constructor(private readonly db: Database.Database, readonly path: string) {
    this.identities = new IdentityStore(db);
    this.features = new FeatureStore(db);
    this.explanationStore = new ExplanationStore(db);
    this.dashboards = new DashboardStore(db);
    this.steering = new SteeringStore(db);
    this.llmCache = new LlmCacheStore(db);
  }

  /** Opens (creating and migrating as needed) the registry at `file`. */
  static open(file: string = defaultRegistryPath()): Registry {
    if (fs.existsSync(file)) {
      const head = Buffer.alloc(16);
      const fd = fs.openSync(file, 'r');
      const n = fs.readSync(fd, head, 0, 16, 0);
      fs.closeSync(fd);
      if (n > 0 && head.toString('latin1', 0, 15) !== 'SQLite format 3') {
        throw new Error(`${file}: not a saescope registry (not an SQLite database); nothing was changed`);
      }
    }
    let db: Database.Database;
    try {
      db = new Database(file);
      db.pragma('busy_timeout = 30000');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    } catch (e) {
      throw new Error(`${file}: cannot open the registry (${(e as Error).message})`);
    }
    const r = new Registry(db, file);
    try {
      r.migrate();
    } catch (e) {
      db.close();
      throw e;
    }
    return r;
  }

  /** Schema version (migrations applied). */
  get version(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Runs `fn` in one transaction (nested calls join it). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  // Identity.

  /** Files a loaded model under its identity, recording where it was loaded from. */
  modelEntry(model: HookedModel): ModelEntry {
    const known = modelIds.get(model);
    if (known?.file === this.path) {
      const e = this.identities.model(known.id);
      if (e) return e;
    }
    const src = modelSource(model.name, model.hfId);
    const e = this.identities.registerModel(this.identities.modelId(src), src, model.name);
    modelIds.set(model, { file: this.path, id: e.id });
    return e;
  }

  /** Files a loaded SAE under its identity (seen at `dir`, named `name` or after its folder). */
  saeEntry(sae: Sae, dir?: string, name?: string): SaeEntry {
    const c = sae.cfg;
    return this.identities.registerSae(saeIdentity(sae), { hook: c.hookName, dIn: c.dIn, dSae: c.dSae, architecture: c.architecture, modelName: c.modelName }, dir ?? (sae.source || undefined), name);
  }

  /**
   * Files the model at a folder or llama2.c file, or a hub id (at its cached
   * revision; `hf:ID` without one when the cache lacks it, e.g. a model known
   * only from Neuronpedia), without loading it.
   */
  modelAt(pathOrId: string): ModelEntry {
    let location = pathOrId;
    let hfId: string | undefined;
    if (!fs.existsSync(pathOrId)) {
      if (!HUB_ID.test(pathOrId)) throw new Error(`model ${pathOrId}: no such folder or file, and not an HF hub id`);
      const snap = findCachedSnapshot(pathOrId);
      if (!snap) return this.identities.ensureModel({ id: `hf:${pathOrId}`, name: pathOrId, hfId: pathOrId, revision: null });
      location = snap;
      hfId = pathOrId;
    }
    const src = modelSource(location, hfId);
    return this.identities.registerModel(this.identities.modelId(src), src, location);
  }

  /** Models with records for this SAE, most records first. */
  modelsOf(sae: string): string[] {
    return (this.db.prepare(`SELECT model, COUNT(*) AS n FROM (SELECT model FROM features WHERE sae = @s UNION ALL SELECT model FROM dashboards WHERE sae = @s
      UNION ALL SELECT model FROM explanations WHERE sae = @s UNION ALL SELECT model FROM calibrations WHERE sae = @s) GROUP BY model ORDER BY n DESC, model`).all({ s: sae }) as { model: string }[]).map((r) => r.model);
  }

  /** The keys to file an SAE's records under with this model, and its display name. */
  file(model: HookedModel, sae: Sae, dir?: string, name?: string): FiledSae {
    const m = this.modelEntry(model);
    const s = this.saeEntry(sae, dir, name);
    return { model: m.id, sae: s.id, name: s.name };
  }

  // Features.

  /** One feature, or undefined. */
  get(model: string, sae: string, feature: number): FeatureRecord | undefined {
    return this.features.get(model, sae, feature);
  }

  /** Creates or updates a feature (one transaction; `expectUpdatedAt` refuses edits from a stale copy). */
  set(model: string, sae: string, feature: number, patch: FeaturePatch, expectUpdatedAt?: string | null): FeatureRecord {
    return this.features.set(model, sae, feature, patch, expectUpdatedAt);
  }

  /** Adds a tag to a feature. */
  addTag(model: string, sae: string, feature: number, tag: string): FeatureRecord {
    return this.features.addTag(model, sae, feature, tag);
  }

  /** Features matching a search over name, description, notes, explanations and tags. */
  list(q: Parameters<FeatureStore['list']>[0] = {}): FeatureRecord[] {
    return this.features.list(q);
  }

  // Explanations.

  /** Records an explanation (and makes sure the feature exists). */
  addExplanation(model: string, sae: string, feature: number, e: NewExplanation): number {
    return this.explanationStore.add(model, sae, feature, e);
  }

  /** Deletes a feature's explanations that `which` selects. */
  removeExplanations(model: string, sae: string, feature: number, which: (e: ExplanationRecord) => boolean): void {
    this.explanationStore.remove(model, sae, feature, which);
  }

  /** Replaces the heuristic names of these features. */
  setHeuristicNames(model: string, sae: string, names: ReadonlyMap<number, string>): void {
    this.explanationStore.setHeuristicNames(model, sae, names);
  }

  /** Merges scores into an explanation's. */
  scoreExplanation(id: number, scores: Record<string, unknown>): void {
    this.explanationStore.score(id, scores);
  }

  /** A feature's explanations, newest first. */
  explanations(model: string, sae: string, feature: number): ExplanationRecord[] {
    return this.explanationStore.list(model, sae, feature);
  }

  // Scans.

  /** Stores dashboard data for many features in one transaction. */
  setDashboards(model: string, sae: string, data: ReadonlyMap<number, unknown>): void {
    this.dashboards.set(model, sae, data);
  }

  /** A feature's dashboard data, or undefined. */
  dashboard<T = unknown>(model: string, sae: string, feature: number): T | undefined {
    return this.dashboards.get<T>(model, sae, feature);
  }

  /** Every known feature of an SAE, searched, sorted and paged, with the total. */
  browse(model: string, sae: string, q: BrowseQuery = {}): { total: number; rows: BrowseRow[] } {
    return this.dashboards.browse(model, sae, q);
  }

  /** Each feature's label: its name, else its best explanation. */
  labels(model: string, sae: string): Map<number, string> {
    return this.dashboards.labels(model, sae);
  }

  /** Density against detection score, per scanned and scored feature. */
  densityVsDetection(model: string, sae: string): DensityScore[] {
    return this.dashboards.densityVsDetection(model, sae);
  }

  // Steering.

  /** Stores a feature's calibration and applies it. */
  setCalibration(model: string, sae: string, feature: number, calibration: unknown): void {
    this.steering.setCalibration(model, sae, feature, calibration);
  }

  /** Stores a sweep's calibration as a candidate; returns its id. */
  addCalibration(model: string, sae: string, feature: number, calibration: unknown, settings: unknown): number {
    return this.steering.addCalibration(model, sae, feature, calibration, settings);
  }

  /** Makes a stored calibration the one its feature's presets use. */
  applyCalibration(id: number): void {
    this.steering.applyCalibration(id);
  }

  /** A feature's applied steering calibration, or undefined. */
  calibration<T = unknown>(model: string, sae: string, feature: number): T | undefined {
    return this.steering.calibration<T>(model, sae, feature);
  }

  /** Stores steering descriptions. */
  setSteeringDescriptions(model: string, sae: string, rows: readonly SteeringDescription[]): void {
    this.steering.setDescriptions(model, sae, rows);
  }

  /** A feature's steering descriptions. */
  steeringDescriptions(model: string, sae: string, feature: number): SteeringDescription[] {
    return this.steering.descriptions(model, sae, feature);
  }

  // LLM answers.

  /** A cached LLM answer, or undefined. */
  cachedAnswer(key: string): string | undefined {
    return this.llmCache.get(key);
  }

  /** Caches an LLM answer. */
  cacheAnswer(key: string, response: string): void {
    this.llmCache.put(key, response);
  }

  /** Closes the database. */
  close(): void {
    this.db.close();
  }

  private migrate(): void {
    const v = this.version;
    if (v > MIGRATIONS.length) throw new Error(`${this.path}: registry schema version ${v} is newer than this saescope (${MIGRATIONS.length}); upgrade saescope`);
    if (v === MIGRATIONS.length) return;
    this.db.transaction(() => {
      for (let i = this.version; i < MIGRATIONS.length; i++) {
        this.db.exec(MIGRATIONS[i]);
        this.db.pragma(`user_version = ${i + 1}`);
        // Rows filed under paths move to identities in the same transaction: a failure leaves the old file as it was.
        if (i + 1 === IDENTITY_MIGRATION) this.migration = migratePathKeys(this.db, this.identities, this.path);
      }
    }).immediate();
  }
}

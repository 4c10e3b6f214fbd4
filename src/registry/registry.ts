/**
 * The feature registry: one SQLite file (better-sqlite3, WAL mode) holding,
 * per (model, SAE, feature), a name, description, confidence, tags, notes and
 * example texts; explanations with their scores; the scan's dashboard data;
 * and steering calibrations. Every write is one transaction; concurrent
 * processes wait on the lock (busy timeout) rather than fail or lose edits.
 * JSON exchange uses the shape `{"1234": {name, description, examples, confidence, notes}}`.
 */
import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './schema.ts';

/** One feature's record. */
export interface FeatureRecord {
  readonly model: string;
  readonly sae: string;
  readonly feature: number;
  readonly name: string | null;
  readonly description: string | null;
  readonly confidence: number | null;
  readonly notes: string | null;
  readonly tags: readonly string[];
  readonly examples: readonly string[];
  readonly updatedAt: string;
}

/** Editable fields of a feature. */
export type FeaturePatch = Partial<Pick<FeatureRecord, 'name' | 'description' | 'confidence' | 'notes' | 'tags' | 'examples'>>;

/** An explanation with its scores. */
/** What steering reads from a registry (typical maxima and calibrations); a static site implements it from JSON. */
export type RegistryReader = Pick<Registry, 'dashboard' | 'calibration'>;

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

/** SQL ranking an explanation source column for labels: LLM, then Neuronpedia, then carried, then heuristic. */
const sourceRank = (col: string): string => `CASE ${col} WHEN 'llm' THEN 0 WHEN 'neuronpedia' THEN 1 WHEN 'carried' THEN 2 ELSE 3 END`;

/** An edit made from a stale copy of a feature: carries the current record. */
export class ConflictError extends Error {
  constructor(readonly current: FeatureRecord | undefined) {
    super(`this feature was changed elsewhere${current ? ` at ${current.updatedAt}` : ''} since it was loaded; reload it and edit again`);
  }
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

/** The JSON exchange shape. */
export type RegistryJson = Record<string, { name?: string | null; description?: string | null; examples?: string[]; confidence?: number | null; notes?: string | null }>;

/** Default registry path: `$SAESCOPE_REGISTRY` or `./saescope-registry.db`. */
export function defaultRegistryPath(): string {
  return process.env.SAESCOPE_REGISTRY ?? 'saescope-registry.db';
}

interface Row {
  model: string; sae: string; feature: number; name: string | null; description: string | null; confidence: number | null;
  notes: string | null; tags: string; examples: string; updated_at: string;
}

/** An open registry. */
export class Registry {
  private constructor(private readonly db: Database.Database, readonly path: string) {}

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
    r.migrate();
    return r;
  }

  /** Schema version (migrations applied). */
  get version(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** One feature, or undefined. */
  get(model: string, sae: string, feature: number): FeatureRecord | undefined {
    const row = this.db.prepare('SELECT * FROM features WHERE model = ? AND sae = ? AND feature = ?').get(model, sae, feature) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Creates or updates a feature with the given fields, in one transaction. */
  set(model: string, sae: string, feature: number, patch: FeaturePatch, expectUpdatedAt?: string | null): FeatureRecord {
    checkFeature(feature);
    const tx = this.db.transaction(() => {
      const cur = this.get(model, sae, feature);
      // Optimistic concurrency: an edit made from a stale copy is refused, not merged over newer fields.
      if (expectUpdatedAt !== undefined && (cur?.updatedAt ?? null) !== expectUpdatedAt) throw new ConflictError(cur);
      // updated_at strictly increases, so it identifies a version even for edits within one millisecond.
      const stamp = Math.max(Date.now(), cur ? Date.parse(cur.updatedAt) + 1 : 0);
      const next = { ...(cur ?? { name: null, description: null, confidence: null, notes: null, tags: [], examples: [] }), ...patch };
      if (next.confidence !== null && next.confidence !== undefined && !(next.confidence >= 0 && next.confidence <= 1)) {
        throw new Error(`confidence must be in [0, 1], got ${next.confidence}`);
      }
      this.db.prepare(`INSERT INTO features (model, sae, feature, name, description, confidence, notes, tags, examples, updated_at)
        VALUES (@model, @sae, @feature, @name, @description, @confidence, @notes, @tags, @examples, @now)
        ON CONFLICT (model, sae, feature) DO UPDATE SET name = @name, description = @description, confidence = @confidence,
          notes = @notes, tags = @tags, examples = @examples, updated_at = @now`).run({
        model, sae, feature, name: next.name ?? null, description: next.description ?? null, confidence: next.confidence ?? null,
        notes: next.notes ?? null, tags: JSON.stringify(next.tags ?? []), examples: JSON.stringify(next.examples ?? []), now: new Date(stamp).toISOString(),
      });
    });
    tx.immediate();
    return this.get(model, sae, feature)!;
  }

  /** Adds a tag to a feature (read-modify-write in one transaction, so concurrent taggers lose nothing). */
  addTag(model: string, sae: string, feature: number, tag: string): FeatureRecord {
    let out: FeatureRecord | undefined;
    this.db.transaction(() => {
      const cur = this.get(model, sae, feature);
      const tags = cur ? [...cur.tags] : [];
      if (!tags.includes(tag)) tags.push(tag);
      out = this.set(model, sae, feature, { tags });
    }).immediate();
    return out!;
  }

  /** Features matching a search over name, description, notes, explanations and tags. */
  list(q: { model?: string; sae?: string; search?: string; tag?: string; limit?: number; offset?: number } = {}): FeatureRecord[] {
    const where: string[] = [];
    const args: Record<string, unknown> = { limit: q.limit ?? 100, offset: q.offset ?? 0 };
    const add = (cond: string, key: string, value: unknown) => {
      where.push(cond);
      args[key] = value;
    };
    if (q.model) add('f.model = @model', 'model', q.model);
    if (q.sae) add('f.sae = @sae', 'sae', q.sae);
    if (q.tag) add('EXISTS (SELECT 1 FROM json_each(f.tags) WHERE value = @tag)', 'tag', q.tag);
    if (q.search) {
      where.push(`(f.name LIKE @s OR f.description LIKE @s OR f.notes LIKE @s OR f.tags LIKE @s OR EXISTS (
        SELECT 1 FROM explanations e WHERE e.model = f.model AND e.sae = f.sae AND e.feature = f.feature AND e.explanation LIKE @s))`);
      args.s = `%${q.search}%`;
    }
    const sql = `SELECT f.* FROM features f ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY f.model, f.sae, f.feature LIMIT @limit OFFSET @offset`;
    return (this.db.prepare(sql).all(args) as Row[]).map(toRecord);
  }

  /** Records an explanation (and makes sure the feature exists). */
  addExplanation(model: string, sae: string, feature: number, e: Omit<ExplanationRecord, 'id' | 'feature' | 'createdAt'>): number {
    checkFeature(feature);
    const tx = this.db.transaction(() => {
      this.db.prepare(`INSERT OR IGNORE INTO features (model, sae, feature, updated_at) VALUES (?, ?, ?, ?)`).run(model, sae, feature, new Date().toISOString());
      return this.db.prepare(`INSERT INTO explanations (model, sae, feature, explanation, source, explainer_model, prompt_version, scores, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(model, sae, feature, e.explanation, e.source, e.explainerModel, e.promptVersion, JSON.stringify(e.scores), new Date().toISOString()).lastInsertRowid;
    });
    return Number(tx.immediate());
  }

  /** Deletes a feature's explanations that `which` selects (one transaction). */
  removeExplanations(model: string, sae: string, feature: number, which: (e: ExplanationRecord) => boolean): void {
    const del = this.db.prepare('DELETE FROM explanations WHERE id = ?');
    this.db.transaction(() => {
      for (const e of this.explanations(model, sae, feature)) if (which(e)) del.run(e.id);
    }).immediate();
  }

  /** Replaces the heuristic names of these features (one transaction; LLM and imported explanations stay). */
  setHeuristicNames(model: string, sae: string, names: ReadonlyMap<number, string>): void {
    const del = this.db.prepare(`DELETE FROM explanations WHERE model = ? AND sae = ? AND feature = ? AND source = 'heuristic'`);
    const ins = this.db.prepare(`INSERT INTO explanations (model, sae, feature, explanation, source, explainer_model, prompt_version, scores, created_at)
      VALUES (?, ?, ?, ?, 'heuristic', NULL, 'heuristic-v1', '{}', ?)`);
    const now = new Date().toISOString();
    this.db.transaction(() => {
      for (const [f, name] of names) {
        checkFeature(f);
        del.run(model, sae, f);
        ins.run(model, sae, f, name, now);
      }
    }).immediate();
  }

  /** Updates an explanation's scores (merging). */
  scoreExplanation(id: number, scores: Record<string, unknown>): void {
    const tx = this.db.transaction(() => {
      const row = this.db.prepare('SELECT scores FROM explanations WHERE id = ?').get(id) as { scores: string } | undefined;
      if (!row) throw new Error(`no explanation with id ${id}`);
      this.db.prepare('UPDATE explanations SET scores = ? WHERE id = ?').run(JSON.stringify({ ...JSON.parse(row.scores), ...scores }), id);
    });
    tx.immediate();
  }

  /** A feature's explanations, newest first. */
  explanations(model: string, sae: string, feature: number): ExplanationRecord[] {
    const rows = this.db.prepare('SELECT * FROM explanations WHERE model = ? AND sae = ? AND feature = ? ORDER BY id DESC').all(model, sae, feature) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: r.id as number, feature: r.feature as number, explanation: r.explanation as string, source: r.source as ExplanationRecord['source'],
      explainerModel: (r.explainer_model as string) ?? null, promptVersion: (r.prompt_version as string) ?? null,
      scores: JSON.parse(r.scores as string) as Record<string, unknown>, createdAt: r.created_at as string,
    }));
  }

  /** Stores dashboard data for many features in one transaction. */
  setDashboards(model: string, sae: string, data: ReadonlyMap<number, unknown>): void {
    const stmt = this.db.prepare(`INSERT INTO dashboards (model, sae, feature, data, updated_at, density, max_act) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (model, sae, feature) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at, density = excluded.density, max_act = excluded.max_act`);
    const now = new Date().toISOString();
    const num = (d: unknown, k: string) => {
      const v = (d as Record<string, unknown> | null)?.[k];
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    };
    this.db.transaction(() => {
      for (const [f, d] of data) stmt.run(model, sae, f, JSON.stringify(d), now, num(d, 'density'), num(d, 'maxAct'));
    }).immediate();
  }

  /**
   * Every feature of an SAE the registry knows (scanned, named or explained),
   * with its label, best explanation, density and max; searchable, sorted and
   * paged, with the total.
   */
  browse(model: string, sae: string, q: BrowseQuery = {}): { total: number; rows: BrowseRow[] } {
    const order = { feature: 'feature', density: 'density', max: 'max_act', name: 'label' }[q.sort ?? 'feature'] ?? 'feature';
    const dir = q.desc ? 'DESC' : 'ASC';
    const rows = this.db.prepare(`WITH ids AS (
        SELECT feature FROM dashboards WHERE model = @m AND sae = @s
        UNION SELECT feature FROM features WHERE model = @m AND sae = @s
        UNION SELECT feature FROM explanations WHERE model = @m AND sae = @s),
      r AS (SELECT ids.feature AS feature, f.name AS name, f.tags AS tags, f.confidence AS confidence, d.density AS density, d.max_act AS max_act,
          (SELECT e.explanation FROM explanations e WHERE e.model = @m AND e.sae = @s AND e.feature = ids.feature
            ORDER BY ${sourceRank('e.source')}, e.id DESC LIMIT 1) AS explanation
        FROM ids LEFT JOIN features f ON f.model = @m AND f.sae = @s AND f.feature = ids.feature
        LEFT JOIN dashboards d ON d.model = @m AND d.sae = @s AND d.feature = ids.feature)
      SELECT *, COALESCE(name, explanation) AS label, COUNT(*) OVER () AS total FROM r
      WHERE @q IS NULL OR name LIKE @q OR explanation LIKE @q OR tags LIKE @q OR CAST(feature AS TEXT) = @exact
      ORDER BY ${order} IS NULL, ${order} ${dir}, feature LIMIT @limit OFFSET @offset`)
      .all({ m: model, s: sae, q: q.search ? `%${q.search}%` : null, exact: q.search ?? null, limit: q.limit ?? 100, offset: q.offset ?? 0 }) as Record<string, unknown>[];
    return {
      total: rows.length ? (rows[0].total as number) : this.browseTotal(model, sae, q),
      rows: rows.map((r) => ({
        feature: r.feature as number, name: (r.name as string) ?? null, explanation: (r.explanation as string) ?? null,
        tags: r.tags ? (JSON.parse(r.tags as string) as string[]) : [], confidence: (r.confidence as number) ?? null,
        density: (r.density as number) ?? null, maxAct: (r.max_act as number) ?? null,
      })),
    };
  }

  /** The total of `browse` when the page asked for is past the end. */
  private browseTotal(model: string, sae: string, q: BrowseQuery): number {
    return q.offset ? this.browse(model, sae, { ...q, offset: 0, limit: 1 }).total : 0;
  }

  /** Each feature's label: its name, else its best explanation (LLM, then Neuronpedia, then heuristic). */
  labels(model: string, sae: string): Map<number, string> {
    const rows = this.db.prepare(`SELECT feature, name, rank FROM (
        SELECT feature, name, -1 AS rank, 0 AS id FROM features WHERE model = @m AND sae = @s AND name IS NOT NULL AND name != ''
        UNION ALL SELECT feature, explanation, ${sourceRank('source')}, id FROM explanations WHERE model = @m AND sae = @s)
      ORDER BY feature, rank, id DESC`).all({ m: model, s: sae }) as { feature: number; name: string }[];
    const out = new Map<number, string>();
    for (const r of rows) if (!out.has(r.feature)) out.set(r.feature, r.name);
    return out;
  }

  /** A feature's dashboard data, or undefined. */
  dashboard<T = unknown>(model: string, sae: string, feature: number): T | undefined {
    const row = this.db.prepare('SELECT data FROM dashboards WHERE model = ? AND sae = ? AND feature = ?').get(model, sae, feature) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as T) : undefined;
  }

  /** Stores a feature's steering calibration. */
  setCalibration(model: string, sae: string, feature: number, calibration: unknown): void {
    this.db.prepare(`INSERT INTO steering (model, sae, feature, calibration, updated_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (model, sae, feature) DO UPDATE SET calibration = excluded.calibration, updated_at = excluded.updated_at`)
      .run(model, sae, feature, JSON.stringify(calibration), new Date().toISOString());
  }

  /** A feature's steering calibration, or undefined. */
  calibration<T = unknown>(model: string, sae: string, feature: number): T | undefined {
    const row = this.db.prepare('SELECT calibration FROM steering WHERE model = ? AND sae = ? AND feature = ?').get(model, sae, feature) as { calibration: string } | undefined;
    return row ? (JSON.parse(row.calibration) as T) : undefined;
  }

  /**
   * The density-vs-interpretability view: per scanned feature whose newest
   * non-heuristic explanation has a detection score, its density and that
   * score's balanced accuracy.
   */
  densityVsDetection(model: string, sae: string): DensityScore[] {
    const rows = this.db.prepare(`SELECT d.feature AS feature, d.density AS density, e.source AS source,
        json_extract(e.scores, '$.detection.balancedAccuracy') AS detection
      FROM dashboards d JOIN explanations e ON e.model = d.model AND e.sae = d.sae AND e.feature = d.feature
      WHERE d.model = ? AND d.sae = ? AND e.source != 'heuristic' AND d.density IS NOT NULL
        AND json_extract(e.scores, '$.detection.balancedAccuracy') IS NOT NULL
      ORDER BY d.feature, e.id DESC`).all(model, sae) as DensityScore[];
    return rows.filter((r, i) => i === 0 || rows[i - 1].feature !== r.feature);
  }

  /** Stores steering descriptions (one per feature, prompt and magnitude) in one transaction. */
  setSteeringDescriptions(model: string, sae: string, rows: readonly SteeringDescription[]): void {
    const stmt = this.db.prepare(`INSERT INTO steering_descriptions (model, sae, feature, prompt, magnitude, description, similarity, method, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (model, sae, feature, prompt, magnitude) DO UPDATE SET description = excluded.description, similarity = excluded.similarity, method = excluded.method, updated_at = excluded.updated_at`);
    const now = new Date().toISOString();
    this.db.transaction(() => {
      for (const r of rows) stmt.run(model, sae, r.feature, r.prompt, r.magnitude, r.description, r.similarity, r.method, now);
    }).immediate();
  }

  /** A feature's steering descriptions, by prompt then magnitude. */
  steeringDescriptions(model: string, sae: string, feature: number): SteeringDescription[] {
    const rows = this.db.prepare('SELECT * FROM steering_descriptions WHERE model = ? AND sae = ? AND feature = ? ORDER BY prompt, magnitude').all(model, sae, feature) as Record<string, unknown>[];
    return rows.map((r) => ({ feature: r.feature as number, prompt: r.prompt as string, magnitude: r.magnitude as number, description: r.description as string, similarity: (r.similarity as number | null) ?? null, method: r.method as string }));
  }

  /** A cached LLM answer, or undefined. */
  cachedAnswer(key: string): string | undefined {
    return (this.db.prepare('SELECT response FROM llm_cache WHERE key = ?').get(key) as { response: string } | undefined)?.response;
  }

  /** Caches an LLM answer. */
  cacheAnswer(key: string, response: string): void {
    this.db.prepare('INSERT OR REPLACE INTO llm_cache (key, response, created_at) VALUES (?, ?, ?)').run(key, response, new Date().toISOString());
  }

  /** Exports one SAE's features in the exchange shape. */
  exportJson(model: string, sae: string): RegistryJson {
    const out: RegistryJson = {};
    for (const r of this.list({ model, sae, limit: 1e9 })) {
      out[String(r.feature)] = { name: r.name, description: r.description, examples: [...r.examples], confidence: r.confidence, notes: r.notes };
    }
    return out;
  }

  /** Imports the exchange shape into one SAE, in one transaction; returns the number of features. */
  importJson(model: string, sae: string, data: RegistryJson): number {
    const entries = Object.entries(data);
    for (const [k, v] of entries) {
      if (!/^\d+$/.test(k)) throw new Error(`registry JSON: key '${k}' is not a feature index`);
      if (typeof v !== 'object' || v === null) throw new Error(`registry JSON: feature ${k} is not an object`);
      if (v.examples !== undefined && !Array.isArray(v.examples)) throw new Error(`registry JSON: feature ${k}: examples must be a list`);
    }
    this.db.transaction(() => {
      for (const [k, v] of entries) {
        const patch: FeaturePatch = {};
        for (const key of ['name', 'description', 'confidence', 'notes', 'examples'] as const) if (v[key] !== undefined) (patch as Record<string, unknown>)[key] = v[key];
        this.set(model, sae, Number(k), patch);
      }
    }).immediate();
    return entries.length;
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
      }
    }).immediate();
  }
}

function toRecord(r: Row): FeatureRecord {
  return {
    model: r.model, sae: r.sae, feature: r.feature, name: r.name, description: r.description, confidence: r.confidence,
    notes: r.notes, tags: JSON.parse(r.tags) as string[], examples: JSON.parse(r.examples) as string[], updatedAt: r.updated_at,
  };
}

function checkFeature(f: number): void {
  if (!Number.isInteger(f) || f < 0) throw new Error(`feature index must be a non-negative integer, got ${f}`);
}

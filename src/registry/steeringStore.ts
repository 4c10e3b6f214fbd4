/** Steering calibrations and LLM descriptions of steered outputs, per feature. */
import type Database from 'better-sqlite3';
import { nowIso, type CalibrationRecord, type SteeringDescription } from './types.ts';

export class SteeringStore {
  constructor(private readonly db: Database.Database) {}

  /** Stores a sweep's calibration of a feature with its settings, as a candidate (presets do not use it until applied); returns its id. */
  addCalibration(model: string, sae: string, feature: number, calibration: unknown, settings: unknown = {}): number {
    return Number(this.db.prepare('INSERT INTO calibrations (model, sae, feature, calibration, settings, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(model, sae, feature, JSON.stringify(calibration), JSON.stringify(settings), nowIso()).lastInsertRowid);
  }

  /** Makes calibration `id` the one its feature's presets use. */
  applyCalibration(id: number): void {
    const row = this.db.prepare('SELECT model, sae, feature FROM calibrations WHERE id = ?').get(id) as { model: string; sae: string; feature: number } | undefined;
    if (!row) throw new Error(`no calibration with id ${id}`);
    this.db.prepare('INSERT INTO calibration_applied (model, sae, feature, calibration_id, applied_at) VALUES (?, ?, ?, ?, ?)').run(row.model, row.sae, row.feature, id, nowIso());
  }

  /** Undoes the last application for a feature: the one applied before it (or none) is used again. Returns the id now applied, or null. */
  undoCalibration(model: string, sae: string, feature: number): number | null {
    return this.db.transaction(() => {
      const last = this.db.prepare('SELECT seq FROM calibration_applied WHERE model = ? AND sae = ? AND feature = ? ORDER BY seq DESC LIMIT 1').get(model, sae, feature) as { seq: number } | undefined;
      if (!last) throw new Error(`feature ${feature} has no applied calibration to undo`);
      this.db.prepare('DELETE FROM calibration_applied WHERE seq = ?').run(last.seq);
      return this.appliedId(model, sae, feature);
    }).immediate();
  }

  /** Stores a calibration and applies it (imports, and callers that mean it). */
  setCalibration(model: string, sae: string, feature: number, calibration: unknown, settings: unknown = {}): void {
    this.db.transaction(() => this.applyCalibration(this.addCalibration(model, sae, feature, calibration, settings))).immediate();
  }

  /** The applied calibration of a feature (what its presets use), or undefined. */
  calibration<T = unknown>(model: string, sae: string, feature: number): T | undefined {
    const id = this.appliedId(model, sae, feature);
    if (id === null) return undefined;
    const row = this.db.prepare('SELECT calibration FROM calibrations WHERE id = ?').get(id) as { calibration: string };
    return JSON.parse(row.calibration) as T;
  }

  /** Every calibration of a feature, newest first, with its settings and whether it is the applied one. */
  calibrationHistory(model: string, sae: string, feature: number): CalibrationRecord[] {
    const applied = this.appliedId(model, sae, feature);
    const rows = this.db.prepare('SELECT * FROM calibrations WHERE model = ? AND sae = ? AND feature = ? ORDER BY id DESC').all(model, sae, feature) as { id: number; calibration: string; settings: string; created_at: string }[];
    return rows.map((r) => ({ id: r.id, calibration: JSON.parse(r.calibration), settings: JSON.parse(r.settings), createdAt: r.created_at, applied: r.id === applied }));
  }

  /** Every applied calibration of an SAE, by feature. */
  calibrations(model: string, sae: string): Map<number, unknown> {
    const rows = this.db.prepare(`SELECT a.feature AS feature, c.calibration AS calibration FROM calibration_applied a JOIN calibrations c ON c.id = a.calibration_id
      WHERE a.model = ? AND a.sae = ? AND a.seq = (SELECT MAX(seq) FROM calibration_applied b WHERE b.model = a.model AND b.sae = a.sae AND b.feature = a.feature) ORDER BY a.feature`).all(model, sae) as { feature: number; calibration: string }[];
    return new Map(rows.map((r) => [r.feature, JSON.parse(r.calibration)]));
  }

  private appliedId(model: string, sae: string, feature: number): number | null {
    const row = this.db.prepare('SELECT calibration_id FROM calibration_applied WHERE model = ? AND sae = ? AND feature = ? ORDER BY seq DESC LIMIT 1').get(model, sae, feature) as { calibration_id: number } | undefined;
    return row?.calibration_id ?? null;
  }

  /** Stores steering descriptions (one per feature, prompt and magnitude) in one transaction. */
  setDescriptions(model: string, sae: string, rows: readonly SteeringDescription[]): void {
    const stmt = this.db.prepare(`INSERT INTO steering_descriptions (model, sae, feature, prompt, magnitude, description, similarity, method, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (model, sae, feature, prompt, magnitude) DO UPDATE SET description = excluded.description, similarity = excluded.similarity, method = excluded.method, updated_at = excluded.updated_at`);
    const now = nowIso();
    this.db.transaction(() => {
      for (const r of rows) stmt.run(model, sae, r.feature, r.prompt, r.magnitude, r.description, r.similarity, r.method, now);
    }).immediate();
  }

  /** A feature's steering descriptions (every feature's when `feature` is undefined), by feature, prompt, magnitude. */
  descriptions(model: string, sae: string, feature?: number): SteeringDescription[] {
    const rows = (feature === undefined
      ? this.db.prepare('SELECT * FROM steering_descriptions WHERE model = ? AND sae = ? ORDER BY feature, prompt, magnitude').all(model, sae)
      : this.db.prepare('SELECT * FROM steering_descriptions WHERE model = ? AND sae = ? AND feature = ? ORDER BY prompt, magnitude').all(model, sae, feature)) as Record<string, unknown>[];
    return rows.map((r) => ({ feature: r.feature as number, prompt: r.prompt as string, magnitude: r.magnitude as number, description: r.description as string, similarity: (r.similarity as number | null) ?? null, method: r.method as string }));
  }
}

/** Cached LLM answers by request key. */
export class LlmCacheStore {
  constructor(private readonly db: Database.Database) {}

  /** A cached answer, or undefined. */
  get(key: string): string | undefined {
    return (this.db.prepare('SELECT response FROM llm_cache WHERE key = ?').get(key) as { response: string } | undefined)?.response;
  }

  /** Caches an answer. */
  put(key: string, response: string): void {
    this.db.prepare('INSERT OR REPLACE INTO llm_cache (key, response, created_at) VALUES (?, ?, ?)').run(key, response, nowIso());
  }
}

/** Steering calibrations and LLM descriptions of steered outputs, per feature. */
import type Database from 'better-sqlite3';
import { nowIso, type SteeringDescription } from './types.ts';

export class SteeringStore {
  constructor(private readonly db: Database.Database) {}

  /** Stores a feature's steering calibration. */
  setCalibration(model: string, sae: string, feature: number, calibration: unknown): void {
    this.db.prepare(`INSERT INTO steering (model, sae, feature, calibration, updated_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (model, sae, feature) DO UPDATE SET calibration = excluded.calibration, updated_at = excluded.updated_at`)
      .run(model, sae, feature, JSON.stringify(calibration), nowIso());
  }

  /** A feature's steering calibration, or undefined. */
  calibration<T = unknown>(model: string, sae: string, feature: number): T | undefined {
    const row = this.db.prepare('SELECT calibration FROM steering WHERE model = ? AND sae = ? AND feature = ?').get(model, sae, feature) as { calibration: string } | undefined;
    return row ? (JSON.parse(row.calibration) as T) : undefined;
  }

  /** Every calibration of an SAE, by feature. */
  calibrations(model: string, sae: string): Map<number, unknown> {
    const rows = this.db.prepare('SELECT feature, calibration FROM steering WHERE model = ? AND sae = ? ORDER BY feature').all(model, sae) as { feature: number; calibration: string }[];
    return new Map(rows.map((r) => [r.feature, JSON.parse(r.calibration)]));
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

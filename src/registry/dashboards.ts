/**
 * Scan results per feature (the dashboard JSON, with density and max beside
 * it for sorting), and the views that join them with names and explanations:
 * browse, labels and the density-vs-detection scatter.
 */
import type Database from 'better-sqlite3';
import { sourceRank } from './explanations.ts';
import { likePattern } from './features.ts';
import { nowIso, type BrowseQuery, type BrowseRow, type DensityScore } from './types.ts';

export class DashboardStore {
  constructor(private readonly db: Database.Database) {}

  /** Stores dashboard data for many features in one transaction. */
  set(model: string, sae: string, data: ReadonlyMap<number, unknown>): void {
    const stmt = this.db.prepare(`INSERT INTO dashboards (model, sae, feature, data, updated_at, density, max_act) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (model, sae, feature) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at, density = excluded.density, max_act = excluded.max_act`);
    const now = nowIso();
    const num = (d: unknown, k: string) => {
      const v = (d as Record<string, unknown> | null)?.[k];
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    };
    this.db.transaction(() => {
      for (const [f, d] of data) stmt.run(model, sae, f, JSON.stringify(d), now, num(d, 'density'), num(d, 'maxAct'));
    }).immediate();
  }

  /** A feature's dashboard data, or undefined. */
  get<T = unknown>(model: string, sae: string, feature: number): T | undefined {
    const row = this.db.prepare('SELECT data FROM dashboards WHERE model = ? AND sae = ? AND feature = ?').get(model, sae, feature) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as T) : undefined;
  }

  /** How many features of an SAE have dashboards (0: never scanned under these identities). */
  count(model: string, sae: string): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM dashboards WHERE model = ? AND sae = ?').get(model, sae) as { n: number }).n;
  }

  /** Every dashboard of an SAE, by feature. */
  all(model: string, sae: string): Map<number, unknown> {
    const rows = this.db.prepare('SELECT feature, data FROM dashboards WHERE model = ? AND sae = ? ORDER BY feature').all(model, sae) as { feature: number; data: string }[];
    return new Map(rows.map((r) => [r.feature, JSON.parse(r.data)]));
  }

  /**
   * Every feature of an SAE the registry knows (scanned, named or explained),
   * with its label, best explanation, density and max; searchable (literally),
   * sorted and paged, with the total.
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
      WHERE @q IS NULL OR name LIKE @q ESCAPE '\\' OR explanation LIKE @q ESCAPE '\\' OR tags LIKE @q ESCAPE '\\' OR CAST(feature AS TEXT) = @exact
      ORDER BY ${order} IS NULL, ${order} ${dir}, feature LIMIT @limit OFFSET @offset`)
      .all({ m: model, s: sae, q: q.search ? likePattern(q.search) : null, exact: q.search ?? null, limit: q.limit ?? 100, offset: q.offset ?? 0 }) as Record<string, unknown>[];
    return {
      total: rows.length ? (rows[0].total as number) : q.offset ? this.browse(model, sae, { ...q, offset: 0, limit: 1 }).total : 0,
      rows: rows.map((r) => ({
        feature: r.feature as number, name: (r.name as string) ?? null, explanation: (r.explanation as string) ?? null,
        tags: r.tags ? (JSON.parse(r.tags as string) as string[]) : [], confidence: (r.confidence as number) ?? null,
        density: (r.density as number) ?? null, maxAct: (r.max_act as number) ?? null,
      })),
    };
  }

  /** Each feature's label: its name, else its best explanation (LLM, then Neuronpedia, then carried, then heuristic). */
  labels(model: string, sae: string): Map<number, string> {
    const rows = this.db.prepare(`SELECT feature, name, rank FROM (
        SELECT feature, name, -1 AS rank, 0 AS id FROM features WHERE model = @m AND sae = @s AND name IS NOT NULL AND name != ''
        UNION ALL SELECT feature, explanation, ${sourceRank('source')}, id FROM explanations WHERE model = @m AND sae = @s)
      ORDER BY feature, rank, id DESC`).all({ m: model, s: sae }) as { feature: number; name: string }[];
    const out = new Map<number, string>();
    for (const r of rows) if (!out.has(r.feature)) out.set(r.feature, r.name);
    return out;
  }

  /**
   * Per scanned feature whose newest non-heuristic explanation has a
   * detection score: its density and that score's balanced accuracy.
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
}

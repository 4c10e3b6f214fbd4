/** Explanations of features (LLM, heuristic, imported, carried) with their scores. */
import type Database from 'better-sqlite3';
import { checkFeature, nowIso, type ExplanationRecord } from './types.ts';

/** SQL ranking an explanation source column for labels: LLM, then Neuronpedia, then carried, then heuristic. */
export const sourceRank = (col: string): string => `CASE ${col} WHEN 'llm' THEN 0 WHEN 'neuronpedia' THEN 1 WHEN 'carried' THEN 2 ELSE 3 END`;

/** An explanation to record (the id, feature and time are the store's). */
export type NewExplanation = Omit<ExplanationRecord, 'id' | 'feature' | 'createdAt'> & { readonly createdAt?: string };

export class ExplanationStore {
  constructor(private readonly db: Database.Database) {}

  /** Records an explanation (and makes sure the feature exists); returns its id. */
  add(model: string, sae: string, feature: number, e: NewExplanation): number {
    checkFeature(feature);
    return Number(this.db.transaction(() => {
      this.db.prepare(`INSERT OR IGNORE INTO features (model, sae, feature, updated_at) VALUES (?, ?, ?, ?)`).run(model, sae, feature, nowIso());
      return this.db.prepare(`INSERT INTO explanations (model, sae, feature, explanation, source, explainer_model, prompt_version, scores, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(model, sae, feature, e.explanation, e.source, e.explainerModel, e.promptVersion, JSON.stringify(e.scores), e.createdAt ?? nowIso()).lastInsertRowid;
    }).immediate());
  }

  /** Deletes a feature's explanations that `which` selects (one transaction). */
  remove(model: string, sae: string, feature: number, which: (e: ExplanationRecord) => boolean): void {
    const del = this.db.prepare('DELETE FROM explanations WHERE id = ?');
    this.db.transaction(() => {
      for (const e of this.list(model, sae, feature)) if (which(e)) del.run(e.id);
    }).immediate();
  }

  /** Replaces the heuristic names of these features (one transaction; LLM and imported explanations stay). */
  setHeuristicNames(model: string, sae: string, names: ReadonlyMap<number, string>): void {
    const del = this.db.prepare(`DELETE FROM explanations WHERE model = ? AND sae = ? AND feature = ? AND source = 'heuristic'`);
    const ins = this.db.prepare(`INSERT INTO explanations (model, sae, feature, explanation, source, explainer_model, prompt_version, scores, created_at)
      VALUES (?, ?, ?, ?, 'heuristic', NULL, 'heuristic-v1', '{}', ?)`);
    const now = nowIso();
    this.db.transaction(() => {
      for (const [f, name] of names) {
        checkFeature(f);
        del.run(model, sae, f);
        ins.run(model, sae, f, name, now);
      }
    }).immediate();
  }

  /** Merges scores into an explanation's. */
  score(id: number, scores: Record<string, unknown>): void {
    this.db.transaction(() => {
      const row = this.db.prepare('SELECT scores FROM explanations WHERE id = ?').get(id) as { scores: string } | undefined;
      if (!row) throw new Error(`no explanation with id ${id}`);
      this.db.prepare('UPDATE explanations SET scores = ? WHERE id = ?').run(JSON.stringify({ ...JSON.parse(row.scores), ...scores }), id);
    }).immediate();
  }

  /** A feature's explanations, newest first. */
  list(model: string, sae: string, feature: number): ExplanationRecord[] {
    return (this.db.prepare('SELECT * FROM explanations WHERE model = ? AND sae = ? AND feature = ? ORDER BY id DESC').all(model, sae, feature) as Record<string, unknown>[]).map(toExplanation);
  }

  /** Every explanation of an SAE, by feature then oldest first. */
  all(model: string, sae: string): ExplanationRecord[] {
    return (this.db.prepare('SELECT * FROM explanations WHERE model = ? AND sae = ? ORDER BY feature, id').all(model, sae) as Record<string, unknown>[]).map(toExplanation);
  }
}

function toExplanation(r: Record<string, unknown>): ExplanationRecord {
  return {
    id: r.id as number, feature: r.feature as number, explanation: r.explanation as string, source: r.source as ExplanationRecord['source'],
    explainerModel: (r.explainer_model as string) ?? null, promptVersion: (r.prompt_version as string) ?? null,
    scores: JSON.parse(r.scores as string) as Record<string, unknown>, createdAt: r.created_at as string,
  };
}

/** Per-feature records (name, description, confidence, notes, tags, examples), with optimistic concurrency. */
import type Database from 'better-sqlite3';
import { checkFeature, ConflictError, CONFIDENCE_WORDS, type FeaturePatch, type FeatureRecord } from './types.ts';

interface Row {
  model: string; sae: string; feature: number; name: string | null; description: string | null; confidence: number | null; confidence_label: string | null;
  notes: string | null; tags: string; examples: string; updated_at: string;
}

/** Escapes LIKE's wildcards so a search for `%` or `_` is literal (used with `ESCAPE '\'`). */
export function likePattern(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class FeatureStore {
  constructor(private readonly db: Database.Database) {}

  /** One feature, or undefined. */
  get(model: string, sae: string, feature: number): FeatureRecord | undefined {
    const row = this.db.prepare('SELECT * FROM features WHERE model = ? AND sae = ? AND feature = ?').get(model, sae, feature) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Creates or updates a feature with the given fields, in one transaction; `expectUpdatedAt` refuses edits made from a stale copy. */
  set(model: string, sae: string, feature: number, patch: FeaturePatch, expectUpdatedAt?: string | null): FeatureRecord {
    checkFeature(feature);
    this.db.transaction(() => {
      const cur = this.get(model, sae, feature);
      if (expectUpdatedAt !== undefined && (cur?.updatedAt ?? null) !== expectUpdatedAt) throw new ConflictError(cur);
      // updated_at strictly increases, so it identifies a version even for edits within one millisecond.
      const stamp = Math.max(Date.now(), cur ? Date.parse(cur.updatedAt) + 1 : 0);
      const next = { ...(cur ?? { name: null, description: null, confidence: null, confidenceLabel: null, notes: null, tags: [], examples: [] }), ...patch };
      // A number set without its word drops the old word; a word maps to its number.
      if (patch.confidence !== undefined && patch.confidenceLabel === undefined) next.confidenceLabel = null;
      if (patch.confidenceLabel) {
        const mapped = CONFIDENCE_WORDS[patch.confidenceLabel];
        if (mapped === undefined) throw new Error(`confidence must be a number in [0, 1] or one of ${Object.keys(CONFIDENCE_WORDS).join(', ')}, got '${patch.confidenceLabel}'`);
        if (patch.confidence === undefined) next.confidence = mapped;
      }
      if (next.confidence !== null && next.confidence !== undefined && !(next.confidence >= 0 && next.confidence <= 1)) {
        throw new Error(`confidence must be in [0, 1], got ${next.confidence}`);
      }
      this.db.prepare(`INSERT INTO features (model, sae, feature, name, description, confidence, confidence_label, notes, tags, examples, updated_at)
        VALUES (@model, @sae, @feature, @name, @description, @confidence, @label, @notes, @tags, @examples, @now)
        ON CONFLICT (model, sae, feature) DO UPDATE SET name = @name, description = @description, confidence = @confidence, confidence_label = @label,
          notes = @notes, tags = @tags, examples = @examples, updated_at = @now`).run({
        model, sae, feature, name: next.name ?? null, description: next.description ?? null, confidence: next.confidence ?? null, label: next.confidenceLabel ?? null,
        notes: next.notes ?? null, tags: JSON.stringify(next.tags ?? []), examples: JSON.stringify(next.examples ?? []), now: new Date(stamp).toISOString(),
      });
    }).immediate();
    return this.get(model, sae, feature)!;
  }

  /** Adds a tag (read-modify-write in one transaction, so concurrent taggers lose nothing). */
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

  /** Features matching a search over name, description, notes, explanations and tags (the search is literal). */
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
      where.push(`(f.name LIKE @s ESCAPE '\\' OR f.description LIKE @s ESCAPE '\\' OR f.notes LIKE @s ESCAPE '\\' OR f.tags LIKE @s ESCAPE '\\' OR EXISTS (
        SELECT 1 FROM explanations e WHERE e.model = f.model AND e.sae = f.sae AND e.feature = f.feature AND e.explanation LIKE @s ESCAPE '\\'))`);
      args.s = likePattern(q.search);
    }
    const sql = `SELECT f.* FROM features f ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY f.model, f.sae, f.feature LIMIT @limit OFFSET @offset`;
    return (this.db.prepare(sql).all(args) as Row[]).map(toRecord);
  }
}

function toRecord(r: Row): FeatureRecord {
  return {
    model: r.model, sae: r.sae, feature: r.feature, name: r.name, description: r.description, confidence: r.confidence, confidenceLabel: r.confidence_label ?? null,
    notes: r.notes, tags: JSON.parse(r.tags) as string[], examples: JSON.parse(r.examples) as string[], updatedAt: r.updated_at,
  };
}

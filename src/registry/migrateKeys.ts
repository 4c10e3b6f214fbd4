/**
 * Re-keys a registry written when rows were filed under path strings (schema
 * 6 and before) to identities. Each distinct model and SAE string is resolved
 * as a path (as given, then beside the registry file): an SAE folder that
 * loads is fingerprinted, a model folder or file hashed, a hub id found in the
 * HF cache taken at its cached revision. Strings that resolve to nothing are
 * kept under `unresolved` entries (`saescope registry doctor` lists them):
 * no row is dropped. Spellings that resolve to one identity merge; where two
 * rows then collide, the newer wins and a feature's other name and notes are
 * kept in its notes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Database from 'better-sqlite3';
import { findCachedSnapshot } from '../io/hub.ts';
import { modelSource } from '../model/identity.ts';
import { saeIdentity } from '../sae/identity.ts';
import { loadSae } from '../sae/load.ts';
import type { IdentityStore } from './identities.ts';

/** What the migration did. */
export interface KeyMigration {
  /** Old key to identity, per kind. */
  readonly models: Readonly<Record<string, string>>;
  readonly saes: Readonly<Record<string, string>>;
  /** Old keys that resolved to nothing (kept as unresolved entries). */
  readonly unresolved: readonly string[];
}

const TABLES = ['features', 'explanations', 'dashboards', 'steering', 'steering_descriptions'] as const;

/** Re-keys every row (inside the caller's transaction). */
export function migratePathKeys(db: Database.Database, ids: IdentityStore, registryFile: string): KeyMigration {
  const pairs = new Map<string, { model: string; sae: string }>();
  for (const t of TABLES) {
    for (const r of db.prepare(`SELECT DISTINCT model, sae FROM ${t}`).all() as { model: string; sae: string }[]) pairs.set(JSON.stringify([r.model, r.sae]), r);
  }
  const candidates = (s: string) => [...new Set([path.resolve(s), path.resolve(path.dirname(path.resolve(registryFile)), s)])].filter((p) => fs.existsSync(p));
  const models: Record<string, string> = {};
  const saes: Record<string, string> = {};
  const unresolved: string[] = [];
  const modelOf = (s: string): string => {
    if (models[s]) return models[s];
    for (const p of [...candidates(s), ...hubSnapshot(s)]) {
      try {
        const src = modelSource(p, undefined);
        return (models[s] = ids.registerModel(ids.modelId(src), src, p).id);
      } catch {
        // Not a model here: try the next place.
      }
    }
    unresolved.push(`model ${s}`);
    return (models[s] = ids.registerUnresolvedModel(s).id);
  };
  const saeOf = (s: string): string => {
    if (saes[s]) return saes[s];
    for (const p of candidates(s)) {
      try {
        const sae = loadSae(p);
        const c = sae.cfg;
        return (saes[s] = ids.registerSae(saeIdentity(sae), { hook: c.hookName, dIn: c.dIn, dSae: c.dSae, architecture: c.architecture, modelName: c.modelName }, p).id);
      } catch {
        // Not an SAE here: try the next place.
      }
    }
    unresolved.push(`sae ${s}`);
    return (saes[s] = ids.registerUnresolvedSae(s, s).id);
  };
  for (const { model, sae } of pairs.values()) {
    const to = { model: modelOf(model), sae: saeOf(sae) };
    for (const t of TABLES) rekey(db, t, { model, sae }, to);
  }
  return { models, saes, unresolved };
}

/** The cached snapshot of a hub id, when the string is one and the cache has it. */
function hubSnapshot(s: string): string[] {
  if (!/^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(s)) return [];
  try {
    const snap = findCachedSnapshot(s);
    return snap ? [snap] : [];
  } catch {
    return [];
  }
}

function rekey(db: Database.Database, table: (typeof TABLES)[number], from: { model: string; sae: string }, to: { model: string; sae: string }): void {
  if (from.model === to.model && from.sae === to.sae) return;
  db.prepare(`UPDATE OR IGNORE ${table} SET model = ?, sae = ? WHERE model = ? AND sae = ?`).run(to.model, to.sae, from.model, from.sae);
  if (table === 'explanations') return;
  // Rows left behind collide with rows already under the identity (two spellings of one SAE).
  const left = db.prepare(`SELECT * FROM ${table} WHERE model = ? AND sae = ?`).all(from.model, from.sae) as Record<string, unknown>[];
  const keyCols = table === 'steering_descriptions' ? ['feature', 'prompt', 'magnitude'] : ['feature'];
  const where = keyCols.map((c) => `${c} = @${c}`).join(' AND ');
  for (const old of left) {
    const cur = db.prepare(`SELECT * FROM ${table} WHERE model = @model AND sae = @sae AND ${where}`).get({ ...old, ...to }) as Record<string, unknown>;
    const oldNewer = String(old.updated_at) > String(cur.updated_at);
    if (table === 'features') {
      db.prepare(`UPDATE features SET name = @name, description = @description, confidence = @confidence, notes = @notes, tags = @tags, examples = @examples, updated_at = @updated_at
        WHERE model = @model AND sae = @sae AND feature = @feature`).run({ ...mergeFeature(oldNewer ? old : cur, oldNewer ? cur : old, from.sae), ...to, feature: old.feature });
    } else if (oldNewer) {
      const cols = Object.keys(old).filter((c) => c !== 'model' && c !== 'sae' && !keyCols.includes(c));
      db.prepare(`UPDATE ${table} SET ${cols.map((c) => `${c} = @${c}`).join(', ')} WHERE model = @model AND sae = @sae AND ${where}`).run({ ...old, ...to });
    }
    db.prepare(`DELETE FROM ${table} WHERE model = @model AND sae = @sae AND ${where}`).run(old);
  }
}

/** The newer row's fields, with the older row's different name and notes kept in the notes, and tags and examples united. */
function mergeFeature(newer: Record<string, unknown>, older: Record<string, unknown>, oldKey: string): Record<string, unknown> {
  const notes: string[] = [];
  if (newer.notes) notes.push(String(newer.notes));
  if (older.name && older.name !== newer.name) notes.push(`also named '${older.name}' (recorded under '${oldKey}' or another spelling of this SAE's path)`);
  if (older.notes && older.notes !== newer.notes) notes.push(String(older.notes));
  const union = (k: string) => JSON.stringify([...new Set([...(JSON.parse(String(newer[k] ?? '[]')) as string[]), ...(JSON.parse(String(older[k] ?? '[]')) as string[])])]);
  return {
    name: newer.name ?? older.name ?? null, description: newer.description ?? older.description ?? null, confidence: newer.confidence ?? older.confidence ?? null,
    notes: notes.length ? notes.join('\n') : null, tags: union('tags'), examples: union('examples'), updated_at: newer.updated_at,
  };
}

/**
 * Models and SAEs by identity, with every location each was seen at, and the
 * SHA-256 of model files remembered by stat signature (a file is hashed again
 * only when it changes). An SAE's display name is unique: an explicit name
 * that another SAE holds is refused, a derived one (the folder's name) is
 * de-duplicated, and the SAE whose last location now holds other weights
 * hands its name to them and keeps a suffixed one (`name@1a2b3c4d`).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Database from 'better-sqlite3';
import { sha256File, statSignature } from '../io/fileHash.ts';
import type { ModelSource } from '../model/identity.ts';
import { nowIso, type Location, type ModelEntry, type SaeEntry } from './types.ts';

/** What the registry keeps about an SAE besides its id. */
export interface SaeFacts {
  readonly hook: string;
  readonly dIn: number;
  readonly dSae: number;
  readonly architecture: string;
  readonly modelName: string;
}

/** Characters allowed in an SAE name (it appears in URLs and file names). */
const NAME = /^[A-Za-z0-9_.-][A-Za-z0-9_.@+-]{0,63}$/;

/** Throws unless `name` can be an SAE's display name. */
export function checkSaeName(name: string): void {
  if (!NAME.test(name) || name === '.' || name === '..') {
    throw new Error(`SAE name '${name}' is not allowed: use up to 64 letters, digits and . _ - @ + (not starting with @ or +)`);
  }
}

/** A name made from a folder's base name: disallowed characters become '-'. */
export function derivedName(location: string | undefined): string {
  const base = location ? path.basename(path.resolve(location)) : '';
  const clean = base.replace(/[^A-Za-z0-9_.@+-]/g, '-').replace(/^[@+]+/, '').slice(0, 48);
  return clean && clean !== '.' && clean !== '..' ? clean : 'sae';
}

/** The real path of `p` when it exists (symlinks resolved), else its absolute form. */
export function realLocation(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

interface SaeRow { id: string; name: string; hook: string | null; d_in: number | null; d_sae: number | null; architecture: string | null; model_name: string | null; status: string; first_seen: string; last_seen: string }
interface ModelRow { id: string; name: string; hf_id: string | null; revision: string | null; status: string; first_seen: string; last_seen: string }

export class IdentityStore {
  constructor(private readonly db: Database.Database) {}

  /** The model's id: `hf:id@revision` for a hub snapshot, else `model-` and 32 hex of its content. */
  modelId(src: ModelSource): string {
    if (src.kind === 'hub') return `hf:${src.hfId}@${src.revision}`;
    const h = createHash('sha256');
    h.update(`saescope-model-identity-1\0${src.meta}\0`);
    for (const f of src.files) h.update(`${path.basename(f)}:${this.fileHash(f)}\0`);
    return `model-${h.digest('hex').slice(0, 32)}`;
  }

  /** A file's SHA-256, from the store while its stat signature is unchanged. */
  fileHash(file: string): string {
    const real = realLocation(file);
    const sig = statSignature(real);
    const row = this.db.prepare('SELECT signature, sha256 FROM file_hashes WHERE path = ?').get(real) as { signature: string; sha256: string } | undefined;
    if (row && row.signature === sig) return row.sha256;
    const sha = sha256File(real);
    // The file may have changed while it was read: keep the hash only when the signature still holds.
    if (statSignature(real) === sig) this.db.prepare('INSERT OR REPLACE INTO file_hashes (path, signature, sha256) VALUES (?, ?, ?)').run(real, sig, sha);
    return sha;
  }

  /** Records that the model `id` was seen at `location` (creating its entry), and returns it. */
  registerModel(id: string, src: ModelSource, location?: string): ModelEntry {
    const now = nowIso();
    this.db.transaction(() => {
      const hfId = src.kind === 'hub' ? src.hfId : src.hfId ?? null;
      this.db.prepare(`INSERT INTO models (id, name, hf_id, revision, status, first_seen, last_seen) VALUES (?, ?, ?, ?, 'ok', ?, ?)
        ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, status = 'ok', hf_id = COALESCE(models.hf_id, excluded.hf_id)`)
        .run(id, src.displayName, hfId, src.kind === 'hub' ? src.revision : null, now, now);
      if (location) this.touchLocation('model', id, realLocation(location), now);
    }).immediate();
    return this.model(id)!;
  }

  /**
   * Records that the SAE `id` was seen at `location`, creating its entry with
   * a unique name (`wantName`, else the folder's name), and returns it. An
   * explicit name another SAE holds is refused naming that SAE, unless that
   * SAE's last location is this one (it was overwritten: it keeps a suffixed
   * name). Giving a known SAE a new free name renames it.
   */
  registerSae(id: string, facts: SaeFacts, location?: string, wantName?: string): SaeEntry {
    if (wantName !== undefined) checkSaeName(wantName);
    const now = nowIso();
    const loc = location ? realLocation(location) : undefined;
    this.db.transaction(() => {
      const cur = this.sae(id);
      if (cur) {
        this.db.prepare(`UPDATE saes SET last_seen = ?, status = 'ok' WHERE id = ?`).run(now, id);
        if (wantName !== undefined && wantName !== cur.name) {
          const name = this.claim(wantName, id, loc, true);
          this.db.prepare('UPDATE saes SET name = ? WHERE id = ?').run(name, id);
        }
      } else {
        const name = this.claim(wantName ?? derivedName(location), id, loc, wantName !== undefined);
        this.db.prepare(`INSERT INTO saes (id, name, hook, d_in, d_sae, architecture, model_name, status, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, 'ok', ?, ?)`)
          .run(id, name, facts.hook, facts.dIn, facts.dSae, facts.architecture, facts.modelName, now, now);
      }
      if (loc) this.touchLocation('sae', id, loc, now);
    }).immediate();
    return this.sae(id)!;
  }

  /** Records rows whose SAE could not be found (migration): kept under an unresolved entry, never dropped. */
  registerUnresolvedSae(key: string, location: string): SaeEntry {
    const id = `unresolved-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
    if (this.sae(id)) return this.sae(id)!;
    const now = nowIso();
    const name = this.claim(`unresolved-${derivedName(location)}`, id, undefined, false);
    this.db.prepare(`INSERT INTO saes (id, name, status, first_seen, last_seen) VALUES (?, ?, 'unresolved', ?, ?)`).run(id, name, now, now);
    this.db.prepare('INSERT OR IGNORE INTO locations (kind, identity, path, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)').run('sae', id, location, now, now);
    return this.sae(id)!;
  }

  /** The model counterpart of `registerUnresolvedSae`. */
  registerUnresolvedModel(key: string): ModelEntry {
    const id = `unresolved-model-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
    const now = nowIso();
    this.db.prepare(`INSERT OR IGNORE INTO models (id, name, status, first_seen, last_seen) VALUES (?, ?, 'unresolved', ?, ?)`).run(id, key, now, now);
    this.db.prepare('INSERT OR IGNORE INTO locations (kind, identity, path, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)').run('model', id, key, now, now);
    return this.model(id)!;
  }

  /** The model entry an exchange file names, created (without a location) when missing. */
  ensureModel(m: Pick<ModelEntry, 'id' | 'name' | 'hfId' | 'revision'>): ModelEntry {
    const now = nowIso();
    this.db.prepare(`INSERT OR IGNORE INTO models (id, name, hf_id, revision, status, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)`)
      .run(m.id, m.name, m.hfId, m.revision, m.id.startsWith('unresolved-') ? 'unresolved' : 'ok', now, now);
    return this.model(m.id)!;
  }

  /** The SAE entry an exchange file names, created (without a location, its name de-duplicated) when missing. */
  ensureSae(e: Pick<SaeEntry, 'id' | 'name' | 'hook' | 'dIn' | 'dSae' | 'architecture' | 'modelName'>): SaeEntry {
    const cur = this.sae(e.id);
    if (cur && cur.id === e.id) return cur;
    checkSaeName(e.name);
    const now = nowIso();
    this.db.prepare(`INSERT INTO saes (id, name, hook, d_in, d_sae, architecture, model_name, status, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(e.id, this.free(e.name), e.hook, e.dIn, e.dSae, e.architecture, e.modelName, e.id.startsWith('unresolved-') ? 'unresolved' : 'ok', now, now);
    return this.sae(e.id)!;
  }

  /** An SAE by id or name. */
  sae(idOrName: string): SaeEntry | undefined {
    const row = this.db.prepare('SELECT * FROM saes WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1').get(idOrName, idOrName, idOrName) as SaeRow | undefined;
    return row ? this.toSae(row) : undefined;
  }

  /** Every SAE, by name. */
  saes(): SaeEntry[] {
    return (this.db.prepare('SELECT * FROM saes ORDER BY name').all() as SaeRow[]).map((r) => this.toSae(r));
  }

  /** SAEs seen at this path (real path), most recently seen there first. */
  saesAt(location: string): SaeEntry[] {
    const ids = this.db.prepare(`SELECT identity FROM locations WHERE kind = 'sae' AND path = ? ORDER BY last_seen DESC`).all(realLocation(location)) as { identity: string }[];
    return ids.map((r) => this.sae(r.identity)!).filter(Boolean);
  }

  /** A model by id. */
  model(id: string): ModelEntry | undefined {
    const row = this.db.prepare('SELECT * FROM models WHERE id = ?').get(id) as ModelRow | undefined;
    return row ? this.toModel(row) : undefined;
  }

  /** Every model. */
  models(): ModelEntry[] {
    return (this.db.prepare('SELECT * FROM models ORDER BY name, id').all() as ModelRow[]).map((r) => this.toModel(r));
  }

  /** Renames an SAE (the new name must be free). */
  rename(idOrName: string, name: string): SaeEntry {
    checkSaeName(name);
    const cur = this.sae(idOrName);
    if (!cur) throw new Error(`no SAE '${idOrName}' in the registry`);
    const holder = this.sae(name);
    if (holder && holder.id !== cur.id) throw new Error(`the name '${name}' is taken by SAE ${holder.id} (${holder.locations[0]?.path ?? 'no location'})`);
    this.db.prepare('UPDATE saes SET name = ? WHERE id = ?').run(name, cur.id);
    return this.sae(cur.id)!;
  }

  private claim(name: string, id: string, loc: string | undefined, explicit: boolean): string {
    const holder = this.sae(name);
    if (!holder || holder.id === id) return name;
    if (loc && holder.locations[0]?.path === loc) {
      // The holder's folder now holds these weights: it was overwritten, and keeps its record under a suffixed name.
      this.db.prepare('UPDATE saes SET name = ? WHERE id = ?').run(this.free(`${name}@${holder.id.replace(/^[a-z]+-/, '').slice(0, 8)}`), holder.id);
      return name;
    }
    if (explicit) {
      throw new Error(`the SAE name '${name}' is taken by another SAE (${holder.id}, ${holder.dSae ?? '?'} latents, last seen at ${holder.locations[0]?.path ?? 'no location'}); choose another name`);
    }
    return this.free(name);
  }

  private free(name: string): string {
    if (!this.sae(name)) return name;
    for (let i = 2; ; i++) if (!this.sae(`${name}-${i}`)) return `${name}-${i}`;
  }

  private touchLocation(kind: 'sae' | 'model', id: string, loc: string, now: string): void {
    this.db.prepare(`INSERT INTO locations (kind, identity, path, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (kind, identity, path) DO UPDATE SET last_seen = excluded.last_seen`).run(kind, id, loc, now, now);
  }

  private locations(kind: string, id: string): Location[] {
    return (this.db.prepare('SELECT path, first_seen, last_seen FROM locations WHERE kind = ? AND identity = ? ORDER BY last_seen DESC, path').all(kind, id) as { path: string; first_seen: string; last_seen: string }[])
      .map((r) => ({ path: r.path, firstSeen: r.first_seen, lastSeen: r.last_seen }));
  }

  private toSae(r: SaeRow): SaeEntry {
    return {
      id: r.id, name: r.name, hook: r.hook, dIn: r.d_in, dSae: r.d_sae, architecture: r.architecture, modelName: r.model_name,
      status: r.status === 'unresolved' ? 'unresolved' : 'ok', firstSeen: r.first_seen, lastSeen: r.last_seen, locations: this.locations('sae', r.id),
    };
  }

  private toModel(r: ModelRow): ModelEntry {
    return {
      id: r.id, name: r.name, hfId: r.hf_id, revision: r.revision, status: r.status === 'unresolved' ? 'unresolved' : 'ok',
      firstSeen: r.first_seen, lastSeen: r.last_seen, locations: this.locations('model', r.id),
    };
  }
}

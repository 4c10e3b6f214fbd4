/**
 * The SAEs a server serves, by their registry display names. The list is
 * kept in `saes.json` beside the job list (by default under the first data
 * folder), so SAEs that jobs trained, and those `saescope sae add` put there,
 * are served again after a restart. Each entry is a folder and an optional
 * explicit name; what the folder holds is filed in the registry when loaded,
 * so new weights in a listed folder are a new SAE with its own record.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeTextAtomic } from '../io/atomicFile.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import type { FiledSae, Registry } from '../registry/registry.ts';
import { checkSaeFitsModel } from '../sae/compat.ts';
import { loadSae } from '../sae/load.ts';
import type { Sae } from '../sae/sae.ts';
import { realPathOf } from './paths.ts';

/** One SAE being served. */
export interface ServedSae {
  readonly sae: Sae;
  /** The folder it was loaded from (real path). */
  readonly dir: string;
  /** Its record's keys and display name. */
  readonly keys: FiledSae;
}

/** One entry of the saved list. */
export interface SaeListEntry {
  /** Real path of the folder. */
  readonly dir: string;
  /** The name it was given explicitly (`--sae name=dir`, `sae add name=dir`), if any. */
  readonly name?: string;
}

/** The saved list's file for a jobs folder. */
export function saeListFile(jobsDir: string): string {
  return path.join(jobsDir, 'saes.json');
}

/** The default jobs folder of a data folder. */
export function defaultJobsDir(dataDir: string): string {
  return path.join(dataDir, '.saescope-jobs');
}

/** Reads a saved list (an absent file is an empty list; a malformed one is an error naming it). */
export function readSaeList(file: string): SaeListEntry[] {
  if (!fs.existsSync(file)) return [];
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}); fix or remove it`);
  }
  const list = (v as { saes?: unknown })?.saes;
  if (!Array.isArray(list) || !list.every((e) => typeof e?.dir === 'string' && (e.name === undefined || typeof e.name === 'string'))) {
    throw new Error(`${file}: expected {"saes": [{"dir": "...", "name"?: "..."}]}`);
  }
  return list as SaeListEntry[];
}

/** Writes a saved list atomically. */
export function writeSaeList(file: string, list: readonly SaeListEntry[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeTextAtomic(file, JSON.stringify({ saes: list }, null, 2) + '\n');
}

/** Adds (or renames) a folder in a saved list; the same real folder is listed once. */
export function withEntry(list: readonly SaeListEntry[], dir: string, name?: string): SaeListEntry[] {
  const real = realPathOf(dir);
  const prev = list.find((e) => e.dir === real);
  const rest = list.filter((e) => e.dir !== real);
  return [...rest, { dir: real, ...(name ?? prev?.name ? { name: name ?? prev?.name } : {}) }];
}

/** The served SAEs of one server. */
export class ServedSaes {
  readonly byName = new Map<string, ServedSae>();
  private list: SaeListEntry[];

  constructor(private readonly registry: Registry, private readonly model: HookedModel, private readonly listFile: string) {
    this.list = readSaeList(listFile);
  }

  /**
   * Serves the saved list, then `given` (the command line's SAEs, whose
   * explicit names win); saves the list. A saved folder that no longer loads
   * is reported on stderr and stays listed; a given one that fails is an error.
   */
  start(given: readonly { readonly dir: string; readonly name?: string }[]): void {
    for (const e of this.list) {
      if (given.some((g) => realPathOf(g.dir) === e.dir)) continue;
      try {
        this.serve(e.dir, e.name);
      } catch (err) {
        process.stderr.write(`saescope: the saved SAE at ${e.dir} is not served: ${(err as Error).message}\n`);
      }
    }
    for (const g of given) {
      this.serve(g.dir, g.name);
      this.list = withEntry(this.list, g.dir, g.name);
    }
    this.save();
  }

  /** Loads and serves a folder (replacing what was served from it), adds it to the saved list, and returns it. */
  add(dir: string, name?: string): ServedSae {
    const s = this.serve(dir, name);
    this.list = withEntry(this.list, dir, name);
    this.save();
    return s;
  }

  private serve(dir: string, name?: string): ServedSae {
    const real = realPathOf(dir);
    const sae = loadSae(real);
    checkSaeFitsModel(sae, this.model);
    const keys = this.registry.file(this.model, sae, real, name);
    for (const [n, s] of this.byName) if (s.dir === real || s.keys.sae === keys.sae) this.byName.delete(n);
    // The registry may have renamed an SAE served under this name (its folder now holds these weights): serve it under its new name.
    const holder = this.byName.get(keys.name);
    if (holder) {
      this.byName.delete(keys.name);
      this.byName.set(this.registry.identities.sae(holder.keys.sae)!.name, { ...holder, keys: { ...holder.keys, name: this.registry.identities.sae(holder.keys.sae)!.name } });
    }
    const served = { sae, dir: real, keys };
    this.byName.set(keys.name, served);
    return served;
  }

  private save(): void {
    try {
      writeSaeList(this.listFile, this.list);
    } catch (e) {
      process.stderr.write(`saescope: cannot save the SAE list to ${this.listFile}: ${(e as Error).message}\n`);
    }
  }
}

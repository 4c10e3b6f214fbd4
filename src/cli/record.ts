/**
 * How commands find the record of what they were given: a loaded model and
 * SAE are filed under their identities (any spelling of their paths finds the
 * same record); the registry commands take an SAE by name, id or folder and
 * a model by folder, file or hub id, or none when the SAE's records are under
 * one model only.
 */
import * as fs from 'node:fs';
import { defaultRegistryPath, Registry, type RecordKeys, type SaeEntry } from '../registry/registry.ts';
import { loadSaeForCli, type SaeFlags } from './saeForCli.ts';

/** Opens `--registry` (or the default) when the file exists. */
export function registryIfExists(file: string | undefined): Registry | undefined {
  const p = file ?? defaultRegistryPath();
  return fs.existsSync(p) ? Registry.open(p) : undefined;
}

/** Opens `--registry` (or the default), creating it. */
export function openRegistry(file: string | undefined): Registry {
  return Registry.open(file ?? defaultRegistryPath());
}

/** Runs `fn` with the registry open, closing it after. */
export async function withRegistry<T>(file: string | undefined, fn: (r: Registry) => T | Promise<T>): Promise<T> {
  const r = openRegistry(file);
  try {
    return await fn(r);
  } finally {
    r.close();
  }
}


/** An SAE given as a folder (loaded and filed), or as a name or id the registry knows. */
export function saeEntryFor(reg: Registry, flags: SaeFlags): SaeEntry {
  if (fs.existsSync(flags.sae)) return reg.saeEntry(loadSaeForCli(flags), flags.sae);
  const e = reg.identities.sae(flags.sae);
  if (e) return e;
  const known = reg.identities.saes().map((x) => x.name);
  throw new Error(`--sae ${flags.sae}: no such SAE folder, and no SAE of that name in ${reg.path}${known.length ? ` (known: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', ...' : ''})` : ''}`);
}

/**
 * The keys for the registry commands: the SAE by folder, name or id; the
 * model by folder, file or hub id, or, when omitted, the one model the SAE
 * has records under.
 */
export function recordKeysFor(reg: Registry, o: SaeFlags & { readonly model?: string }): RecordKeys & { readonly name: string } {
  const sae = saeEntryFor(reg, o);
  if (o.model) return { model: reg.modelAt(o.model).id, sae: sae.id, name: sae.name };
  const models = reg.modelsOf(sae.id);
  if (models.length === 1) return { model: models[0], sae: sae.id, name: sae.name };
  if (models.length === 0) throw new Error(`SAE ${sae.name} has no records in ${reg.path} yet: give --model to file new ones`);
  throw new Error(`SAE ${sae.name} has records under ${models.length} models (${models.map((m) => reg.identities.model(m)?.name ?? m).join(', ')}): give --model`);
}

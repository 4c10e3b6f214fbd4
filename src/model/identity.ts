/**
 * What a model's identity is made of. A model in the HF cache layout
 * (`models--org--name/snapshots/<commit>`) is its hub id and revision; any
 * other folder or llama2.c checkpoint is its content: the config's meaning
 * (config.json without `_name_or_path` and `transformers_version`, keys
 * sorted) and the bytes of its weight and tokenizer files, which the registry
 * hashes (remembering each file's hash by its stat signature).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsWeights } from '../io/weights.ts';

/** Where a model's identity comes from. */
export type ModelSource =
  | { readonly kind: 'hub'; readonly hfId: string; readonly revision: string; readonly displayName: string }
  | {
      readonly kind: 'content';
      /** Files whose bytes are the model, sorted. */
      readonly files: readonly string[];
      /** The config's meaning, canonical JSON ('' for llama2.c, whose header is in the file). */
      readonly meta: string;
      readonly displayName: string;
      /** The HF id the config names, for display and SAELens metadata only. */
      readonly hfId?: string;
    };

/** An HF cache snapshot: `models--{id with / as --}/snapshots/{commit}` (hub ids never contain `--`). */
const SNAPSHOT = /(?:^|\/)models--([^/]+)\/snapshots\/([0-9a-f]{40})\/?$/;

/**
 * The identity source of a model at `location` (the folder or file it was
 * loaded from). `hfId`: the id it was asked for by, when it was.
 */
export function modelSource(location: string, hfId?: string): ModelSource {
  if (!fs.existsSync(location)) throw new Error(`${location}: no such model folder or file`);
  const real = fs.realpathSync(location);
  if (fs.statSync(real).isFile()) {
    const tok = path.join(path.dirname(real), 'tokenizer.bin');
    return { kind: 'content', files: fs.existsSync(tok) ? [real, tok] : [real], meta: '', displayName: path.basename(real) };
  }
  const snap = SNAPSHOT.exec(real.split(path.sep).join('/'));
  if (snap) {
    const id = snap[1].split('--').join('/');
    return { kind: 'hub', hfId: id, revision: snap[2], displayName: hfId ?? id };
  }
  const cfgFile = path.join(real, 'config.json');
  const cfg = fs.existsSync(cfgFile) ? (JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>) : {};
  const named = typeof cfg._name_or_path === 'string' && HF_ID.test(cfg._name_or_path) ? cfg._name_or_path : undefined;
  const { _name_or_path: _n, transformers_version: _t, ...meaning } = cfg;
  const files = SafetensorsWeights.fromFolder(real).files();
  for (const extra of ['tokenizer.json', 'tokenizer.bin']) if (fs.existsSync(path.join(real, extra))) files.push(path.join(real, extra));
  return { kind: 'content', files: files.sort(), meta: canonicalJson(meaning), displayName: hfId ?? named ?? path.basename(real), hfId: hfId ?? named };
}

/** An HF hub id: owner/name. */
const HF_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** JSON with object keys sorted at every level. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

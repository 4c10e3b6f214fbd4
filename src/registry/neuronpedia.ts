/**
 * Imports explanations other people wrote, as Neuronpedia exports them: a
 * JSON array or JSONL (optionally gzipped, as its dataset bucket serves them)
 * of records `{modelId, layer, index, description, explanationModelName,
 * typeName, ...}`, where `layer` is the SAE's Neuronpedia id (e.g.
 * `20-gemmascope-mlp-16k`) and `index` the feature (a string or a number).
 * Records are matched by model, SAE and index; every record skipped is
 * counted with its reason. Each imported one becomes an explanation with
 * source `neuronpedia`, its explainer model and any scores it carries.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import type { Registry } from './registry.ts';

/** What to match and where to file it. */
export interface NeuronpediaImport {
  /** Registry model and SAE names the explanations are filed under. */
  readonly model: string;
  readonly sae: string;
  /** Neuronpedia's model id (e.g. `gemma-2-2b`) and SAE id (`layer`, e.g. `20-gemmascope-mlp-16k`). */
  readonly npModel: string;
  readonly npSae: string;
  /** The SAE's width, to refuse indices past it. */
  readonly dSae?: number;
}

/** What an import did. */
export interface NeuronpediaReport {
  readonly imported: number;
  /** Records skipped, by reason. */
  readonly skipped: Readonly<Record<string, number>>;
  /** Distinct features that received an explanation. */
  readonly features: number;
}

/** Most bytes an export may hold (decompressed), and most records. */
export const MAX_EXPORT_BYTES = 256 * 2 ** 20;
export const MAX_EXPORT_RECORDS = 2_000_000;

/** Reads the export's records (array, JSONL, gzip); throws naming the file and line on malformed input, or when it is over the limits. */
export function readNeuronpediaExport(file: string, maxBytes = MAX_EXPORT_BYTES): Record<string, unknown>[] {
  const size = fs.statSync(file).size;
  if (size > maxBytes) throw new Error(`${file}: ${size} bytes, over the ${maxBytes}-byte limit`);
  let buf = fs.readFileSync(file);
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(buf, { maxOutputLength: maxBytes });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new Error(`${file}: decompresses past ${maxBytes} bytes (the limit); refused`);
      throw new Error(`${file}: corrupt gzip data (${(e as Error).message})`);
    }
  }
  const text = buf.toString('utf8').trim();
  if (!text) throw new Error(`${file}: empty file`);
  if (text.startsWith('[')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(data)) throw new Error(`${file}: expected a JSON array of records`);
    if (data.length > MAX_EXPORT_RECORDS) throw new Error(`${file}: ${data.length} records, over the ${MAX_EXPORT_RECORDS} limit`);
    return data.map((r, i) => record(r, file, `item ${i}`));
  }
  const lines = text.split('\n');
  if (lines.length > MAX_EXPORT_RECORDS) throw new Error(`${file}: ${lines.length} lines, over the ${MAX_EXPORT_RECORDS} limit`);
  return lines.flatMap((line, i) => {
    if (!line.trim()) return [];
    try {
      return [record(JSON.parse(line), file, `line ${i + 1}`)];
    } catch (e) {
      throw new Error(e instanceof SyntaxError ? `${file}: line ${i + 1} is not JSON (${e.message})` : (e as Error).message);
    }
  });
}

function record(r: unknown, file: string, where: string): Record<string, unknown> {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error(`${file}: ${where} is not an object`);
  return r as Record<string, unknown>;
}

/** Imports matching records into the registry (one transaction per record); throws when none is for this model and SAE. */
export function importNeuronpedia(registry: Registry, file: string, o: NeuronpediaImport): NeuronpediaReport {
  const records = readNeuronpediaExport(file);
  const skipped: Record<string, number> = {};
  const skip = (why: string) => (skipped[why] = (skipped[why] ?? 0) + 1);
  const models = new Set<string>();
  const saes = new Set<string>();
  const toImport: { feature: number; r: Record<string, unknown> }[] = [];
  const seen = new Set<string>();
  for (const r of records) {
    const modelId = String(r.modelId ?? '');
    const layer = String(r.layer ?? '');
    models.add(modelId);
    if (modelId !== o.npModel) {
      skip(`another model (${modelId || 'none'})`);
      continue;
    }
    saes.add(layer);
    if (layer !== o.npSae) {
      skip(`another SAE (${layer || 'none'})`);
      continue;
    }
    const index = typeof r.index === 'number' ? r.index : typeof r.index === 'string' && /^\d+$/.test(r.index) ? Number(r.index) : NaN;
    if (!Number.isInteger(index) || index < 0) {
      skip('no valid index');
      continue;
    }
    if (o.dSae !== undefined && index >= o.dSae) {
      skip(`index past the SAE's ${o.dSae} features`);
      continue;
    }
    if (typeof r.description !== 'string' || !r.description.trim()) {
      skip('empty description');
      continue;
    }
    // The same explanation twice (in the file, or already in the registry) is one explanation.
    const key = JSON.stringify([index, (r.description as string).trim(), r.explanationModelName ?? null, r.typeName ?? null]);
    if (seen.has(key)) {
      skip('duplicate');
      continue;
    }
    seen.add(key);
    if (registry.explanations(o.model, o.sae, index).some((e) => e.source === 'neuronpedia' && e.explanation === (r.description as string).trim() && e.explainerModel === (typeof r.explanationModelName === 'string' ? r.explanationModelName : null))) {
      skip('already in the registry');
      continue;
    }
    toImport.push({ feature: index, r });
  }
  if (toImport.length === 0) {
    const seen = [...models].filter(Boolean);
    if (!models.has(o.npModel)) throw new Error(`${file}: no explanations for model ${o.npModel} (the file is for ${seen.join(', ') || 'no model'})`);
    if (!saes.has(o.npSae)) throw new Error(`${file}: no explanations for SAE ${o.npSae} of ${o.npModel} (the file has ${[...saes].filter(Boolean).join(', ') || 'none'})`);
    throw new Error(`${file}: nothing to import (${Object.entries(skipped).map(([k, v]) => `${v} ${k}`).join(', ')})`);
  }
  const features = new Set<number>();
  registry.transaction(() => {
    for (const { feature, r } of toImport) {
      const scores: Record<string, unknown> = {};
      for (const k of ['scores', 'score', 'scorerScores']) if (r[k] !== undefined) scores[k] = r[k];
      registry.addExplanation(o.model, o.sae, feature, {
        explanation: (r.description as string).trim(),
        source: 'neuronpedia',
        explainerModel: typeof r.explanationModelName === 'string' ? r.explanationModelName : null,
        promptVersion: typeof r.typeName === 'string' ? r.typeName : null,
        scores,
      });
      features.add(feature);
    }
  });
  return { imported: toImport.length, skipped, features: features.size };
}

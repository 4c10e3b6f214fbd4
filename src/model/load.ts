/**
 * Loads a model from an HF folder, an HF id (local cache first, then the
 * hub), or a llama2.c checkpoint, choosing the adapter by `model_type`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsWeights } from '../io/weights.ts';
import { readJsonFile } from '../io/json.ts';
import { resolveHfModel, type HubOptions } from '../io/hub.ts';
import { loadLlama2c } from '../io/llama2c.ts';
import type { RuntimeOptions } from '../runtime/session.ts';
import { HfTokenizer } from '../tokenizer/hfTokenizer.ts';
import { ChatTemplate } from '../tokenizer/chatTemplate.ts';
import { Llama2cTokenizer } from '../tokenizer/llama2cTokenizer.ts';
import { adapterFor, textModelConfig } from './adapters/registry.ts';
import { llama } from './adapters/llama.ts';
import { HookedModel, type ModelOptions } from './hookedModel.ts';
import { checkSpec } from './spec.ts';

/** Options of `loadModel`. */
export interface LoadOptions extends HubOptions, ModelOptions {
  /** ONNX Runtime settings. */
  readonly runtime?: RuntimeOptions;
  /** llama2.c only: the `tokenizer.bin` (default: beside the checkpoint). */
  readonly tokenizerPath?: string;
}

/** Loads a model from a folder, an HF id, or a llama2.c `.bin`. */
export async function loadModel(pathOrId: string, opts: LoadOptions = {}): Promise<HookedModel> {
  if (fs.existsSync(pathOrId) && fs.statSync(pathOrId).isFile()) return loadLlama2cModel(pathOrId, opts);
  if (fs.existsSync(pathOrId)) return loadHfFolder(pathOrId, opts);
  return loadHfFolder(await resolveHfModel(pathOrId, opts), { hfId: pathOrId, ...opts });
}

/** Loads an HF model folder (config.json, *.safetensors, tokenizer.json). */
export function loadHfFolder(dir: string, opts: LoadOptions = {}): HookedModel {
  const cfgPath = path.join(dir, 'config.json');
  if (!fs.existsSync(cfgPath)) throw new Error(`${dir}: no config.json (is this an HF model folder?)`);
  const cfg = textModelConfig(readJsonFile(cfgPath));
  const adapter = adapterFor(cfg.model_type, cfgPath);
  const spec = adapter.spec(cfg);
  checkSpec(spec, cfgPath);
  const weights = SafetensorsWeights.fromFolder(dir);
  const tokenizer = fs.existsSync(path.join(dir, 'tokenizer.json')) ? HfTokenizer.fromFolder(dir, cfg) : undefined;
  const named = typeof cfg._name_or_path === 'string' && HF_ID.test(cfg._name_or_path) ? cfg._name_or_path : undefined;
  return new HookedModel(dir, spec, adapter, weights, tokenizer, opts.runtime, { hfId: named, chatTemplate: ChatTemplate.fromFolder(dir), ...opts });
}

/** An HF hub id: owner/name. */
const HF_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

function loadLlama2cModel(file: string, opts: LoadOptions): HookedModel {
  const { spec, weights } = loadLlama2c(file);
  const tokPath = opts.tokenizerPath ?? path.join(path.dirname(file), 'tokenizer.bin');
  const tokenizer = fs.existsSync(tokPath) ? Llama2cTokenizer.fromFile(tokPath) : undefined;
  if (tokenizer && tokenizer.vocabSize !== spec.dVocab) {
    throw new Error(`${tokPath}: tokenizer has ${tokenizer.vocabSize} tokens but ${file} has a vocabulary of ${spec.dVocab}`);
  }
  return new HookedModel(file, spec, llama, weights, tokenizer, opts.runtime, opts);
}

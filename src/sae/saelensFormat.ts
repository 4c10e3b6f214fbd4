/**
 * SAELens folders both ways: `cfg.json`, `sae_weights.safetensors` (W_enc
 * [d_in, d_sae], b_enc, W_dec [d_sae, d_in], b_dec, threshold) and
 * `sparsity.safetensors` (`sparsity`: log10 feature density [d_sae]).
 * Saving writes every file atomically.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.ts';
import { readJsonFile } from '../io/json.ts';
import type { RuntimeOptions } from '../runtime/session.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { parseSaeConfig, toSaeLensConfig } from './config.ts';
import { Sae } from './sae.ts';

/** Loads an SAELens-layout SAE folder. */
export function loadSae(dir: string, runtime: RuntimeOptions = {}): Sae {
  const cfgPath = path.join(dir, 'cfg.json');
  if (!fs.existsSync(cfgPath)) throw new Error(`${dir}: no cfg.json (is this an SAELens SAE folder?)`);
  const raw = readJsonFile(cfgPath);
  const cfg = parseSaeConfig(raw, cfgPath);
  const wPath = path.join(dir, 'sae_weights.safetensors');
  if (!fs.existsSync(wPath)) throw new Error(`${dir}: no sae_weights.safetensors`);
  const f = SafetensorsFile.open(wPath);
  const weights: Record<string, Tensor<'float32'>> = {};
  for (const name of f.tensors.keys()) weights[name] = f.readF32(name);
  if (cfg.normalizeActivations !== 'none' && raw.activation_norm_scale !== undefined) {
    throw new Error(`${cfgPath}: normalization scale must be folded into the weights before saving`);
  }
  return new Sae(cfg, weights, runtime, wPath);
}

/** Reads `sparsity.safetensors` (log10 densities) when the folder has one. */
export function loadSparsity(dir: string): Float32Array | undefined {
  const p = path.join(dir, 'sparsity.safetensors');
  if (!fs.existsSync(p)) return undefined;
  return SafetensorsFile.open(p).readF32('sparsity').data;
}

/** Saves an SAE as an SAELens folder (with log10 densities when given). */
export function saveSae(sae: Sae, dir: string, opts: { log10Density?: Float32Array; extraMetadata?: Record<string, unknown> } = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, 'sae_weights.safetensors'), { ...sae.weights });
  if (opts.log10Density) {
    writeSafetensors(path.join(dir, 'sparsity.safetensors'), { sparsity: { dtype: 'float32', shape: [sae.cfg.dSae], data: opts.log10Density } });
  }
  const tmp = path.join(dir, `.cfg.json.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(toSaeLensConfig(sae.cfg, opts.extraMetadata), null, 2));
  fs.renameSync(tmp, path.join(dir, 'cfg.json'));
}

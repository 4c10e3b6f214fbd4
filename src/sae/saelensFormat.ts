/**
 * SAELens folders both ways: `cfg.json`, `sae_weights.safetensors` (W_enc
 * [d_in, d_sae], b_enc, W_dec [d_sae, d_in], b_dec, threshold) and
 * `sparsity.safetensors` (`sparsity`: log10 feature density [d_sae]).
 * Reading any layout is `load.ts`; saving swaps the whole folder in.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, type WriteFn } from '../io/atomicFile.ts';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.ts';
import { architecture } from './architectures/registry.ts';
import { toSaeLensConfig } from './config.ts';
import type { Sae } from './sae.ts';

/** Reads `sparsity.safetensors` (log10 densities) when the folder has one. */
export function loadSparsity(dir: string): Float32Array | undefined {
  const p = path.join(dir, 'sparsity.safetensors');
  if (!fs.existsSync(p)) return undefined;
  const data = SafetensorsFile.open(p).readF32('sparsity').data;
  const bad = data.findIndex((v) => Number.isNaN(v) || v > 1e-6);
  if (bad >= 0) throw new Error(`${p}: sparsity[${bad}] is ${data[bad]}; log10 densities are at most 0 (and never NaN)`);
  return data;
}

/**
 * Saves an SAE as an SAELens folder (with log10 densities when given): only
 * the tensors its architecture uses, and cfg.json with every metadata field
 * SAELens reads. The folder is written beside the target and swapped in whole
 * (rename), so a crash never leaves new weights beside an old cfg.json; the
 * previous folder's other files (e.g. a training checkpoint) are carried over.
 */
export function saveSae(sae: Sae, dir: string, opts: { log10Density?: Float32Array; extraMetadata?: Record<string, unknown>; write?: WriteFn } = {}): void {
  const target = path.resolve(dir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.saving`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    const keep = ['W_enc', 'b_enc', 'W_dec', 'b_dec', ...architecture(sae.cfg.architecture).extraWeights];
    const tensors = Object.fromEntries(keep.map((k) => [k, sae.weights[k]]));
    writeSafetensors(path.join(tmp, 'sae_weights.safetensors'), tensors, undefined, opts.write);
    if (opts.log10Density) {
      writeSafetensors(path.join(tmp, 'sparsity.safetensors'), { sparsity: { dtype: 'float32', shape: [sae.cfg.dSae], data: opts.log10Density } }, undefined, opts.write);
    }
    const cfgText = JSON.stringify(toSaeLensConfig(sae.cfg, opts.extraMetadata), null, 2);
    writeFileAtomic(path.join(tmp, 'cfg.json'), [new TextEncoder().encode(cfgText)], opts.write);
    if (fs.existsSync(target)) {
      if (!fs.statSync(target).isDirectory()) throw new Error(`${dir} exists and is not a folder`);
      for (const e of fs.readdirSync(target)) {
        if (!fs.existsSync(path.join(tmp, e))) fs.renameSync(path.join(target, e), path.join(tmp, e));
      }
      const old = `${target}.${process.pid}.old`;
      fs.renameSync(target, old);
      fs.renameSync(tmp, target);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, target);
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

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
import { savesAsSparsify, sparsifyFolder } from './sparsifyFormat.ts';
import type { Sae } from './sae.ts';

/** The weight files of the layouts saveSae writes (SAELens's, sparsify's). */
const WEIGHT_FILES = ['sae_weights.safetensors', 'sae.safetensors'];

/** Reads `sparsity.safetensors` (log10 densities) when the folder has one; `dSae`: the length it must have. */
export function loadSparsity(dir: string, dSae?: number): Float32Array | undefined {
  const p = path.join(dir, 'sparsity.safetensors');
  if (!fs.existsSync(p)) return undefined;
  const data = SafetensorsFile.open(p).readF32('sparsity').data;
  if (dSae !== undefined && data.length !== dSae) throw new Error(`${p}: holds ${data.length} densities but the SAE has ${dSae} latents`);
  const bad = data.findIndex((v) => Number.isNaN(v) || v > 1e-6);
  if (bad >= 0) throw new Error(`${p}: sparsity[${bad}] is ${data[bad]}; log10 densities are at most 0 (and never NaN)`);
  return data;
}

/**
 * Saves an SAE as an SAELens folder (a TopK transcoder, which SAELens has no
 * class for, as a sparsify folder: sparsifyFormat.ts), with log10 densities when given: only
 * the tensors its architecture uses, and cfg.json with every metadata field
 * SAELens reads. The folder is written beside the target and swapped in whole
 * (rename), so a crash never leaves new weights beside an old cfg.json; the
 * previous folder's other files (e.g. a training checkpoint) are carried over.
 */
export function saveSae(sae: Sae, dir: string, opts: { log10Density?: Float32Array; extraMetadata?: Record<string, unknown>; write?: WriteFn } = {}): void {
  const target = path.resolve(dir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  recoverSaeSwap(target);
  const tmp = `${target}.${process.pid}.saving`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    let cfgJson: Record<string, unknown>;
    if (savesAsSparsify(sae.cfg)) {
      const f = sparsifyFolder(sae, opts.extraMetadata);
      writeSafetensors(path.join(tmp, 'sae.safetensors'), f.tensors, undefined, opts.write);
      cfgJson = f.cfg;
    } else {
      const keep = ['W_enc', 'b_enc', 'W_dec', 'b_dec', ...architecture(sae.cfg.architecture).extraWeights, ...(sae.cfg.skip ? ['W_skip'] : [])];
      const tensors = Object.fromEntries(keep.map((k) => [k, sae.weights[k]]));
      writeSafetensors(path.join(tmp, 'sae_weights.safetensors'), tensors, undefined, opts.write);
      cfgJson = toSaeLensConfig(sae.cfg, opts.extraMetadata);
    }
    if (opts.log10Density) {
      writeSafetensors(path.join(tmp, 'sparsity.safetensors'), { sparsity: { dtype: 'float32', shape: [sae.cfg.dSae], data: opts.log10Density } }, undefined, opts.write);
    }
    const cfgText = JSON.stringify(cfgJson, null, 2);
    writeFileAtomic(path.join(tmp, 'cfg.json'), [new TextEncoder().encode(cfgText)], opts.write);
    if (fs.existsSync(target)) {
      if (!fs.statSync(target).isDirectory()) throw new Error(`${dir} exists and is not a folder`);
      // The previous folder's other files are linked (or copied) into the new one, never moved: until the swap, the old folder is whole.
      for (const e of fs.readdirSync(target)) {
        const from = path.join(target, e);
        const to = path.join(tmp, e);
        // Weights of the other layout are the old SAE's, not the new one's: never carried over.
        if (fs.existsSync(to) || WEIGHT_FILES.includes(e)) continue;
        if (fs.statSync(from).isDirectory()) fs.cpSync(from, to, { recursive: true });
        else {
          try {
            fs.linkSync(from, to);
          } catch {
            fs.copyFileSync(from, to);
          }
        }
      }
      const old = `${target}.${process.pid}.old`;
      fs.renameSync(target, old);
      // A crash here leaves no folder at the target: recoverSaeSwap promotes the complete new one on the next load or save.
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

/**
 * Finishes a swap a crash interrupted: with no folder at `target`, a complete
 * new one (`TARGET.PID.saving`, written in full before the swap began) takes
 * its place, else the previous one (`TARGET.PID.old`) comes back; with the
 * folder in place, leftovers of finished or abandoned saves are removed.
 * Returns what it did, or undefined.
 */
export function recoverSaeSwap(target: string): string | undefined {
  const parent = path.dirname(target);
  if (!fs.existsSync(parent)) return undefined;
  const base = path.basename(target);
  const left = fs.readdirSync(parent).filter((e) => e.startsWith(`${base}.`) && /^\d+\.(saving|old)$/.test(e.slice(base.length + 1)));
  if (!left.length) return undefined;
  const of = (kind: string) => left.filter((e) => e.endsWith(`.${kind}`)).map((e) => path.join(parent, e));
  let did: string | undefined;
  if (!fs.existsSync(target)) {
    const saving = of('saving').find((d) => fs.existsSync(path.join(d, 'cfg.json')) && fs.existsSync(path.join(d, 'sae_weights.safetensors')));
    const back = saving ?? of('old')[0];
    if (back) {
      fs.renameSync(back, target);
      did = `${target}: finished an interrupted save (${saving ? 'the new SAE' : 'the previous SAE'} put back in place)`;
    }
  }
  // Only what a save made is removed, and only once the folder is in place.
  if (fs.existsSync(target)) for (const d of [...of('saving'), ...of('old')]) if (fs.existsSync(d) && !isOwnSaveAlive(d)) fs.rmSync(d, { recursive: true, force: true });
  return did;
}

/** Whether the save that made `dir` (TARGET.PID.kind) may still be running: its process is alive. */
function isOwnSaveAlive(dir: string): boolean {
  const pid = Number(/\.(\d+)\.(saving|old)$/.exec(dir)?.[1]);
  if (!pid || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

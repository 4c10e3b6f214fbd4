/** Whether a folder already holds an SAE, so that writing one there would replace it. */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Files whose presence means a folder holds an SAE (any layout saescope reads). */
const SAE_FILES = ['cfg.json', 'sae_weights.safetensors', 'sae.safetensors', 'params.npz', 'hyperparams.json'];

/** True when `dir` exists and holds an SAE's files. */
export function holdsSae(dir: string): boolean {
  return SAE_FILES.some((f) => fs.existsSync(path.join(dir, f)));
}

/** Throws naming the folder unless it holds no SAE or `overwrite` is set. */
export function refuseOverwrite(dir: string, what: string, overwrite: boolean | undefined): void {
  if (!overwrite && holdsSae(dir)) {
    throw new Error(`${what} ${dir} already holds an SAE; pass --overwrite to replace it (what the registry learned about it stays with those weights)`);
  }
}

/**
 * What training will hold in memory, estimated before it starts, so that a
 * width or batch too large for the machine is refused with the estimate
 * instead of growing until the process is killed.
 */
import * as os from 'node:os';

/** Bytes one SAE's training holds: weights, gradients and Adam's two moments (4 x 2 x d_in x d_sae floats), and a batch's dense encoder output and inputs. */
export function trainingBytes(dIn: number, dSae: number, batch: number): number {
  return 4 * (4 * 2 * dIn * dSae + 2 * batch * dSae + 4 * batch * dIn);
}

/** Largest batch accepted (tokens per step). */
export const MAX_BATCH = 1 << 18;

/**
 * Throws, with the estimate and the flags to change, when training these
 * SAEs (each [dIn, dSae] at `batch` tokens per step) would not fit in
 * `available` bytes (default 90% of this machine's memory).
 */
export function checkTrainingFits(saes: readonly { readonly dIn: number; readonly dSae: number }[], batch: number, available = 0.9 * os.totalmem()): void {
  if (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH) throw new Error(`--batch-size must be an integer in [1, ${MAX_BATCH}], got ${batch}`);
  const bytes = saes.reduce((a, s) => a + trainingBytes(s.dIn, s.dSae, batch), 0);
  if (bytes > available) {
    const gib = (b: number) => (b / 2 ** 30).toFixed(1);
    const widest = saes.reduce((a, s) => (s.dSae > a.dSae ? s : a));
    throw new Error(`training would hold about ${gib(bytes)} GiB (d_sae up to ${widest.dSae} on d_in ${widest.dIn}, batch ${batch}); this machine has ${gib(available)} GiB to give it: lower --expansion or --batch-size`);
  }
}

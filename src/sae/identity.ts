/**
 * An SAE's identity is its content: SHA-256 over the meaning of its config
 * (what changes what it computes: architecture, widths, k, input handling,
 * normalization, the hook it reads and a transcoder's output hook) and every weight's name, shape and bytes
 * as loaded (folds applied), so the same SAE in another layout or folder is
 * the same SAE and any changed weight is a new one. Metadata (model name,
 * dataset, context size) is not part of it. 128 bits of the digest are kept.
 */
import { createHash } from 'node:crypto';
import type { Sae } from './sae.ts';

const ids = new WeakMap<Sae, string>();

/** Version of the identity scheme, hashed in so a future change cannot collide with today's ids. */
const SCHEME = 'saescope-sae-identity-1';

/** `sae-` and 32 hex digits; computed once per loaded SAE (about 2 GB/s of weights). */
export function saeIdentity(sae: Sae): string {
  const known = ids.get(sae);
  if (known) return known;
  const c = sae.cfg;
  const h = createHash('sha256');
  h.update(JSON.stringify({
    scheme: SCHEME, architecture: c.architecture, dIn: c.dIn, dSae: c.dSae, k: c.k ?? null, applyBDecToInput: c.applyBDecToInput,
    normalizeActivations: c.normalizeActivations, centerInput: c.centerInput === true, hookName: c.hookName,
    // A transcoder's output side (absent for SAEs, whose identities stay what they were).
    ...(c.hookNameOut !== undefined ? { hookNameOut: c.hookNameOut, dOut: c.dOut ?? c.dIn, skip: c.skip === true } : {}),
  }));
  for (const name of Object.keys(sae.weights).sort()) {
    const t = sae.weights[name];
    h.update(`\0${name}[${t.shape.join(',')}]\0`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  const id = `sae-${h.digest('hex').slice(0, 32)}`;
  ids.set(sae, id);
  return id;
}

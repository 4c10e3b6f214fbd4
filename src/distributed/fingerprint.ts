/**
 * Fingerprints that let a distributed worker check that it loaded the model
 * and SAE the coordinator meant: the architecture, the parameter count, the
 * weight mode and a strided sample of the unembedding for the model; the
 * config and a strided sample of every weight for the SAE. Paths are not part
 * of them (each machine resolves its own).
 */
import { createHash } from 'node:crypto';
import type { HookedModel } from '../model/hookedModel.ts';
import type { Sae } from '../sae/sae.ts';

const SAMPLES = 65536;

function sample(h: ReturnType<typeof createHash>, data: Float32Array): void {
  const step = Math.max(1, Math.floor(data.length / SAMPLES));
  const s = new Float32Array(Math.ceil(data.length / step));
  for (let i = 0, j = 0; i < data.length; i += step, j++) s[j] = data[i];
  h.update(new Uint8Array(s.buffer));
  h.update(String(data.length));
}

/** The model's fingerprint (hex). */
export function modelFingerprint(model: HookedModel): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ spec: model.spec, parameters: model.info().parameters, weights: model.weightMode }));
  sample(h, model.unembedding().weight.data);
  return h.digest('hex').slice(0, 24);
}

/** The SAE's fingerprint (hex). */
export function saeFingerprint(sae: Sae): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ ...sae.cfg, datasetPath: undefined }));
  for (const k of Object.keys(sae.weights).sort()) {
    h.update(k);
    sample(h, sae.weights[k].data);
  }
  return h.digest('hex').slice(0, 24);
}

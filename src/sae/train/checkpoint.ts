/**
 * Training checkpoints: one `checkpoint.safetensors` holding every SAE's
 * parameters, Adam moments and latent statistics, the shuffle buffers, and a
 * JSON state (step, tokens, corpus position, samplers) in its metadata.
 * Written atomically: a failed write leaves the previous checkpoint intact.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../../io/safetensors.ts';
import type { Tensor } from '../../tensor/tensor.ts';

/** The JSON part of a checkpoint. */
export interface CheckpointState {
  /** Identifies the run's configuration; a resume with another is refused. */
  readonly fingerprint: string;
  readonly step: number;
  readonly tokens: number;
  readonly rowsConsumed: number;
  /** Per SAE: Adam step count and batch-threshold estimate. */
  readonly saes: readonly { readonly t: number; readonly threshold?: number; readonly trackerTokens: number }[];
  /** Per hook: input scale and buffer sampler state. */
  readonly hooks: Readonly<Record<string, { readonly scale: number; readonly rng: readonly number[] }>>;
}

/** The file a checkpoint lives in. */
export function checkpointPath(dir: string): string {
  return path.join(dir, 'checkpoint.safetensors');
}

/** Writes a checkpoint atomically. */
export function writeCheckpoint(dir: string, state: CheckpointState, tensors: Record<string, Float32Array>): void {
  fs.mkdirSync(dir, { recursive: true });
  const t: Record<string, Tensor<'float32'>> = {};
  for (const [k, v] of Object.entries(tensors)) t[k] = { dtype: 'float32', shape: [v.length], data: v };
  writeSafetensors(checkpointPath(dir), t, { state: JSON.stringify(state) });
}

/** Reads a checkpoint, or undefined when there is none. */
export function readCheckpoint(dir: string): { state: CheckpointState; tensors: Record<string, Float32Array> } | undefined {
  const p = checkpointPath(dir);
  if (!fs.existsSync(p)) return undefined;
  const f = SafetensorsFile.open(p);
  const state = JSON.parse(f.metadata.state) as CheckpointState;
  const tensors: Record<string, Float32Array> = {};
  for (const k of f.tensors.keys()) tensors[k] = f.readF32(k).data;
  return { state, tensors };
}

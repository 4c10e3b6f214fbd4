/** Loads a model for a command, drawing download progress bars when the hub is used. */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { loadModel } from '../model/load.ts';
import { checkWeightMode, type HookedModel, type WeightMode } from '../model/hookedModel.ts';
import { downloadBars } from './progress.ts';

/** The model options every command with `--model` takes. */
export interface ModelFlags {
  readonly weights?: WeightMode;
}

export async function loadForCli(pathOrId: string, flags: ModelFlags = {}): Promise<HookedModel> {
  const bars = downloadBars();
  try {
    return await loadModel(pathOrId, {
      onProgress: bars.onProgress,
      weights: flags.weights,
      onNotice: (m) => process.stderr.write(`saescope: ${m}\n`),
    });
  } finally {
    bars.stop();
  }
}

/** Adds `--weights` to every command that takes `--model` (one place, so every command agrees). */
export function addModelFlags(program: Command): void {
  for (const cmd of program.commands) {
    if (!cmd.options.some((o) => o.long === '--model')) continue;
    cmd.option('--weights <mode>', 'weight precision: f32 (exact, default), int8 or int4 (block-quantized linear layers, cached on disk), or int4-f32 (int4 weights against f32 activations: less memory and closer to f32, slower)', parseWeights);
  }
}

function parseWeights(v: string): WeightMode {
  return checkWeightMode(v, '--weights');
}

/** Peak resident memory of this process so far, in MiB (Linux; undefined elsewhere). */
export function peakRssMiB(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** Load time, memory and weights of a model, for `--json` and `--verbose` reports. */
export function resourceReport(model: HookedModel, loadSeconds: number): Record<string, unknown> {
  const info = model.info();
  return {
    load_seconds: Number(loadSeconds.toFixed(3)),
    peak_rss_mib: peakRssMiB(),
    weights: info.weightMode,
    weights_mib: Math.round(info.weights.bytes / 2 ** 20),
    quantized_mib: info.quantizedBytes === undefined ? undefined : Math.round(info.quantizedBytes / 2 ** 20),
    sessions: info.sessions.length,
  };
}

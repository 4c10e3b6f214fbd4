/** Loads an SAE for a command, with the flags every command with `--sae <dir>` takes. */
import type { Command } from 'commander';
import { loadSae } from '../sae/load.ts';
import type { Sae } from '../sae/sae.ts';

/** The SAE options of a command. */
export interface SaeFlags {
  readonly sae: string;
  readonly hook?: string;
  readonly normScale?: number;
}

/** Loads `flags.sae` in any supported layout, with `--hook` and `--norm-scale`. */
export function loadSaeForCli(flags: SaeFlags): Sae {
  return loadSae(flags.sae, { hook: flags.hook, normScalingFactor: flags.normScale });
}

/** Adds `--hook` and `--norm-scale` to every command that takes an SAE folder (one place, so every command agrees). */
export function addSaeFlags(program: Command): void {
  for (const cmd of program.commands) {
    const sae = cmd.options.find((o) => o.long === '--sae');
    if (!sae || !sae.flags.includes('<dir>')) continue;
    cmd.option('--hook <name>', "read this hook instead of the SAE's own (TransformerLens name)");
    cmd.option('--norm-scale <x>', 'input scale of an expected_average_only_in SAE without activation_scaler.json', parseScale);
  }
}

function parseScale(v: string): number {
  const x = Number(v);
  if (!Number.isFinite(x) || x <= 0) throw new Error(`--norm-scale must be a positive number, got '${v}'`);
  return x;
}

/** `saescope sae info`: what an SAE folder or file is, as saescope reads it. */
import type { Command } from 'commander';
import { loadSae } from '../../sae/load.ts';

export function registerSae(program: Command): void {
  const sae = program.command('sae').description('inspect SAE folders (SAELens, Gemma Scope, Llama Scope, sparsify)');
  sae
    .command('info')
    .description('print the detected format, architecture, widths, hook, normalization and the folds applied to read it')
    .argument('<dir>', 'SAE folder, or a Gemma Scope params.npz')
    .option('--hook <name>', "read this hook instead of the SAE's own")
    .option('--norm-scale <x>', 'input scale of an expected_average_only_in SAE without activation_scaler.json', Number)
    .option('--json', 'print JSON')
    .action((dir: string, o) => {
      const s = loadSae(dir, { hook: o.hook, normScalingFactor: o.normScale });
      const c = s.cfg;
      const out = {
        source: s.source,
        format: s.origin.format,
        architecture: c.architecture,
        d_in: c.dIn,
        d_sae: c.dSae,
        k: c.k ?? null,
        hook: c.hookName,
        model: c.modelName || null,
        apply_b_dec_to_input: c.applyBDecToInput,
        normalization: c.normalizeActivations,
        center_input: c.centerInput === true,
        folds: s.origin.folds,
      };
      if (o.json) {
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      const lines = Object.entries(out)
        .filter(([k]) => k !== 'folds')
        .map(([k, v]) => `${k.padEnd(22)}${String(v)}`);
      lines.push(`folds${' '.repeat(17)}${out.folds.length ? out.folds.join('; ') : 'none'}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

/**
 * `saescope sae info`: what an SAE folder or file is, as saescope reads it.
 * `saescope sae add|list|remove`: the SAEs `serve` serves from a data folder
 * (its saved list, which jobs add to as well).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { loadSae } from '../../sae/load.ts';
import { saeIdentity } from '../../sae/identity.ts';
import { defaultJobsDir, readSaeList, saeListFile, withEntry, writeSaeList } from '../../server/saes.ts';
import { realPathOf } from '../../server/paths.ts';
import { checkSaeName } from '../../registry/identities.ts';
import { parseSaeSpec } from '../options.ts';
import { registryIfExists } from '../record.ts';
import { table } from '../table.ts';

/** The saved list of a data folder (`--jobs-dir` when the server was given one). */
function listFileOf(o: { data: string; jobsDir?: string }): string {
  if (!fs.existsSync(o.data) || !fs.statSync(o.data).isDirectory()) throw new Error(`--data ${o.data}: no such folder`);
  return saeListFile(o.jobsDir ?? defaultJobsDir(path.resolve(o.data)));
}

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
        kind: c.hookNameOut !== undefined ? (c.skip ? 'transcoder with skip' : 'transcoder') : 'sae',
        architecture: c.architecture,
        d_in: c.dIn,
        d_sae: c.dSae,
        ...(c.hookNameOut !== undefined ? { d_out: c.dOut ?? c.dIn } : {}),
        k: c.k ?? null,
        hook: c.hookName,
        ...(c.hookNameOut !== undefined ? { hook_out: c.hookNameOut } : {}),
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

  const where = (c: Command) => c.requiredOption('--data <dir>', 'the data folder given to serve --data (or the demo\'s --dir)').option('--jobs-dir <dir>', 'the jobs folder, when serve was given one');

  where(sae.command('add').description('add an SAE folder to what serve serves from this data folder (kept across restarts)'))
    .argument('<name=dir>', 'the SAE folder, optionally with the name to serve it under')
    .option('--registry <db>', 'also file it in this registry (default $SAESCOPE_REGISTRY or ./saescope-registry.db, when it exists)')
    .action((spec: string, o) => {
      const { name, dir } = parseSaeSpec(spec);
      if (name !== undefined) checkSaeName(name);
      const loaded = loadSae(dir);
      const file = listFileOf(o);
      const reg = registryIfExists(o.registry);
      try {
        const entry = reg?.saeEntry(loaded, dir, name);
        writeSaeList(file, withEntry(readSaeList(file), dir, name));
        process.stdout.write(`added ${realPathOf(dir)}${name ?? entry ? ` as ${name ?? entry!.name}` : ''} (SAE ${saeIdentity(loaded)}) to ${file}\n`);
      } finally {
        reg?.close();
      }
    });

  where(sae.command('list').description('the SAEs serve serves from this data folder'))
    .option('--json', 'print JSON')
    .action((o) => {
      const list = readSaeList(listFileOf(o)).map((e) => ({ ...e, exists: fs.existsSync(e.dir) }));
      if (o.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      process.stdout.write(table(['name', 'folder', 'present'], list.map((e) => [e.name ?? '(folder name)', e.dir, e.exists ? 'yes' : 'no'])));
    });

  where(sae.command('remove').description('stop serving an SAE from this data folder (its files and registry records stay)'))
    .argument('<nameOrDir>', 'the name it was added under, or its folder')
    .action((which: string, o) => {
      const file = listFileOf(o);
      const list = readSaeList(file);
      const real = fs.existsSync(which) ? realPathOf(which) : undefined;
      const keep = list.filter((e) => e.name !== which && e.dir !== real && path.basename(e.dir) !== which);
      if (keep.length === list.length) throw new Error(`${which}: not in ${file} (listed: ${list.map((e) => e.name ?? e.dir).join(', ') || 'nothing'})`);
      writeSaeList(file, keep);
      process.stdout.write(`removed ${list.length - keep.length} entr${list.length - keep.length === 1 ? 'y' : 'ies'} from ${file}\n`);
    });
}

/** `saescope report`: a training run as one self-contained HTML page with plots. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { writeTextAtomic } from '../../io/atomicFile.ts';
import { readJsonFile } from '../../io/json.ts';
import { loadSae } from '../../sae/load.ts';
import { trainingReport } from '../../sae/report.ts';

/** Writes the report of the SAE in `dir` (log: `dir/train_log.jsonl` when present and none is given). */
export function writeReport(dir: string, out: string, o: { log?: string; evalFile?: string } = {}): void {
  const log = o.log ?? (fs.existsSync(path.join(dir, 'train_log.jsonl')) ? path.join(dir, 'train_log.jsonl') : undefined);
  const evaluation = o.evalFile ? readJsonFile(o.evalFile) : undefined;
  writeTextAtomic(out, trainingReport({ sae: loadSae(dir), dir, log, evaluation }));
}

export function registerReport(program: Command): void {
  program.command('report')
    .description('write a training run as one self-contained HTML page: loss, MSE, L0, explained variance and dead fraction against tokens; density, decoder-norm and encoder/decoder-cosine histograms; the most and least frequent features; the evaluation table')
    .requiredOption('--run <dir>', 'the trained SAE folder')
    .option('--log <file>', "the trainer's JSON-lines log (default: DIR/train_log.jsonl when present)")
    .option('--eval <file>', '`saescope eval --json` output')
    .requiredOption('--out <file>', 'the HTML file to write')
    .action((o) => {
      writeReport(o.run, o.out, { log: o.log, evalFile: o.eval });
      process.stderr.write(`wrote ${o.out}\n`);
    });
}

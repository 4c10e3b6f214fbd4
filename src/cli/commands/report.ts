/** `saescope report`: a training run as one self-contained HTML page with plots. */
import type { Command } from 'commander';
import { writeReport } from '../../sae/report.ts';

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

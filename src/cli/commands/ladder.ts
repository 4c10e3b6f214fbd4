/** `saescope ladder`: one SAE per width from one pass, measured for the dictionary-size choice. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { checkWritable, writeTextAtomic } from '../../io/atomicFile.ts';
import type { SaeArchitecture } from '../../sae/config.ts';
import { checkWidths, ladderCsv, modelLadder, rowsLadder, type Ladder } from '../../analysis/ladder/ladder.ts';
import { SafetensorsFile } from '../../io/safetensors.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { ladderReport } from '../../analysis/ladder/report.ts';
import { loadForCli } from '../loadForCli.ts';
import { progressBar } from '../progress.ts';
import { parseCount, parseNumber } from '../options.ts';
import { table } from '../table.ts';
import { architectureNames, needsK } from '../../sae/architectures/registry.ts';

const ARCHS: readonly string[] = architectureNames();

/** Comma-separated widths, checked as numbers here and as a ladder by checkWidths. */
function parseWidths(v: string): number[] {
  return v.split(',').map((w) => parseCount('--widths')(w.trim()));
}

/** A 2-D float tensor [N, d_in] from a safetensors file: the one it holds, or the named one. */
function readRows(file: string, name: string | undefined, flag: string): Tensor<'float32'> {
  const f = SafetensorsFile.open(file);
  const names = [...f.tensors.keys()];
  const pick = name ?? (names.length === 1 ? names[0] : undefined);
  if (pick === undefined) throw new Error(`${flag} ${file} holds ${names.length} tensors (${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''}): name one with --rows-tensor`);
  const info = f.tensors.get(pick);
  if (!info) throw new Error(`${flag} ${file} has no tensor '${pick}' (it has ${names.slice(0, 8).join(', ')})`);
  if (info.shape.length !== 2 || info.shape[0] < 2) throw new Error(`${flag} ${file}: tensor '${pick}' must be [N, d_in] with N >= 2, got [${info.shape.join(', ')}]`);
  return f.readF32(pick);
}

/** Holds out the last rows (`evalTokens`, at most a fifth) and trains on the rest. */
function splitHeldOut(rows: Tensor<'float32'>, evalTokens: number): { train: Tensor<'float32'>; heldOut: Tensor<'float32'> } {
  const [n, d] = rows.shape;
  const held = Math.max(1, Math.min(evalTokens, Math.floor(n / 5)));
  const cut = n - held;
  return {
    train: { dtype: 'float32', shape: [cut, d], data: rows.data.subarray(0, cut * d) },
    heldOut: { dtype: 'float32', shape: [held, d], data: rows.data.subarray(cut * d) },
  };
}

export function registerLadder(program: Command): void {
  program.command('ladder')
    .description('the dictionary-size ladder: train one SAE per width in one pass and report, on held-out text, explained variance, CE loss recovered, description length (bits per token) and MMCS with the neighbouring widths; JSON, CSV and an HTML report with the bounce marked')
    .option('--model <pathOrId>', 'HF model folder, HF id, or llama2.c .bin (not with --rows)')
    .option('--hook <hook>', 'hook name (with --rows: only a label, default "rows")')
    .option('--rows <file>', 'train on rows already collected: a .safetensors file with one 2-D float tensor [N, d_in] (or --rows-tensor), instead of --model and --corpus')
    .option('--rows-tensor <name>', 'with --rows: the tensor to read, when the file has several')
    .option('--eval-rows <file>', 'with --rows: held-out rows (default: the last --eval-tokens rows of --rows, at most a fifth, are held out)')
    .requiredOption('--widths <list>', 'strictly increasing widths (d_sae), comma-separated, e.g. 256,512,1024', parseWidths)
    .option('--corpus <spec>', 'training corpus (with --model)')
    .option('--eval-corpus <spec>', 'held-out corpus (default: the training corpus after the rows training read)')
    .requiredOption('--tokens <n>', 'training tokens per width', parseCount('--tokens'))
    .option('--eval-tokens <n>', 'held-out tokens', parseCount('--eval-tokens'), 20_000)
    .requiredOption('--out <dir>', 'folder for the SAEs (width-N/), ladder.json, ladder.csv and report.html')
    .option('--arch <arch>', `architecture: ${ARCHS.join(', ')}`, 'topk')
    .option('--k <k>', 'active latents per token (topk, batchtopk)', parseCount('--k'), 32)
    .option('--lr <lr>', 'peak learning rate', parseNumber('--lr'), 3e-4)
    .option('--l1 <c>', 'sparsity coefficient (standard, jumprelu)', parseNumber('--l1'))
    .option('--precision <p>', 'quantization step of codes and residual, relative to RMS(x), for the description length', parseNumber('--precision'), 1 / 64)
    .option('--batch-size <n>', 'tokens per step', parseCount('--batch-size'), 4096)
    .option('--context-size <n>', 'tokens per row', parseCount('--context-size'), 128)
    .option('--seed <s>', 'seed', parseCount('--seed'), 0)
    .option('--json', 'print the ladder as JSON')
    .action(async (o) => {
      if (!ARCHS.includes(o.arch)) throw new Error(`--arch must be one of ${ARCHS.join(', ')}, got '${o.arch}'`);
      const withK = needsK(o.arch);
      checkWidths(o.widths, withK ? o.k : undefined);
      if (!(o.precision > 0)) throw new Error(`--precision must be positive, got ${o.precision}`);
      if (o.rows && (o.model || o.corpus || o.evalCorpus)) throw new Error('--rows trains on rows already collected: give it without --model, --corpus and --eval-corpus');
      if (!o.rows && !(o.model && o.corpus && o.hook)) throw new Error('give --model, --hook and --corpus (or --rows FILE.safetensors)');
      if (!o.rows && (o.evalRows || o.rowsTensor)) throw new Error('--eval-rows and --rows-tensor go with --rows');
      checkWritable(path.join(o.out, 'ladder.json'), '--out', true);
      const bar = progressBar(` ladder: train ${o.widths.length} SAEs [{bar}] {percentage}% | {value}/{total} tok`);
      const common = {
        widths: o.widths, architecture: o.arch as SaeArchitecture, k: withK ? o.k : undefined,
        tokens: o.tokens, evalTokens: o.evalTokens, out: o.out, precision: o.precision, lr: o.lr, sparsityCoef: o.l1,
        train: {
          batchSize: o.batchSize, contextSize: o.contextSize, seed: o.seed,
          onStep: (m: { tokens: number }) => {
            bar.update(Math.min(m.tokens, o.tokens));
            if (m.tokens >= o.tokens) {
              bar.stop();
              process.stderr.write(`ladder: evaluating ${o.widths.length} SAEs on ${o.evalTokens} held-out tokens (description length${o.rows ? '' : ', CE loss'}, MMCS)\n`);
            }
          },
        },
      };
      bar.start(o.tokens, 0);
      let l: Ladder;
      if (o.rows) {
        const all = readRows(o.rows, o.rowsTensor, '--rows');
        const { train, heldOut } = o.evalRows ? { train: all, heldOut: readRows(o.evalRows, o.rowsTensor, '--eval-rows') } : splitHeldOut(all, o.evalTokens);
        l = await rowsLadder(train, heldOut, { ...common, hook: o.hook });
      } else {
        const model = await loadForCli(o.model, o);
        l = await modelLadder(model, o.hook, { ...common, corpus: o.corpus, evalCorpus: o.evalCorpus });
      }
      bar.stop();
      writeTextAtomic(path.join(o.out, 'ladder.json'), JSON.stringify(l, null, 2) + '\n');
      writeTextAtomic(path.join(o.out, 'ladder.csv'), ladderCsv(l));
      writeTextAtomic(path.join(o.out, 'report.html'), ladderReport(l));
      if (o.json) {
        process.stdout.write(JSON.stringify(l, null, 2) + '\n');
        return;
      }
      const f = (v: number | null, p = 4) => (v === null ? '-' : Number(v.toPrecision(p)));
      process.stdout.write(table(['width', 'EV', 'CE recovered', 'L0', 'dead', 'bits/token', 'MMCS smaller', 'MMCS larger'],
        l.rungs.map((r) => [r.width, f(r.explained_variance), f(r.ce_loss_score), f(r.l0), f(r.dead_fraction), f(r.description_length.bits_per_token), f(r.mmcs_smaller), f(r.mmcs_larger)])));
      const b = l.bounce;
      process.stdout.write(b.description_length || b.mmcs
        ? `bounce: ${[b.description_length ? `description length lowest at ${b.description_length}` : '', b.mmcs ? `MMCS peaks at ${b.mmcs}` : ''].filter(Boolean).join('; ')}\n`
        : 'no bounce over these widths (no interior minimum of the description length, no interior MMCS peak)\n');
      process.stderr.write(`wrote ${path.join(o.out, 'ladder.json')}, ladder.csv, report.html\n`);
    });
}

/** `saescope run`: one forward pass, writing cached hooks and logits to safetensors. */
import type { Command } from 'commander';
import { writeSafetensors } from '../../io/safetensors.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { loadForCli, resourceReport } from '../loadForCli.ts';
import { parseTokenList } from '../options.ts';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run a forward pass and write cached hooks [batch, pos, ...] and logits as float32 safetensors')
    .requiredOption('--model <pathOrId>', 'HF model folder, HF id, or llama2.c .bin')
    .option('--tokens <ids>', 'token ids, e.g. 1,2,3 (";" between sequences)', parseTokenList)
    .option('--text <text...>', 'text(s) to tokenize (BOS prepended as the model expects)')
    .option('--cache <globs>', 'hook names or globs, comma-separated (e.g. "blocks.*.hook_resid_post")', '')
    .requiredOption('--out <file>', 'output .safetensors file')
    .option('--json', 'print what was written, load time and memory as JSON')
    .option('--verbose', 'print load time and memory to stderr')
    .action(async (o) => {
      if ((o.tokens === undefined) === (o.text === undefined)) throw new Error('give exactly one of --tokens or --text');
      const t0 = performance.now();
      const model = await loadForCli(o.model, o);
      const cache = String(o.cache).split(',').map((s) => s.trim()).filter(Boolean);
      const res = await model.run(o.tokens ?? o.text, { cache });
      const report = resourceReport(model, (performance.now() - t0) / 1000);
      const tensors: Record<string, Tensor<'float32'> | Tensor<'int64'>> = { ...res.cache, logits: res.logits! };
      const T = Math.max(...res.lengths);
      const ids = new BigInt64Array(res.tokens.length * T);
      res.tokens.forEach((s, b) => s.forEach((t, i) => (ids[b * T + i] = BigInt(t))));
      tensors.tokens = { dtype: 'int64', shape: [res.tokens.length, T], data: ids };
      writeSafetensors(o.out, tensors, { lengths: JSON.stringify(res.lengths), model: model.name });
      if (o.json) process.stdout.write(JSON.stringify({ out: o.out, hooks: Object.keys(res.cache), lengths: res.lengths, ...report }) + '\n');
      else process.stderr.write(`wrote ${Object.keys(res.cache).length} hooks, logits and tokens to ${o.out}\n`);
      if (o.verbose) process.stderr.write(`load to first logits ${report.load_seconds} s, peak resident ${report.peak_rss_mib} MiB, ${report.weights} weights ${report.weights_mib} MiB in memory\n`);
      await model.dispose();
    });
}

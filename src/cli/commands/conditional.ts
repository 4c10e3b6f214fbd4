/** `saescope conditional`: a feature's activation distribution stacked by token or by explanation match. */
import type { Command } from 'commander';
import { conditionalCsv } from '../../analysis/conditional.ts';
import { checkWritable, writeTextAtomic } from '../../io/atomicFile.ts';
import { conditionalFromRegistry } from '../../interp/conditionalJudge.ts';
import { defaultRegistryPath, Registry } from '../../registry/registry.ts';
import { parseCount } from '../options.ts';
import { recordKeysFor } from '../record.ts';
import { table } from '../table.ts';

export function registerConditional(program: Command): void {
  program.command('conditional')
    .description("a feature's conditional activation distribution: per activation interval (the scan's quantile bins), the estimated firings by token, or by whether the context matches the explanation (after score --conditional), with the log-likelihood ratio of a match")
    .option('--model <pathOrId>', 'the model (folder, file or HF id; default: the one model the SAE was scanned with)').requiredOption('--sae <dir>', 'the SAE: its folder, or its name in the registry')
    .requiredOption('--feature <n>', 'feature index', parseCount('--feature'))
    .option('--registry <db>', 'registry with the scan (default $SAESCOPE_REGISTRY or ./saescope-registry.db)')
    .option('--by <what>', 'token or explanation', 'token')
    .option('--top-tokens <n>', 'tokens stacked separately (the rest is "other")', parseCount('--top-tokens'), 6)
    .option('--min-samples <n>', 'intervals sampled fewer times than this are marked (default 32)', parseCount('--min-samples'), 32)
    .option('--csv <file>', 'write a row per interval as CSV')
    .option('--json', 'print JSON')
    .action((o) => {
      if (o.by !== 'token' && o.by !== 'explanation') throw new Error(`--by must be token or explanation, got '${o.by}'`);
      if (o.csv) checkWritable(o.csv, '--csv');
      const reg = Registry.open(o.registry ?? defaultRegistryPath());
      let c;
      try {
        c = conditionalFromRegistry(reg, recordKeysFor(reg, o), o.feature, o.by, o.topTokens, o.minSamples);
      } finally {
        reg.close();
      }
      if (o.csv) writeTextAtomic(o.csv, conditionalCsv(c));
      if (o.json) return void process.stdout.write(JSON.stringify(c, null, 2) + '\n');
      const f = (x: number) => Number(x.toPrecision(4));
      process.stdout.write(table(['interval', 'firings', 'samples', ...c.series.map((s) => JSON.stringify(s.label)), ...(c.logLikelihoodRatio ? ['LLR'] : [])],
        c.bins.map((b, i) => [`${f(b.lo)}-${f(b.hi)}`, b.count, `${b.sampled}${b.lowSample ? '*' : ''}`, ...c.series.map((s) => f(s.counts[i])), ...(c.logLikelihoodRatio ? [c.logLikelihoodRatio[i] === null ? '-' : f(c.logLikelihoodRatio[i]!)] : [])])));
    });
}

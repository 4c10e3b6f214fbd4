/** `saescope features | top-texts | scan | compare`: feature analysis commands. */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { progressBar } from '../progress.ts';
import { compareCorpora, compareTexts } from '../../analysis/compare.ts';
import { buildDashboards } from '../../analysis/dashboard.ts';
import { heuristicNames } from '../../interp/heuristic.ts';
import { scan } from '../../analysis/scan.ts';
import { locatePacked } from '../../data/pack.ts';
import { readCorpus } from '../../data/corpus.ts';
import { distributedScan } from '../../distributed/coordinator.ts';
import { startWorker } from '../../distributed/worker.ts';
import { queueSecret } from '../../distributed/jobs.ts';
import { carryNames, matchSaes } from '../../analysis/lineage.ts';
import { featureStatistics } from '../../analysis/stats.ts';
import { featuresForText, type Pool } from '../../analysis/textFeatures.ts';
import { defaultRegistryPath, Registry } from '../../registry/registry.ts';
import { loadSaeForCli } from '../saeForCli.ts';
import { registryIfExists } from '../record.ts';
import type { HookedModel } from '../../model/hookedModel.ts';
import type { Sae } from '../../sae/sae.ts';
import { checkWritable, writeTextAtomic } from '../../io/atomicFile.ts';
import { heatmapHtml } from '../heatmapHtml.ts';
import { loadForCli } from '../loadForCli.ts';
import { parseCount, parseNumber } from '../options.ts';
import { table } from '../table.ts';

const json = (x: unknown): void => void process.stdout.write(JSON.stringify(x, null, 2) + "\n");

function progress(label: string, total: number) {
  const bar = progressBar(` ${label} [{bar}] {percentage}% | {value}/{total} tokens | {eta_formatted}`);
  bar.start(total, 0);
  return bar;
}

/** The registry's names for an SAE's features (by the identities of the model and SAE), when a registry exists. */
function names(file: string | undefined, model: HookedModel, sae: Sae, dir: string): Map<number, string> {
  const reg = registryIfExists(file);
  if (!reg) return new Map();
  try {
    const k = reg.file(model, sae, dir);
    return new Map(reg.list({ model: k.model, sae: k.sae, limit: 1e9 }).filter((r) => r.name).map((r) => [r.feature, r.name!]));
  } finally {
    reg.close();
  }
}

export function registerAnalysis(program: Command): void {
  program.command('features')
    .description('top features of a text (feature x token heatmap)')
    .requiredOption('--model <pathOrId>', 'model').requiredOption('--sae <dir>', 'SAE folder')
    .option('--top <k>', 'features to show', parseCount('--top'), 10)
    .option('--pool <pool>', 'max, mean or sum over tokens', 'max')
    .option('--registry <db>', 'registry for feature names')
    .option('--html <file>', 'also write the heatmap as a standalone HTML page')
    .option('--json', 'print JSON')
    .argument('<text>')
    .action(async (text: string, o) => {
      const model = await loadForCli(o.model, o);
      const sae = loadSaeForCli(o);
      const r = await featuresForText(model, sae, text, { top: o.top, pool: o.pool as Pool });
      const nm = names(o.registry, model, sae, o.sae);
      if (o.html) writeTextAtomic(o.html, heatmapHtml(r, nm, text.slice(0, 80)));
      if (o.json) return json({ tokens: r.tokens, ids: r.ids, top: r.top.map((t) => ({ ...t, name: nm.get(t.feature) ?? null })), heatmap: r.heatmap });
      process.stdout.write(table(['feature', 'name', o.pool, 'max', 'mean', 'tokens'], r.top.map((t) => [t.feature, nm.get(t.feature) ?? '', t.score, t.max, t.mean, t.count])));
    });

  program.command('top-texts')
    .description('top activating contexts of a feature over a corpus')
    .requiredOption('--model <pathOrId>', 'model').requiredOption('--sae <dir>', 'SAE folder')
    .requiredOption('--feature <n>', 'feature index', parseCount('--feature')).requiredOption('--corpus <spec>', 'corpus')
    .option('--top <k>', 'contexts', parseCount('--top'), 10)
    .option('--tokens <n>', 'tokens to read', parseCount('--tokens'), 100_000)
    .option('--documents', 'also print each example\'s whole document (JSON: "document")')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const model = await loadForCli(o.model, o);
      const sae = loadSaeForCli(o);
      const s = await scan(model, sae, { corpus: o.corpus, tokens: o.tokens, topK: o.top, features: [o.feature] });
      const d = (await buildDashboards(model, sae, s, [o.feature])).get(o.feature)!;
      // Packed rows mix documents: replay the packing to say which document (and token of it) each example fired on.
      const origins = await locatePacked(readCorpus(o.corpus), model.tokenizer!, { contextSize: sae.cfg.contextSize }, d.top);
      const rows = d.top.map((e, i) => ({ ...e, doc: origins[i]?.doc ?? null, docToken: origins[i]?.token ?? null, ...(o.documents ? { document: origins[i]?.text ?? null } : {}) }));
      if (o.json) return json(rows);
      const oneLine = (x: string) => x.replace(/\n/g, '⏎');
      process.stdout.write(table(['act', 'doc', 'token', 'context'], rows.map((e) => [e.act, e.doc ?? '-', e.docToken ?? '-', oneLine(e.tokens.map((t, i) => (i === e.focus ? `[[${t}]]` : t)).join(''))])));
      if (o.documents) for (const e of rows) if (e.document !== null) process.stdout.write(`\n--- document ${e.doc} (act ${e.act.toFixed(3)} at token ${e.docToken})\n${e.document}\n`);
    });

  program.command('scan')
    .description('one pass over a corpus: top and quantile examples, histograms, densities, logit effects, neighbours for every feature')
    .requiredOption('--model <pathOrId>', 'model').requiredOption('--sae <dir>', 'SAE folder').requiredOption('--corpus <spec>', 'corpus')
    .requiredOption('--tokens <n>', 'tokens to scan', parseCount('--tokens'))
    .option('--registry <db>', 'store dashboards in this registry (default $SAESCOPE_REGISTRY or ./saescope-registry.db)')
    .option('--out <file>', 'also write dashboards and statistics as JSON (an existing file only with --overwrite)')
    .option('--overwrite', 'replace an existing --out file')
    .option('--state <file>', 'save progress here; a killed scan resumes from it')
    .option('--top <k>', 'top examples per feature', parseCount('--top'), 20)
    .option('--interval-samples <n>', 'firing tokens sampled per activation interval, for the conditional distribution', parseCount('--interval-samples'), 32)
    .option('--redis <url>', 'spread the scan over `saescope worker`s on this Redis (redis://host:port)')
    .option('--shards <n>', 'with --redis: row-range shards, one job each', parseCount('--shards'), 4)
    .option('--work-dir <dir>', 'with --redis: shared folder every worker sees at the same path (shard results)', 'saescope-work')
    .option('--secret-file <file>', 'with --redis: the queue\'s shared secret (default $SAESCOPE_QUEUE_SECRET); workers refuse jobs not signed with it')
    .option('--json', 'print the statistics as JSON')
    .action(async (o) => {
      if (o.out) checkWritable(o.out, '--out');
      if (o.out && fs.existsSync(o.out) && !o.overwrite) throw new Error(`--out ${o.out} exists; pass --overwrite to replace it`);
      if (o.redis && o.state) throw new Error('--state is for one-process scans; a distributed scan keeps its progress in Redis and --work-dir');
      const model = await loadForCli(o.model, o);
      const sae = loadSaeForCli(o);
      const bar = progress('scan', o.tokens);
      const s = o.redis
        ? await distributedScan(model, sae, { redis: o.redis, secret: queueSecret(o.secretFile), shards: o.shards, workDir: o.workDir, model: o.model, weights: o.weights, sae: o.sae, hook: o.hook, corpus: o.corpus, tokens: o.tokens, topK: o.top, onProgress: (p) => bar.update(Math.min(p.tokens, o.tokens)) })
        : await scan(model, sae, { corpus: o.corpus, tokens: o.tokens, topK: o.top, tokenSamples: o.intervalSamples, stateFile: o.state, onProgress: (p) => bar.update(Math.min(p.tokens, o.tokens)) });
      bar.stop();
      const dashboards = await buildDashboards(model, sae, s);
      const reg = Registry.open(o.registry ?? defaultRegistryPath());
      const keys = reg.file(model, sae, o.sae);
      reg.setDashboards(keys.model, keys.sae, dashboards);
      reg.setHeuristicNames(keys.model, keys.sae, heuristicNames(dashboards));
      reg.close();
      process.stderr.write(`saescope: scan stored in ${reg.path} for SAE ${keys.name} (${keys.sae})\n`);
      const stats = featureStatistics(s);
      const { all: _all, ...summary } = stats;
      if (o.out) writeTextAtomic(o.out, JSON.stringify({ statistics: summary, dashboards: Object.fromEntries(dashboards) }));
      if (o.json) return json(summary);
      process.stdout.write(`scanned ${s.tokens} tokens; mean L0 ${stats.meanL0.toFixed(2)}; dead ${stats.dead.length}; dense ${stats.dense.length}\n`);
      process.stdout.write('most interesting (medium frequency, high magnitude):\n');
      process.stdout.write(table(['feature', 'density', 'max act', 'mean act', 'interest'], stats.interesting.slice(0, 10).map((f) => [f.feature, f.density, f.maxAct, f.meanAct, f.interest])));
    });

  program.command('worker')
    .description('join a pool of workers on a Redis queue: runs the shards of distributed scans and collections (`scan|collect --redis`)')
    .requiredOption('--redis <url>', 'Redis URL (redis://[:password@]host:port, rediss:// for TLS)')
    .requiredOption('--data <dir...>', 'folders the jobs may read and write (models, SAEs, corpora, work and output folders); any other path is refused')
    .option('--secret-file <file>', 'the queue\'s shared secret (default $SAESCOPE_QUEUE_SECRET): jobs not signed with it are refused')
    .option('--concurrency <n>', 'shards run at once in this process', parseCount('--concurrency'), 1)
    .option('--lock-seconds <s>', 'how long a shard stays locked without renewal: how soon a killed worker\'s shard moves to another', parseCount('--lock-seconds'), 30)
    .option('--threads <n>', 'compute threads per shard (default: every core); with several workers on one machine, give each its share', parseCount('--threads'))
    .action(async (o) => {
      if (o.threads) process.env.SAESCOPE_THREADS = String(o.threads);
      const w = await startWorker({ redis: o.redis, secret: queueSecret(o.secretFile), roots: o.data, concurrency: o.concurrency, lockSeconds: o.lockSeconds, onEvent: (m) => process.stderr.write(`saescope worker: ${m}\n`) });
      process.stderr.write(`saescope worker: ready on ${o.redis} (pid ${process.pid})\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void w.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  program.command('match')
    .description('feature lineage: pair the latents of two SAEs on the same hook (decoder cosine; activation correlation over a corpus), with splits, gone and new latents')
    .requiredOption('--sae <dirs...>', 'two SAE folders: A (e.g. the smaller) then B')
    .option('--model <pathOrId>', 'the model (needed for --corpus and --carry-names)')
    .option('--corpus <spec>', 'also correlate the matched latents\' activations over this corpus')
    .option('--tokens <n>', 'tokens to correlate over', parseCount('--tokens'), 20_000)
    .option('--threshold <c>', 'decoder cosine for two latents to count as the same feature', parseNumber('--threshold'), 0.7)
    .option('--carry-names', "copy registry names and explanations from A's latents to their matches in B, marked as carried")
    .option('--registry <db>', 'registry for --carry-names (default $SAESCOPE_REGISTRY or ./saescope-registry.db)')
    .option('--csv <file>', 'write every latent of A with its match in B as CSV')
    .option('--out <file>', 'write the whole result as JSON')
    .option('--json', 'print the whole result as JSON')
    .action(async (o) => {
      const dirs = o.sae as string[];
      if (dirs.length !== 2) throw new Error(`match takes exactly two SAEs (--sae A B), got ${dirs.length}`);
      if ((o.corpus || o.carryNames) && !o.model) throw new Error('--corpus and --carry-names need --model');
      for (const f of [o.csv, o.out]) if (f) checkWritable(f, f === o.csv ? '--csv' : '--out');
      const [a, b] = dirs.map((d) => loadSaeForCli({ sae: d }));
      const model = o.model ? await loadForCli(o.model, o) : undefined;
      const l = await matchSaes(a, b, { threshold: o.threshold, model, corpus: o.corpus, tokens: o.tokens });
      if (o.csv) {
        const rows = l.matches.map((m) => [m.latent, m.match, m.cosine.toFixed(6), m.correlation === null ? '' : m.correlation.toFixed(6),
          m.cosine < l.threshold ? 'gone' : l.splits.some((x) => x.latent === m.latent) ? 'split' : 'matched'].join(','));
        writeTextAtomic(o.csv, ['latent_a,latent_b,decoder_cosine,activation_correlation,status', ...rows].join('\n') + '\n');
      }
      if (o.out) writeTextAtomic(o.out, JSON.stringify(l));
      let carried = 0;
      if (o.carryNames) {
        const reg = Registry.open(o.registry ?? defaultRegistryPath());
        try {
          const ka = reg.file(model!, a, dirs[0]);
          const kb = reg.file(model!, b, dirs[1]);
          carried = carryNames(reg, ka.model, { sae: ka.sae, name: ka.name }, kb.sae, l);
        } finally {
          reg.close();
        }
      }
      if (o.json) return json({ ...l, carried });
      const matched = l.matches.filter((m) => m.cosine >= l.threshold).length;
      process.stdout.write(`${l.hook}: A has ${l.dSaeA} latents, B ${l.dSaeB}; threshold ${l.threshold}${l.tokens ? `; correlations over ${l.tokens} tokens` : ''}\n`);
      process.stdout.write(`matched ${matched} of A; split ${l.splits.length} (into ${l.splits.reduce((n, x) => n + x.into.length, 0)} of B); gone ${l.gone.length}; new in B ${l.added.length}${o.carryNames ? `; names carried to ${carried} latents of B` : ''}\n`);
      if (l.splits.length) {
        process.stdout.write('largest splits:\n');
        process.stdout.write(table(['A latent', 'B latents (cosine)'], [...l.splits].sort((x, y) => y.into.length - x.into.length).slice(0, 10)
          .map((x) => [x.latent, x.into.map((m) => `${m.latent} (${m.cosine.toFixed(2)})`).join(', ')])));
      }
    });

  program.command('compare')
    .description('compare feature activations of two texts, or of two corpora (--corpus-a/--corpus-b)')
    .requiredOption('--model <pathOrId>', 'model').requiredOption('--sae <dir>', 'SAE folder')
    .option('--corpus-a <spec>', 'first corpus').option('--corpus-b <spec>', 'second corpus')
    .option('--tokens <n>', 'tokens per corpus', parseCount('--tokens'), 20_000)
    .option('--top <k>', 'rows', parseCount('--top'), 20)
    .option('--pool <pool>', 'max, mean or sum (texts)', 'max')
    .option('--json', 'print JSON')
    .argument('[texts...]', 'TEXT_A TEXT_B')
    .action(async (texts: string[], o) => {
      const model = await loadForCli(o.model, o);
      const sae = loadSaeForCli(o);
      if (o.corpusA || o.corpusB) {
        if (!o.corpusA || !o.corpusB) throw new Error('give both --corpus-a and --corpus-b');
        const rows = await compareCorpora(model, sae, o.corpusA, o.corpusB, { tokens: o.tokens, top: o.top });
        if (o.json) return json(rows);
        process.stdout.write(table(['feature', 'density A', 'density B', 'mean A', 'mean B', 'A - B', 'effect', 'CI low', 'CI high'], rows.map((r) => [r.feature, r.densityA, r.densityB, r.meanA, r.meanB, r.diff, r.effectSize, r.ci![0], r.ci![1]])));
        return;
      }
      if (texts.length !== 2) throw new Error('give two texts (TEXT_A TEXT_B), or --corpus-a and --corpus-b');
      const rows = await compareTexts(model, sae, texts[0], texts[1], { pool: o.pool as Pool, top: o.top });
      if (o.json) return json(rows);
      process.stdout.write(table(['feature', 'A', 'B', 'A - B'], rows.map((r) => [r.feature, r.a, r.b, r.diff])));
    });
}

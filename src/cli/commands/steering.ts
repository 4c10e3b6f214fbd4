/** `saescope steer` and `saescope sweep`. */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { progressBar } from '../progress.ts';
import { Registry, type RecordKeys } from '../../registry/registry.ts';
import { registryIfExists } from '../record.ts';
import { loadSaeForCli } from '../saeForCli.ts';
import { checkWritable, writeTextAtomic } from '../../io/atomicFile.ts';
import { PRESETS, type Preset } from '../../steering/presets.ts';
import { MAX_STEER_VARIANTS, steerVariants, type FeatureSteer, type SteerPositions, type SteerVariantResult } from '../../steering/steer.ts';
import { sweep, writeSweepCsv, type SweepResult } from '../../steering/sweep.ts';
import { describeSweep, type DescribedSweep } from '../../interp/describedSweep.ts';
import { embedderWithFallback } from '../../interp/embeddings.ts';
import { LlmClient } from '../../interp/llmClient.ts';
import { llmConfigFrom, llmEndpointOptions } from '../llmOptions.ts';
import { loadForCli } from '../loadForCli.ts';
import { parseCount, parseNumber } from '../options.ts';
import { table } from '../table.ts';

const POSITIONS = ['prompt', 'generated', 'all'];

function list(v: string, flag: string): number[] {
  return v.split(',').map((x) => parseNumber(flag)(x.trim()));
}

export function registerSteering(program: Command): void {
  program.command('steer')
    .description('generate with SAE features steered, beside the unsteered output from the same seed')
    .requiredOption('--model <pathOrId>', 'model').requiredOption('--sae <dir>', 'SAE folder')
    .requiredOption('--feature <n,...>', 'feature index(es), comma-separated')
    .option('--preset <p,...>', `light, medium or strong (${Object.entries(PRESETS).map(([k, v]) => `${k} = ${v}x typical max`).join(', ')}); several compare them side by side`)
    .option('--strength <x,...>', 'raw strength added as x * W_dec[f]; several compare them side by side')
    .option('--clamp <v,...>', 'clamp the feature(s) to this activation (0 ablates); several compare them side by side')
    .option('--each', 'steer each feature on its own (one output per feature and value) instead of all together')
    .option('--positions <p>', 'prompt, generated or all', 'all')
    .option('--max-new-tokens <n>', 'new tokens', parseCount('--max-new-tokens'), 40)
    .option('--temperature <t>', 'temperature (default 0: greedy, so steered and unsteered differ only by the steering)', parseNumber('--temperature'), 0)
    .option('--seed <s>', 'seed', parseCount('--seed'), 0)
    .option('--registry <db>', 'registry with scans (typical maxima for presets)')
    .option('--chat', "wrap the prompt as a user turn of the model's chat template")
    .option('--json', 'print JSON')
    .argument('<prompt>')
    .action(async (prompt: string, o) => {
      const given = [o.preset, o.strength, o.clamp].filter((x) => x !== undefined).length;
      if (given !== 1) throw new Error('give exactly one of --preset, --strength or --clamp');
      const presets = o.preset !== undefined ? String(o.preset).split(',').map((p) => p.trim()) : [];
      const bad = presets.find((p) => !(p in PRESETS));
      if (bad !== undefined) throw new Error(`--preset must be light, medium or strong, got '${bad}'`);
      if (!POSITIONS.includes(o.positions)) throw new Error(`--positions must be prompt, generated or all, got '${o.positions}'`);
      // Each value (and with --each, each feature) is one variant; all of them decode in one batch beside the unsteered text.
      const how: ((feature: number) => FeatureSteer)[] = o.preset !== undefined ? presets.map((p) => (feature) => ({ feature, preset: p as Preset }))
        : o.strength !== undefined ? list(o.strength, '--strength').map((strength) => (feature) => ({ feature, strength }))
          : list(o.clamp, '--clamp').map((clamp) => (feature) => ({ feature, clamp }));
      const indices = list(o.feature, '--feature');
      const groups = o.each ? indices.map((f) => [f]) : [indices];
      const variants = groups.flatMap((g) => how.map((make) => g.map(make)));
      if (variants.length > MAX_STEER_VARIANTS) throw new Error(`${variants.length} variants to compare; at most ${MAX_STEER_VARIANTS} in one call`);
      const model = await loadForCli(o.model, o);
      const sae = loadSaeForCli(o);
      const registry = registryIfExists(o.registry);
      const keys = registry?.file(model, sae, o.sae);
      const r = await steerVariants(model, sae, prompt, { variants, positions: o.positions as SteerPositions, maxNewTokens: o.maxNewTokens, temperature: o.temperature, seed: o.seed, registry, keys, chat: o.chat === true });
      registry?.close();
      if ([r.unsteered, ...r.variants.map((v) => v.result)].some((g) => g.stopReason === 'context')) process.stderr.write(`saescope: stopped early: the model's context of ${model.spec.nCtx} tokens is full\n`);
      const label = (v: SteerVariantResult) => v.strengths.map((s) => `#${s.feature} ${s.clamp !== undefined ? `clamp ${s.clamp}` : `${s.strength! >= 0 ? '+' : ''}${s.strength!.toFixed(2)}${s.preset ? ` (${s.preset})` : ''}`}`).join(', ');
      if (o.json) {
        const first = r.variants[0];
        const out = variants.length === 1
          ? { stopReasons: { steered: first.result.stopReason, unsteered: r.unsteered.stopReason }, strengths: first.strengths, unsteered: r.unsteered.text, steered: first.result.text, unsteeredIds: r.unsteered.ids, steeredIds: first.result.ids }
          : { unsteered: r.unsteered.text, unsteeredIds: r.unsteered.ids, unsteeredStopReason: r.unsteered.stopReason, variants: r.variants.map((v) => ({ strengths: v.strengths, steered: v.result.text, steeredIds: v.result.ids, stopReason: v.result.stopReason })) };
        return void process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      }
      if (variants.length === 1) {
        process.stdout.write(`strengths: ${label(r.variants[0])}\n\n`);
        return void process.stdout.write(`unsteered: ${prompt}${r.unsteered.text}\n\n  steered: ${prompt}${r.variants[0].result.text}\n`);
      }
      process.stdout.write(`unsteered: ${prompt}${r.unsteered.text}\n`);
      for (const v of r.variants) process.stdout.write(`\n${label(v)}:\n  ${prompt}${v.result.text}\n`);
    });

  const sweepCmd = program.command('sweep')
    .description('steer features x prompts x magnitudes; find where each concept shows and where the text breaks')
    .requiredOption('--model <pathOrId>', 'model').requiredOption('--sae <dir>', 'SAE folder')
    .requiredOption('--features <n,...>', 'feature indices')
    .requiredOption('--prompts <file|text>', 'a file with one prompt per line, or prompts separated by "|"')
    .option('--magnitudes <x,...>', 'multiples of each feature\'s typical max (default 16 from 0 to 8)')
    .option('--max-new-tokens <n>', 'tokens per output', parseCount('--max-new-tokens'), 32)
    .option('--positions <p>', 'prompt, generated or all', 'all')
    .option('--registry <db>', 'registry: typical maxima in, each feature\'s calibration stored (with the sweep\'s settings) as a candidate')
    .option('--apply', 'apply the calibrations this sweep stores, so the features\' presets use them (undo: saescope registry calibration undo)')
    .option('--batch-size <n>', 'generations decoded together (default: as many as fit a 256 MiB KV cache, at most 64)', parseCount('--batch-size'))
    .option('--chat', "wrap each prompt as a user turn of the model's chat template")
    .option('--csv <file>', 'write every output as CSV')
    .option('--out <file>', 'write the whole result as JSON')
    .option('--json', 'print the calibration as JSON')
    .option('--describe', 'send each steered output beside the unsteered one to the LLM endpoint for a description of the change; name stages from the descriptions and compare them with each feature\'s explanation')
    .option('--embedding-model <name>', 'with --describe: embedding model of the endpoint\'s /v1/embeddings (without it, or when the endpoint has none, a lexical score is used and labelled so)');
  llmEndpointOptions(sweepCmd)
    .action(async (o) => {
      for (const [flag, f] of [['--out', o.out], ['--csv', o.csv]]) if (f) checkWritable(f, flag);
      if (o.describe) llmConfigFrom(o); // fails now, naming what is missing, not after the sweep
      else if (o.embeddingModel) throw new Error('--embedding-model needs --describe');
      const model = await loadForCli(o.model, o);
      const sae = loadSaeForCli(o);
      const prompts = fs.existsSync(o.prompts) ? fs.readFileSync(o.prompts, 'utf8').split('\n').filter((l) => l.trim()) : String(o.prompts).split('|');
      const features = list(o.features, '--features');
      const magnitudes = o.magnitudes ? list(o.magnitudes, '--magnitudes') : undefined;
      const registry = o.registry ? Registry.open(o.registry) : registryIfExists(undefined);
      const keys = registry?.file(model, sae, o.sae);
      const bar = progressBar(' sweep [{bar}] {percentage}% | {value}/{total} outputs | {eta_formatted}');
      bar.start(1, 0);
      const r = await sweep(model, sae, { features, prompts, magnitudes, maxNewTokens: o.maxNewTokens, positions: o.positions as SteerPositions, registry, keys, apply: o.apply === true, chat: o.chat === true, batchSize: o.batchSize, onProgress: (d, t) => { bar.setTotal(t); bar.update(d); } });
      bar.stop();
      const described = o.describe ? await describe(o, r, prompts, registry, keys) : undefined;
      registry?.close();
      if (o.csv) writeSweepCsv(o.csv, r.records, described?.records);
      if (o.out) writeTextAtomic(o.out, JSON.stringify(described ? { ...r, described } : r, null, 2));
      if (o.json) return void process.stdout.write(JSON.stringify({ settings: r.settings, features: r.features, progressions: r.progressions, robustnessVsDensity: r.robustnessVsDensity, described }, null, 2) + '\n');
      const fmt = (x: number | null) => (x === null ? '-' : x);
      const n = (c: { prompts: number }, k: number) => `${k}/${c.prompts}`;
      process.stdout.write(table(['feature', 'typical max (p95)', 'density', 'onset', 'prompts', 'breakpoint', 'prompts', 'usable range', 'stages', 'degraded'],
        r.features.map((c) => [c.feature, c.typicalMax, c.density ?? '-', fmt(c.onset), n(c, c.onsetCount), fmt(c.breakpoint), n(c, c.breakpointCount), c.usable ? `[${c.usable[0]}, ${c.usable[1]})` : 'none', c.meanStages, c.meanDegraded])));
      for (const c of r.features) if (c.noUsableRange) process.stdout.write(`#${c.feature}: no usable range: ${c.noUsableRange}; its presets stay the defaults\n`);
      if (r.settings.weak) process.stdout.write(`weak evidence: ${r.settings.prompts.length} prompt(s) x ${r.settings.maxNewTokens} tokens (calibrations want 3+ prompts and 32+ tokens)\n`);
      if (registry && keys) process.stdout.write(o.apply ? 'calibrations stored and applied (saescope registry calibration undo reverts one)\n' : 'calibrations stored, not applied: presets are unchanged (sweep --apply, or saescope registry calibration apply --id N)\n');
      const s = r.robustnessVsDensity;
      process.stdout.write(`robustness vs density: Spearman rho ${Number.isNaN(s.rho) ? '-' : s.rho.toFixed(3)} (p ${Number.isNaN(s.p) ? '-' : s.p.toFixed(3)}, n ${s.n})\n`);
      if (described) printDescribed(described);
    });
}

/** `sweep --describe`: descriptions from the endpoint, similarities from its embeddings or the labelled lexical fallback. */
async function describe(o: Record<string, unknown>, r: SweepResult, prompts: readonly string[], registry: Registry | undefined, keys: RecordKeys | undefined): Promise<DescribedSweep> {
  const cfg = llmConfigFrom(o);
  const warn = (m: string) => process.stderr.write(`note: ${m}\n`);
  const embedder = await embedderWithFallback(cfg, o.embeddingModel as string | undefined, registry, warn);
  const client = new LlmClient(cfg, registry);
  const bar = progressBar(' describe [{bar}] {value}/{total} outputs');
  bar.start(1, 0);
  try {
    return await describeSweep(r, prompts, { client, embedder, registry, keys, onProgress: (d, t) => { bar.setTotal(t); bar.update(d); } });
  } finally {
    bar.stop();
  }
}

function printDescribed(d: DescribedSweep): void {
  const f = (x: number | null) => (x === null ? '-' : x.toFixed(3));
  process.stdout.write(`\ndescriptions against explanations (${d.method === 'lexical' ? 'lexical word overlap: no embeddings' : `cosine of ${d.method} embeddings`}):\n`);
  process.stdout.write(table(['feature', 'consistency', 'descriptions', 'stages', 'explanation'], d.features.map((x) => [x.feature, f(x.consistency), x.n, x.meanStages, x.explanation ?? '(none)'])));
  const c = d.consistencyVsDensity;
  process.stdout.write(`mean consistency ${f(d.meanConsistency)}; consistency vs density: Spearman rho ${Number.isNaN(c.rho) ? '-' : c.rho.toFixed(3)} (n ${c.n})\n`);
}

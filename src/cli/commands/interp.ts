/** `saescope explain` and `saescope score`: name features with an LLM and score the names. */
import type { Command } from 'commander';
import { progressBar } from '../progress.ts';
import { defaultRegistryPath, Registry } from '../../registry/registry.ts';
import { explainFeatures, nameHeuristically, scoreFeatures, type BatchResult } from '../../interp/batch.ts';
import type { LlmClient } from '../../interp/llmClient.ts';
import { loadSaeForCli } from '../saeForCli.ts';
import type { Sae } from '../../sae/sae.ts';
import { llmClientFrom, llmEndpointOptions } from '../llmOptions.ts';

function llmOptions(c: Command): Command {
  return llmEndpointOptions(c
    .requiredOption('--model <pathOrId>', 'the model the SAE was scanned with (folder, file or HF id)').requiredOption('--sae <dir>', 'SAE folder')
    .requiredOption('--features <list>', 'feature indices (1,2,3) or "all"')
    .option('--registry <db>', 'registry with the scan\'s dashboards'));
}

function features(spec: string, dSae: number): number[] {
  if (spec === 'all') return Array.from({ length: dSae }, (_, i) => i);
  return spec.split(',').map((x) => {
    const f = Number(x.trim());
    if (!Number.isInteger(f) || f < 0 || f >= dSae) throw new Error(`feature '${x}' is out of range [0, ${dSae})`);
    return f;
  });
}

/** The identities to file under: the model without loading it, the SAE as loaded. */
function batchKeys(registry: Registry, model: string, dir: string, sae: Sae): { model: string; sae: string; name: string } {
  const s = registry.saeEntry(sae, dir);
  return { model: registry.modelAt(model).id, sae: s.id, name: s.name };
}

function client(o: Record<string, unknown>, registry: Registry): LlmClient {
  return llmClientFrom(o, registry);
}

async function run(label: string, n: number, work: (onDone: (f: number, ok: boolean) => void) => Promise<BatchResult>, c?: LlmClient): Promise<BatchResult> {
  const bar = progressBar(` ${label} [{bar}] {value}/{total} features | {failed} failed | {calls} calls, {cached} cached, {tokens} tokens, \${cost}`);
  let failed = 0;
  const stats = () => ({ failed, calls: c?.tally.calls ?? 0, cached: c?.tally.cached ?? 0, tokens: (c?.tally.promptTokens ?? 0) + (c?.tally.completionTokens ?? 0), cost: (c?.tally.cost ?? 0).toFixed(4) });
  bar.start(n, 0, stats());
  const r = await work((_f, ok) => {
    if (!ok) failed++;
    bar.increment(1, stats());
  });
  bar.stop();
  for (const f of r.failures) process.stderr.write(`feature ${f.feature}: ${f.error}\n`);
  process.stderr.write(`${r.done.length} done, ${r.failures.length} failed\n`);
  if (r.failures.length) process.exitCode = 1;
  return r;
}

/** Prints what a batch stored: each done feature's newest explanation of that source and its scores (a table, or JSON with --json). */
function printStored(registry: Registry, keys: { model: string; sae: string }, r: BatchResult, source: 'llm' | 'heuristic', json: boolean): void {
  const rows = [...r.done].sort((a, b) => a - b).map((feature) => {
    const e = registry.explanations(keys.model, keys.sae, feature).find((x) => x.source === source);
    return { feature, explanation: e?.explanation ?? null, source, scores: e?.scores ?? {} };
  });
  if (json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  const acc = (x: unknown) => (x && typeof x === 'object' && 'accuracy' in x && typeof x.accuracy === 'number' ? x.accuracy.toFixed(2) : '-');
  const scored = rows.some((x) => 'detection' in x.scores || 'fuzzing' in x.scores);
  process.stdout.write(scored ? 'feature\tdetection\tfuzzing\texplanation\n' : 'feature\texplanation\n');
  for (const x of rows) process.stdout.write(scored ? `${x.feature}\t${acc(x.scores.detection)}\t${acc(x.scores.fuzzing)}\t${x.explanation ?? ''}\n` : `${x.feature}\t${x.explanation ?? ''}\n`);
}

export function registerInterp(program: Command): void {
  llmOptions(program.command('explain').description('explain features with an LLM from their scan dashboards (or --heuristic without an endpoint)'))
    .option('--score', 'also score each explanation (detection and fuzzing)')
    .option('--conditional', 'also judge every quantile example against the explanation (saescope conditional --by explanation)')
    .option('--heuristic', 'name features from their top tokens, without an LLM (stored as heuristic)')
    .option('--json', 'print [{feature, explanation, source, scores}] as JSON')
    .action(async (o) => {
      const sae = loadSaeForCli(o);
      const registry = Registry.open(o.registry ?? defaultRegistryPath());
      const target = { registry, ...batchKeys(registry, o.model, o.sae, sae) };
      const list = features(o.features, sae.cfg.dSae);
      if (o.heuristic) {
        const r = await run('name', list.length, async (onDone) => {
          const r = nameHeuristically(target, list);
          for (const f of list) onDone(f, !r.failures.some((x) => x.feature === f));
          return r;
        });
        printStored(registry, target, r, 'heuristic', o.json === true);
      } else {
        const c = client(o, registry);
        const r = await run('explain', list.length, (onDone) => explainFeatures(c, target, list, { score: o.score === true, conditional: o.conditional === true, onDone }), c);
        printStored(registry, target, r, 'llm', o.json === true);
      }
      registry.close();
    });

  llmOptions(program.command('score').description('score features\' newest LLM explanations by detection and fuzzing'))
    .option('--conditional', 'also judge every quantile example against the explanation, for the explanation-coloured conditional distribution (saescope conditional --by explanation)')
    .option('--json', 'print [{feature, explanation, source, scores}] as JSON')
    .action(async (o) => {
      const sae = loadSaeForCli(o);
      const registry = Registry.open(o.registry ?? defaultRegistryPath());
      const c = client(o, registry);
      const list = features(o.features, sae.cfg.dSae);
      const keys = batchKeys(registry, o.model, o.sae, sae);
      const r = await run('score', list.length, (onDone) => scoreFeatures(c, { registry, ...keys }, list, { conditional: o.conditional === true, onDone }), c);
      printStored(registry, keys, r, 'llm', o.json === true);
      registry.close();
    });
}

/** `saescope registry list|show|set|import|export`: the feature registry. */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { defaultRegistryPath, Registry, type FeaturePatch } from '../../registry/registry.ts';
import { parseCount, parseNumber } from '../options.ts';
import { table } from '../table.ts';
import { writeTextAtomic } from '../../io/atomicFile.ts';
import { importNeuronpedia } from '../../registry/neuronpedia.ts';
import { loadSae } from '../../sae/load.ts';

function open(o: { registry?: string }): Registry {
  return Registry.open(o.registry ?? defaultRegistryPath());
}

export function registerRegistry(program: Command): void {
  const reg = program.command('registry').description('feature names, notes, tags, explanations and dashboards (SQLite)');
  const common = (c: Command) => c.option('--registry <db>', 'registry file (default $SAESCOPE_REGISTRY or ./saescope-registry.db)');

  common(reg.command('list').description('list or search features'))
    .option('--model <m>', 'model').option('--sae <s>', 'SAE').option('--search <text>', 'search names, descriptions, notes, tags, explanations')
    .option('--tag <tag>', 'with this tag').option('--limit <n>', 'rows', parseCount('--limit'), 50).option('--json', 'print JSON')
    .action((o) => {
      const r = open(o);
      const rows = r.list({ model: o.model, sae: o.sae, search: o.search, tag: o.tag, limit: o.limit });
      r.close();
      if (o.json) return void process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      process.stdout.write(table(['model', 'sae', 'feature', 'name', 'confidence', 'tags'], rows.map((x) => [x.model, x.sae, x.feature, x.name ?? '', x.confidence ?? '', x.tags.join(',')])));
    });

  common(reg.command('scatter').description('density against interpretability: each scanned feature\'s density beside its explanation\'s detection score'))
    .requiredOption('--model <m>', 'model').requiredOption('--sae <s>', 'SAE')
    .option('--csv <file>', 'write the points as CSV').option('--json', 'print JSON')
    .action((o) => {
      const r = open(o);
      const pts = r.densityVsDetection(o.model, o.sae);
      r.close();
      if (o.csv) writeTextAtomic(o.csv, ['feature,density,log10_density,detection,source', ...pts.map((p) => [p.feature, p.density, p.density > 0 ? Math.log10(p.density) : '', p.detection, p.source].join(','))].join('\n') + '\n');
      if (o.json) return void process.stdout.write(JSON.stringify(pts, null, 2) + '\n');
      if (!pts.length) return void process.stdout.write('no feature has both a scan and a scored explanation: run saescope scan, then saescope explain --score\n');
      process.stdout.write(table(['feature', 'density', 'log10 density', 'detection', 'source'], pts.map((p) => [p.feature, p.density, p.density > 0 ? Number(Math.log10(p.density).toFixed(3)) : '-', p.detection, p.source])));
    });

  common(reg.command('show').description('one feature with its explanations'))
    .requiredOption('--model <m>', 'model').requiredOption('--sae <s>', 'SAE').requiredOption('--feature <n>', 'feature', parseCount('--feature'))
    .action((o) => {
      const r = open(o);
      const rec = r.get(o.model, o.sae, o.feature);
      const out = { feature: rec ?? null, explanations: r.explanations(o.model, o.sae, o.feature), dashboard: r.dashboard(o.model, o.sae, o.feature) ?? null };
      r.close();
      if (!rec && !out.dashboard) throw new Error(`feature ${o.feature} of ${o.sae} is not in the registry`);
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    });

  common(reg.command('set').description('set a feature\'s name, description, confidence, notes or tags'))
    .requiredOption('--model <m>', 'model').requiredOption('--sae <s>', 'SAE').requiredOption('--feature <n>', 'feature', parseCount('--feature'))
    .option('--name <s>').option('--description <s>').option('--confidence <x>', 'in [0, 1]', parseNumber('--confidence')).option('--notes <s>')
    .option('--tags <a,b>', 'comma-separated tags')
    .action((o) => {
      const patch: FeaturePatch = {};
      for (const k of ['name', 'description', 'confidence', 'notes'] as const) if (o[k] !== undefined) (patch as Record<string, unknown>)[k] = o[k];
      if (o.tags !== undefined) (patch as Record<string, unknown>).tags = String(o.tags).split(',').map((t) => t.trim()).filter(Boolean);
      const r = open(o);
      const rec = r.set(o.model, o.sae, o.feature, patch);
      r.close();
      process.stdout.write(JSON.stringify(rec, null, 2) + '\n');
    });

  common(reg.command('export').description('export an SAE\'s features as {"1234": {name, description, examples, confidence, notes}}'))
    .requiredOption('--model <m>', 'model').requiredOption('--sae <s>', 'SAE').option('--out <file>', 'file (default stdout)')
    .action((o) => {
      const r = open(o);
      const data = JSON.stringify(r.exportJson(o.model, o.sae), null, 2) + '\n';
      r.close();
      if (o.out) writeTextAtomic(o.out, data);
      else process.stdout.write(data);
    });

  common(reg.command('import').description('import features from the exchange JSON'))
    .requiredOption('--model <m>', 'model').requiredOption('--sae <s>', 'SAE').argument('<file>')
    .action((file: string, o) => {
      let data: unknown;
      try {
        data = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (e) {
        throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
      }
      if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`${file}: expected an object keyed by feature index`);
      const r = open(o);
      const n = r.importJson(o.model, o.sae, data as Record<string, never>);
      r.close();
      process.stderr.write(`imported ${n} features\n`);
    });

  common(reg.command('import-neuronpedia').description("import explanations from a Neuronpedia export (JSON array or JSONL, .gz too), matched by model, SAE and index"))
    .requiredOption('--model <m>', 'registry model name to file them under')
    .requiredOption('--sae <s>', 'registry SAE name (an SAE folder: its metadata.neuronpedia_id and d_sae are used)')
    .option('--np-id <model/sae>', "Neuronpedia's ids, e.g. gemma-2-2b/20-gemmascope-mlp-16k (default: the SAE folder's neuronpedia_id)")
    .option('--json', 'print the report as JSON')
    .argument('<file>')
    .action((file: string, o) => {
      let npId: string | undefined = o.npId;
      let dSae: number | undefined;
      if (fs.existsSync(o.sae) && fs.statSync(o.sae).isDirectory()) {
        const sae = loadSae(o.sae);
        dSae = sae.cfg.dSae;
        const id = sae.cfg.extraMetadata?.neuronpedia_id;
        npId ??= typeof id === 'string' ? id : undefined;
      }
      if (!npId) throw new Error('give --np-id MODEL/SAE (Neuronpedia ids, e.g. gpt2-small/6-res-jb): the SAE has no neuronpedia_id');
      const slash = npId.indexOf('/');
      if (slash <= 0 || slash === npId.length - 1) throw new Error(`--np-id must be MODEL/SAE, got '${npId}'`);
      const r = open(o);
      try {
        const report = importNeuronpedia(r, file, { model: o.model, sae: o.sae, npModel: npId.slice(0, slash), npSae: npId.slice(slash + 1), dSae });
        if (o.json) return void process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        const skipped = Object.entries(report.skipped).map(([k, v]) => `${v} ${k}`);
        process.stderr.write(`imported ${report.imported} explanations for ${report.features} features${skipped.length ? `; skipped ${skipped.join(', ')}` : ''}\n`);
      } finally {
        r.close();
      }
    });
}

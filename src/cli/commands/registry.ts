/** `saescope registry list|saes|doctor|show|set|scatter|import|export|import-neuronpedia`: the research record. */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { type FeaturePatch } from '../../registry/registry.ts';
import { exportRegistry, importRegistry } from '../../registry/exchange.ts';
import { parseCount, parseNumber } from '../options.ts';
import { table } from '../table.ts';
import { writeTextAtomic } from '../../io/atomicFile.ts';
import { readJsonBounded } from '../../io/json.ts';
import { importNeuronpedia } from '../../registry/neuronpedia.ts';
import { loadSae } from '../../sae/load.ts';
import { openRegistry, recordKeysFor, saeEntryFor, withRegistry } from '../record.ts';

const SAE_HELP = 'the SAE: its folder, or its name or id in the registry';
const MODEL_HELP = 'the model: folder, file or HF id (default: the one model the SAE has records under)';
const print = (x: unknown) => void process.stdout.write(JSON.stringify(x, null, 2) + '\n');

export function registerRegistry(program: Command): void {
  const reg = program.command('registry').description('the research record: SAEs and models by identity; feature names, notes, tags, explanations, dashboards and calibrations (SQLite)');
  const common = (c: Command) => c.option('--registry <db>', 'registry file (default $SAESCOPE_REGISTRY or ./saescope-registry.db)');

  common(reg.command('list').description('list or search features'))
    .option('--model <m>', MODEL_HELP).option('--sae <s>', SAE_HELP).option('--search <text>', 'search names, descriptions, notes, tags, explanations (literally)')
    .option('--tag <tag>', 'with this tag').option('--limit <n>', 'rows', parseCount('--limit'), 50).option('--json', 'print JSON')
    .action((o) => withRegistry(o.registry, (r) => {
      const keys = o.sae ? recordKeysFor(r, o) : o.model ? { model: r.modelAt(o.model).id, sae: undefined } : undefined;
      const rows = r.list({ model: keys?.model, sae: keys?.sae, search: o.search, tag: o.tag, limit: o.limit });
      if (o.json) return print(rows);
      const saeName = (id: string) => r.identities.sae(id)?.name ?? id;
      process.stdout.write(table(['sae', 'feature', 'name', 'confidence', 'tags'], rows.map((x) => [saeName(x.sae), x.feature, x.name ?? '', x.confidence ?? '', x.tags.join(',')])));
    }));

  common(reg.command('saes').description('every SAE the registry knows: identity, name, hook, widths and every location it was seen at'))
    .option('--json', 'print JSON')
    .action((o) => withRegistry(o.registry, (r) => {
      const saes = r.identities.saes();
      if (o.json) return print(saes);
      process.stdout.write(table(['name', 'id', 'hook', 'd_sae', 'status', 'last location'], saes.map((s) => [s.name, s.id, s.hook ?? '', s.dSae ?? '', s.status, s.locations[0]?.path ?? ''])));
    }));

  common(reg.command('doctor').description('records the registry could not attach to weights (folders gone at migration), and SAEs whose every location is gone'))
    .option('--json', 'print JSON')
    .action((o) => withRegistry(o.registry, (r) => {
      const saes = r.identities.saes();
      const unresolved = saes.filter((s) => s.status === 'unresolved').map((s) => ({ ...s, features: r.list({ sae: s.id, limit: 1e9 }).length }));
      const missing = saes.filter((s) => s.status === 'ok' && s.locations.length > 0 && s.locations.every((l) => !fs.existsSync(l.path))).map((s) => ({ name: s.name, id: s.id, locations: s.locations.map((l) => l.path) }));
      const models = r.identities.models().filter((m) => m.status === 'unresolved').map((m) => ({ id: m.id, name: m.name }));
      if (o.json) return print({ unresolved, missing, unresolvedModels: models });
      if (!unresolved.length && !missing.length && !models.length) return void process.stdout.write('every record is attached to weights that are still where they were last seen\n');
      if (unresolved.length) {
        process.stdout.write('unresolved SAEs (kept; their folders were gone when the registry migrated to identities):\n');
        process.stdout.write(table(['name', 'id', 'recorded path', 'features'], unresolved.map((s) => [s.name, s.id, s.locations[0]?.path ?? '', s.features])));
      }
      if (models.length) process.stdout.write(`unresolved models: ${models.map((m) => m.name).join(', ')}\n`);
      if (missing.length) {
        process.stdout.write('SAEs whose every known location is gone (their records stay; loading the weights from anywhere finds them again):\n');
        process.stdout.write(table(['name', 'id', 'last location'], missing.map((s) => [s.name, s.id, s.locations[0]])));
      }
    }));

  common(reg.command('rename').description("give an SAE another display name (used in URLs, menus and exports)"))
    .requiredOption('--sae <s>', SAE_HELP).argument('<name>')
    .action((name: string, o) => withRegistry(o.registry, (r) => print(r.identities.rename(saeEntryFor(r, o).id, name))));

  common(reg.command('scatter').description('density against interpretability: each scanned feature\'s density beside its explanation\'s detection score'))
    .option('--model <m>', MODEL_HELP).requiredOption('--sae <s>', SAE_HELP)
    .option('--csv <file>', 'write the points as CSV').option('--json', 'print JSON')
    .action((o) => withRegistry(o.registry, (r) => {
      const k = recordKeysFor(r, o);
      const pts = r.densityVsDetection(k.model, k.sae);
      if (o.csv) writeTextAtomic(o.csv, ['feature,density,log10_density,detection,source', ...pts.map((p) => [p.feature, p.density, p.density > 0 ? Math.log10(p.density) : '', p.detection, p.source].join(','))].join('\n') + '\n');
      if (o.json) return print(pts);
      if (!pts.length) return void process.stdout.write('no feature has both a scan and a scored explanation: run saescope scan, then saescope explain --score\n');
      process.stdout.write(table(['feature', 'density', 'log10 density', 'detection', 'source'], pts.map((p) => [p.feature, p.density, p.density > 0 ? Number(Math.log10(p.density).toFixed(3)) : '-', p.detection, p.source])));
    }));

  common(reg.command('show').description('one feature with its explanations'))
    .option('--model <m>', MODEL_HELP).requiredOption('--sae <s>', SAE_HELP).requiredOption('--feature <n>', 'feature', parseCount('--feature'))
    .action((o) => withRegistry(o.registry, (r) => {
      const k = recordKeysFor(r, o);
      const rec = r.get(k.model, k.sae, o.feature);
      const out = { sae: k.name, feature: rec ?? null, explanations: r.explanations(k.model, k.sae, o.feature), dashboard: r.dashboard(k.model, k.sae, o.feature) ?? null, calibration: r.calibration(k.model, k.sae, o.feature) ?? null };
      if (!rec && !out.dashboard) throw new Error(`feature ${o.feature} of ${k.name} is not in the registry`);
      print(out);
    }));

  common(reg.command('set').description('set a feature\'s name, description, confidence, notes or tags'))
    .option('--model <m>', MODEL_HELP).requiredOption('--sae <s>', SAE_HELP).requiredOption('--feature <n>', 'feature', parseCount('--feature'))
    .option('--name <s>').option('--description <s>').option('--confidence <x>', 'a number in [0, 1], or low, medium or high').option('--notes <s>')
    .option('--tags <a,b>', 'comma-separated tags')
    .action((o) => withRegistry(o.registry, (r) => {
      const patch: Record<string, unknown> = {};
      for (const k of ['name', 'description', 'notes'] as const) if (o[k] !== undefined) patch[k] = o[k];
      if (o.confidence !== undefined) {
        if (/^[a-z]+$/i.test(o.confidence)) patch.confidenceLabel = String(o.confidence).toLowerCase();
        else patch.confidence = parseNumber('--confidence')(o.confidence);
      }
      if (o.tags !== undefined) patch.tags = String(o.tags).split(',').map((t) => t.trim()).filter(Boolean);
      const k = recordKeysFor(r, o);
      print(r.set(k.model, k.sae, o.feature, patch as FeaturePatch));
    }));

  const cal = reg.command('calibration').description('steering calibrations: every sweep\'s result per feature, and the one its presets use');
  common(cal.command('list').description('a feature\'s calibrations, newest first, with their settings; the applied one marked'))
    .option('--model <m>', MODEL_HELP).requiredOption('--sae <s>', SAE_HELP).requiredOption('--feature <n>', 'feature', parseCount('--feature')).option('--json', 'print JSON')
    .action((o) => withRegistry(o.registry, (r) => {
      const k = recordKeysFor(r, o);
      const h = r.steering.calibrationHistory(k.model, k.sae, o.feature);
      if (o.json) return print(h);
      type Cal = { onset: number | null; breakpoint: number | null; usable: [number, number] | null };
      type Set = { prompts?: string[]; maxNewTokens?: number; date?: string; weak?: boolean };
      process.stdout.write(table(['id', 'applied', 'onset', 'breakpoint', 'usable', 'prompts', 'tokens', 'date', 'evidence'], h.map((x) => {
        const c = x.calibration as Cal;
        const s = x.settings as Set;
        return [x.id, x.applied ? 'yes' : '', c.onset ?? '-', c.breakpoint ?? '-', c.usable ? `[${c.usable[0]}, ${c.usable[1]})` : 'none', s.prompts?.length ?? '?', s.maxNewTokens ?? '?', s.date ?? x.createdAt, s.weak ? 'weak' : ''];
      })));
    }));
  common(cal.command('apply').description('make a stored calibration the one its feature\'s presets use'))
    .requiredOption('--id <n>', 'calibration id (from calibration list or sweep --json)', parseCount('--id'))
    .action((o) => withRegistry(o.registry, (r) => {
      r.applyCalibration(o.id);
      process.stdout.write(`applied calibration ${o.id}\n`);
    }));
  common(cal.command('undo').description('undo the last apply for a feature: the calibration applied before it (or the defaults) is used again'))
    .option('--model <m>', MODEL_HELP).requiredOption('--sae <s>', SAE_HELP).requiredOption('--feature <n>', 'feature', parseCount('--feature'))
    .action((o) => withRegistry(o.registry, (r) => {
      const k = recordKeysFor(r, o);
      const now = r.steering.undoCalibration(k.model, k.sae, o.feature);
      process.stdout.write(now === null ? `feature ${o.feature} has no applied calibration now: its presets are the defaults\n` : `feature ${o.feature} uses calibration ${now} again\n`);
    }));

  common(reg.command('export').description('everything the registry knows about one SAE (features, tags, examples, explanations with scores, calibrations, steering descriptions; dashboards on request) as saescope-registry JSON'))
    .option('--model <m>', MODEL_HELP).requiredOption('--sae <s>', SAE_HELP).option('--out <file>', 'file (default stdout)')
    .option('--with-dashboards', 'include the scan dashboards (large)')
    .action((o) => withRegistry(o.registry, (r) => {
      const data = JSON.stringify(exportRegistry(r, recordKeysFor(r, o), { dashboards: o.withDashboards === true }), null, 2) + '\n';
      if (o.out) writeTextAtomic(o.out, data);
      else process.stdout.write(data);
    }));

  common(reg.command('import').description('import a saescope-registry export (under its own identities, or --sae/--model), or features keyed by index ({"1234": {name, description, examples, confidence, notes}}; needs --sae)'))
    .option('--model <m>', MODEL_HELP).option('--sae <s>', SAE_HELP).option('--json', 'print the report as JSON').argument('<file>')
    .action((file: string, o) => withRegistry(o.registry, (r) => {
      const data = readJsonBounded(file, 1 << 30);
      const into = o.sae ? recordKeysFor(r, o) : undefined;
      const rep = importRegistry(r, data, into, file);
      if (o.json) return print(rep);
      process.stderr.write(`imported ${rep.features} features, ${rep.explanations} explanations, ${rep.calibrations} calibrations${rep.dashboards ? `, ${rep.dashboards} dashboards` : ''} into SAE ${r.identities.sae(rep.keys.sae)?.name ?? rep.keys.sae}\n`);
    }));

  common(reg.command('import-neuronpedia').description("import explanations from a Neuronpedia export (JSON array or JSONL, .gz too), matched by model, SAE and index"))
    .requiredOption('--model <m>', 'the model to file them under: folder, file or HF id')
    .requiredOption('--sae <s>', 'the SAE folder (its metadata.neuronpedia_id and d_sae are used), or its registry name')
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
      const r = openRegistry(o.registry);
      try {
        const k = recordKeysFor(r, o);
        dSae ??= r.identities.sae(k.sae)?.dSae ?? undefined;
        const report = importNeuronpedia(r, file, { model: k.model, sae: k.sae, npModel: npId.slice(0, slash), npSae: npId.slice(slash + 1), dSae });
        if (o.json) return print(report);
        const skipped = Object.entries(report.skipped).map(([k2, v]) => `${v} ${k2}`);
        process.stderr.write(`imported ${report.imported} explanations for ${report.features} features${skipped.length ? `; skipped ${skipped.join(', ')}` : ''}\n`);
      } finally {
        r.close();
      }
    });
}

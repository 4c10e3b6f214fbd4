/** `saescope export-site` and `saescope serve-site`: a static site that runs the model and SAE in the browser. */
import type { Command } from 'commander';
import { defaultRegistryPath, Registry } from '../../registry/registry.ts';
import * as path from 'node:path';
import { exportSite } from '../../site/exportSite.ts';
import { serveSite } from '../../site/serveSite.ts';
import { loadSae } from '../../sae/load.ts';
import { checkSaeFitsModel } from '../../sae/compat.ts';
import { resolveHfModel } from '../../io/hub.ts';
import { loadForCli } from '../loadForCli.ts';
import { parseCount, parseSaeSpec } from '../options.ts';
import * as fs from 'node:fs';

export function registerSite(program: Command): void {
  program.command('export-site')
    .description('write a static site that runs the model and SAEs in the browser (Analyze, Feature dashboards, Compare, Steer): no server, works offline after the first visit; --weights int8 ships block-quantized weights (a quarter of f32)')
    .requiredOption('--model <pathOrId>', 'HF model folder or id')
    .requiredOption('--sae <name=dir...>', 'SAE folders, as name=dir (or just dir)')
    .option('--registry <db>', 'registry with scans (dashboards), names, explanations and calibrations (default $SAESCOPE_REGISTRY or ./saescope-registry.db)')
    .option('--allow-empty', 'export an SAE that has no scan in the registry (warns) instead of refusing')
    .requiredOption('--out <dir>', 'the site folder')
    .option('--json', 'print what was written as JSON')
    .action(async (o) => {
      for (const spec of o.sae as string[]) {
        const { dir } = parseSaeSpec(spec);
        if (!fs.existsSync(dir)) throw new Error(`${dir}: no such SAE folder or file`);
      }
      const regFile = o.registry ?? defaultRegistryPath();
      if (!fs.existsSync(regFile) && (o.registry || !o.allowEmpty)) throw new Error(`--registry ${regFile}: no such file (scan the SAEs into a registry first, or pass --allow-empty)`);
      const modelDir = fs.existsSync(o.model) ? o.model : await resolveHfModel(o.model, {});
      const model = await loadForCli(o.model, o);
      const registry = fs.existsSync(regFile) ? Registry.open(regFile) : undefined;
      try {
        const saes = (o.sae as string[]).map((spec) => {
          const { name, dir } = parseSaeSpec(spec);
          const sae = loadSae(dir);
          checkSaeFitsModel(sae, model);
          // Found by identity, whatever the spelling of the path; the site shows the given name, else the registry's.
          const keys = registry?.file(model, sae, dir);
          return { name: name ?? keys?.name ?? path.basename(path.resolve(dir)), keys: keys ?? { model: '', sae: '' }, sae };
        });
        const r = await exportSite({ model, modelDir, saes, registry, out: o.out, allowEmpty: o.allowEmpty === true, onWarning: (m) => process.stderr.write(`saescope: warning: ${m}\n`) });
        if (o.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        process.stdout.write(`wrote ${r.out}: app ${(r.appBytes / 2 ** 20).toFixed(1)} MiB, data ${(r.dataBytes / 2 ** 20).toFixed(1)} MiB (${r.files} data files)\ntry it: saescope serve-site ${r.out}\n`);
      } finally {
        registry?.close();
      }
    });

  program.command('serve-site')
    .description('serve an exported site on 127.0.0.1 with the COOP/COEP headers WebAssembly threads need')
    .argument('<dir>', 'the site folder')
    .option('--host <host>', 'interface', '127.0.0.1')
    .option('--port <port>', 'port', parseCount('--port'), 8080)
    .action(async (dir: string, o) => {
      const { app, url } = await serveSite(dir, { host: o.host, port: o.port });
      process.stderr.write(`serving ${dir} at ${url}\n`);
      const stop = async () => {
        await app.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

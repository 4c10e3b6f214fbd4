/** `saescope serve`: the web app over a model and its SAEs, on 127.0.0.1 by default. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { defaultRegistryPath } from '../../registry/registry.ts';
import { buildServer } from '../../server/app.ts';
import { loadForCli } from '../loadForCli.ts';
import { parseCount, parseSaeSpec } from '../options.ts';

export function registerServe(program: Command): void {
  program.command('serve')
    .description('serve the browser app (analyze, feature dashboards, compare, steer and sweep, registry, jobs)')
    .requiredOption('--model <pathOrId>', 'model')
    .option('--sae <name=dir...>', 'SAE folders, as name=dir (or just dir: named after its folder); added to the saved list, so later runs serve them without --sae')
    .option('--registry <db>', 'registry file', defaultRegistryPath())
    .option('--data <dir...>', 'folders requests may read and write (corpora, job outputs); default ./saescope-data, created')
    .option('--host <host>', 'interface', '127.0.0.1')
    .option('--port <port>', 'port', parseCount('--port'), 5173)
    .option('--queue <n>', 'requests that may wait for the model', parseCount('--queue'), 64)
    .action(async (o) => {
      const model = await loadForCli(o.model, o);
      const saes = ((o.sae ?? []) as string[]).map(parseSaeSpec);
      const data: string[] = o.data ?? [path.resolve('saescope-data')];
      if (!o.data) fs.mkdirSync(data[0], { recursive: true });
      const { app, ctx } = await buildServer(model, { saes, registry: o.registry, dataDirs: data, queueLimit: o.queue, hosts: [o.host] });
      if (ctx.saes.size === 0) {
        await app.close();
        throw new Error(`no SAEs to serve: give --sae DIR (or name=DIR), or add some with saescope sae add --data ${data[0]} DIR`);
      }
      const address = await app.listen({ host: o.host, port: o.port });
      process.stderr.write(`saescope serving ${model.name} with SAEs ${[...ctx.saes.keys()].join(', ')} at ${address}\n`);
      const stop = async () => {
        process.stderr.write('stopping: jobs checkpoint, the registry closes...\n');
        await app.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

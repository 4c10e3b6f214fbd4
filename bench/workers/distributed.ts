/**
 * saescope side of bench/distributed: starts redis-server on a free port,
 * times the one-process scan, then for each shard count starts workers
 * (`saescope worker`, at most one per core, threads split between them),
 * times `distributedScan` and its merge (in all, and after the last shard
 * finished), and stops everything.
 */
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { scan } from '../../src/analysis/scan.ts';
import { startLocalRedis } from '../../test/localRedis.ts';
import { distributedScan } from '../../src/distributed/coordinator.ts';
import type { ShardDone } from '../../src/distributed/jobs.ts';
import { loadModel } from '../../src/model/load.ts';
import { loadSae } from '../../src/sae/load.ts';
import { CACHE, ROOT } from '../common.ts';

const a = JSON.parse(process.argv[2]) as { model: string; sae: string; corpus: string; tokens: number; ctx: number; shards: number[] };
const { url, process: redis } = await startLocalRedis();
const children: ChildProcess[] = [redis];
const stop = () => children.forEach((c) => c.kill('SIGKILL'));
process.on('exit', stop);

const model = await loadModel(a.model);
const sae = loadSae(a.sae);
let t = performance.now();
await scan(model, sae, { corpus: a.corpus, tokens: a.tokens, contextSize: a.ctx });
const oneProcess = (performance.now() - t) / 1000;

const cores = Math.max(1, os.availableParallelism());
/** The queue's shared secret for this run's coordinator and workers. */
const SECRET = randomBytes(24).toString('hex');
// Node with tsx's loader (tsx's own command would run each worker as a grandchild that outlives a kill).
const cli = ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts')];
const runs = [];
for (const shards of a.shards) {
  const n = Math.min(shards, cores);
  const ready: Promise<void>[] = [];
  const ws: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    const w = spawn(process.execPath, [...cli, 'worker', '--redis', url, '--threads', String(Math.max(1, Math.floor(cores / n))), '--data', CACHE, path.dirname(a.model), path.dirname(a.sae)],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SAESCOPE_QUEUE_SECRET: SECRET } });
    children.push(w);
    ws.push(w);
    ready.push(new Promise((resolve, reject) => {
      let err = '';
      w.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('ready')) resolve();
      });
      w.on('exit', (c) => reject(new Error(`a worker exited (${c}): ${err}`)));
    }));
  }
  await Promise.all(ready);
  const work = path.join(CACHE, 'distributed-work');
  fs.rmSync(work, { recursive: true, force: true });
  let merged: { shards: readonly ShardDone[]; mergeSeconds: number; mergeAfterLastSeconds: number } | undefined;
  t = performance.now();
  await distributedScan(model, sae, { redis: url, secret: SECRET, shards, workDir: work, model: a.model, sae: a.sae, corpus: a.corpus, tokens: a.tokens, contextSize: a.ctx, onMerged: (m) => { merged = m; } });
  const seconds = (performance.now() - t) / 1000;
  for (const w of ws) w.kill('SIGTERM');
  runs.push({ shards, workers: n, seconds, merge_seconds: merged!.mergeSeconds, merge_after_last_seconds: merged!.mergeAfterLastSeconds, shard_seconds: merged!.shards.map((s) => s.seconds), shard_tokens: merged!.shards.map((s) => s.tokens) });
}
await model.dispose();
console.log(JSON.stringify({ one_process_seconds: oneProcess, runs }));
stop();
process.exit(0);

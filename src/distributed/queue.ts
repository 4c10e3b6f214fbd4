/**
 * Scans spread over machines on a Redis-backed BullMQ queue. The coordinator
 * (`scan --redis URL --shards N`) cuts the corpus into row-range shards
 * (plan.ts), enqueues one job per shard and waits; workers
 * (`saescope worker --redis URL`) load the model and SAE named in the job
 * themselves, check their fingerprints and saescope's version, scan their
 * rows and write the shard's state into the shared work folder (a path every
 * worker mounts). When every shard is done the coordinator merges the states
 * in shard order (`mergeScans`) into exactly the one-process scan's result.
 *
 * Faults: a worker killed mid-shard loses its lock and BullMQ's stalled-job
 * check hands the shard to another worker; a shard that fails three times
 * fails the run with its error before anything is merged; job ids are a
 * hash of the run's inputs, so a restarted coordinator finds the shards
 * already finished and waits only for the rest. Jobs carry names and
 * fingerprints, never weights.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { Queue, Worker, UnrecoverableError, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { mergeScans, reviveScan, scan, type ScanResult } from '../analysis/scan.ts';
import { writeFileAtomic } from '../io/atomicFile.ts';
import type { HookedModel, WeightMode } from '../model/hookedModel.ts';
import { loadModel } from '../model/load.ts';
import { loadSae } from '../sae/load.ts';
import type { Sae } from '../sae/sae.ts';
import { VERSION } from '../version.ts';
import { modelFingerprint, saeFingerprint } from './fingerprint.ts';
import { planShards, type Shard } from './plan.ts';

/** The queue's name in Redis. */
export const QUEUE = 'saescope-jobs';
/** Attempts per shard before the run fails. */
const ATTEMPTS = 3;

/** A scan shard job. */
export interface ScanJobData {
  readonly kind: 'scan';
  readonly version: string;
  readonly run: string;
  readonly model: string;
  readonly weights?: WeightMode;
  readonly modelFingerprint: string;
  readonly sae: string;
  readonly hook?: string;
  readonly saeFingerprint: string;
  readonly corpus: string;
  readonly contextSize: number;
  readonly topK: number;
  readonly shard: Shard;
  /** The run's folder in the shared work folder. */
  readonly dir: string;
}

/** What a finished shard job returns. */
interface ShardDone {
  readonly file: string;
  readonly tokens: number;
}

/**
 * Connects to Redis, failing within a few seconds with a clear error when
 * nothing answers at `url`. The connection then reconnects on its own, as
 * BullMQ needs (`maxRetriesPerRequest: null`).
 */
export async function connectRedis(url: string, timeoutMs = 4000): Promise<Redis> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  probe.on('error', () => {});
  try {
    await Promise.race([probe.connect().then(() => probe.ping()), new Promise((_, rej) => setTimeout(() => rej(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs))]);
  } catch (e) {
    throw new Error(`cannot reach Redis at ${url}: ${(e as Error).message}. Start one (apt-get install redis-server) or pass another --redis URL`);
  } finally {
    probe.disconnect();
  }
  const r = new Redis(url, { maxRetriesPerRequest: null });
  r.on('error', (e) => process.stderr.write(`saescope: redis: ${e.message}\n`));
  return r;
}

/** Options of a distributed scan. */
export interface DistributedScanOptions {
  readonly redis: string;
  readonly shards: number;
  /** The shared work folder (every worker must see it at this path). */
  readonly workDir: string;
  readonly model: string;
  readonly weights?: WeightMode;
  readonly sae: string;
  readonly hook?: string;
  readonly corpus: string;
  readonly tokens: number;
  readonly contextSize?: number;
  readonly topK?: number;
  /** Progress over all workers: tokens scanned so far. */
  readonly onProgress?: (p: { tokens: number; total: number; shardsDone: number; shards: number }) => void;
}

/** Enqueues a scan's shards, waits for every one, and merges them. */
export async function distributedScan(model: HookedModel, sae: Sae, o: DistributedScanOptions): Promise<ScanResult> {
  const connection = await connectRedis(o.redis);
  const contextSize = o.contextSize ?? sae.cfg.contextSize;
  const topK = o.topK ?? 20;
  const shards = await planShards(o.corpus, model.tokenizer!, contextSize, o.tokens, o.shards);
  const base = { kind: 'scan' as const, version: VERSION, model: o.model, weights: o.weights, modelFingerprint: modelFingerprint(model), sae: path.resolve(o.sae), hook: o.hook, saeFingerprint: saeFingerprint(sae), corpus: o.corpus, contextSize, topK };
  const run = createHash('sha256').update(JSON.stringify({ ...base, tokens: o.tokens, shards })).digest('hex').slice(0, 16);
  const dir = path.resolve(o.workDir, `scan-${run}`);
  fs.mkdirSync(dir, { recursive: true });
  const queue = new Queue<ScanJobData, ShardDone>(QUEUE, { connection });
  try {
    for (const shard of shards) {
      // The job id is fixed by the run's inputs: adding it again (a restarted coordinator) keeps the existing job and its result.
      await queue.add('scan', { ...base, run, shard, dir }, { jobId: `${run}-${shard.index}`, attempts: ATTEMPTS, removeOnComplete: false, removeOnFail: false });
    }
    const files = await waitForShards(queue, run, shards, o);
    const parts = files.map((f) => reviveScan(v8.deserialize(fs.readFileSync(f)) as ScanResult));
    for (const [i, p] of parts.entries()) {
      if (p.tokens !== shards[i].tokens) throw new Error(`shard ${i} scanned ${p.tokens} tokens, expected ${shards[i].tokens}`);
    }
    return mergeScans(parts);
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

async function waitForShards(queue: Queue<ScanJobData, ShardDone>, run: string, shards: readonly Shard[], o: DistributedScanOptions): Promise<string[]> {
  const total = shards.reduce((n, s) => n + s.tokens, 0);
  for (;;) {
    const files: string[] = [];
    let tokens = 0;
    for (const s of shards) {
      const job = await queue.getJob(`${run}-${s.index}`);
      if (!job) throw new Error(`shard ${s.index}'s job is gone from Redis (removed by hand?); run the scan again`);
      const state = await job.getState();
      if (state === 'failed') throw new Error(`shard ${s.index} (rows ${s.start}-${s.end}) failed after ${job.attemptsMade} attempt(s): ${job.failedReason}; nothing was merged`);
      if (state === 'completed') {
        files.push(job.returnvalue.file);
        tokens += s.tokens;
      } else if (typeof job.progress === 'number') tokens += job.progress;
    }
    o.onProgress?.({ tokens, total, shardsDone: files.length, shards: shards.length });
    if (files.length === shards.length) return files;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Options of `saescope worker`. */
export interface WorkerOptions {
  readonly redis: string;
  readonly concurrency?: number;
  /** Seconds a job's lock lasts without renewal: how soon a killed worker's shard goes to another (default 30). */
  readonly lockSeconds?: number;
  readonly onEvent?: (m: string) => void;
}

/** Joins the pool: runs shard jobs until closed. */
export async function startWorker(o: WorkerOptions): Promise<{ close: () => Promise<void> }> {
  const connection = await connectRedis(o.redis);
  const lockDuration = (o.lockSeconds ?? 30) * 1000;
  const models = new Map<string, HookedModel>();
  const saes = new Map<string, Sae>();
  const worker = new Worker<ScanJobData, ShardDone>(QUEUE, async (job) => runShard(job, models, saes, o.onEvent), {
    connection, concurrency: o.concurrency ?? 1, lockDuration, stalledInterval: Math.max(1000, lockDuration / 2), maxStalledCount: ATTEMPTS,
  });
  worker.on('failed', (job, e) => o.onEvent?.(`shard ${job?.data.shard.index} of run ${job?.data.run} failed: ${e.message}`));
  await worker.waitUntilReady();
  return {
    close: async () => {
      await worker.close();
      connection.disconnect();
      for (const m of models.values()) await m.dispose();
    },
  };
}

async function runShard(job: Job<ScanJobData, ShardDone>, models: Map<string, HookedModel>, saes: Map<string, Sae>, onEvent?: (m: string) => void): Promise<ShardDone> {
  const d = job.data;
  if (d.version !== VERSION) throw new UnrecoverableError(`this worker runs saescope ${VERSION} but the job came from saescope ${d.version}; run the same version everywhere`);
  const key = `${d.model}|${d.weights ?? 'f32'}`;
  let model = models.get(key);
  if (!model) {
    model = await loadModel(d.model, { weights: d.weights });
    models.set(key, model);
  }
  if (modelFingerprint(model) !== d.modelFingerprint) throw new UnrecoverableError(`the model this worker loaded from '${d.model}' differs from the coordinator's (fingerprint ${modelFingerprint(model)}, expected ${d.modelFingerprint})`);
  let sae = saes.get(d.sae + '|' + (d.hook ?? ''));
  if (!sae) {
    sae = loadSae(d.sae, { hook: d.hook });
    saes.set(d.sae + '|' + (d.hook ?? ''), sae);
  }
  if (saeFingerprint(sae) !== d.saeFingerprint) throw new UnrecoverableError(`the SAE this worker loaded from '${d.sae}' differs from the coordinator's`);
  fs.appendFileSync(path.join(d.dir, 'attempts.jsonl'), JSON.stringify({ shard: d.shard.index, pid: process.pid, job: job.id, attempt: job.attemptsStarted }) + '\n');
  onEvent?.(`shard ${d.shard.index}: rows ${d.shard.start}-${d.shard.end}`);
  let last = 0;
  const result = await scan(model, sae, {
    corpus: d.corpus, tokens: d.shard.tokens, contextSize: d.contextSize, topK: d.topK, rowRange: { start: d.shard.start, end: d.shard.end },
    onProgress: (p) => {
      if (p.tokens - last >= 1000) {
        last = p.tokens;
        void job.updateProgress(p.tokens).catch(() => {});
      }
    },
  });
  const file = path.join(d.dir, `shard-${d.shard.index}.v8`);
  writeFileAtomic(file, [v8.serialize(result)]);
  return { file, tokens: result.tokens };
}

/**
 * The worker side of the queue (`saescope worker`): runs shard jobs until
 * closed. Each job is verified (signature, then numbers and paths against the
 * worker's folders, at the moment it opens them), its model and SAE loaded
 * by the worker itself and checked against the coordinator's fingerprints and
 * saescope's version. A worker killed mid-shard loses its lock and BullMQ's
 * stalled-job check hands the shard to another worker.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import { scan } from '../analysis/scan.ts';
import { packScan } from '../analysis/scanCodec.ts';
import { collectRows, shardFile } from '../data/activationStore.ts';
import { writeFileAtomic } from '../io/atomicFile.ts';
import { realPathOf } from '../io/paths.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import { hookInnerDims } from '../model/interventionFeeds.ts';
import { loadModel } from '../model/load.ts';
import { holdsSae } from '../sae/existing.ts';
import { loadSae } from '../sae/load.ts';
import type { Sae } from '../sae/sae.ts';
import { trainSaes } from '../sae/train/trainer.ts';
import { numel } from '../tensor/tensor.ts';
import { VERSION } from '../version.ts';
import { connectRedis } from './connection.ts';
import { modelFingerprint, saeFingerprint } from './fingerprint.ts';
import { ATTEMPTS, checkShardJob, MAX_SAE_WEIGHTS, QUEUE, verifyJob, type ShardDone, type ShardJobData } from './jobs.ts';

/** Options of `saescope worker`. */
export interface WorkerOptions {
  readonly redis: string;
  /** The queue's shared secret: jobs not signed with it are refused. */
  readonly secret: string;
  /** The folders this worker may read and write (models, SAEs, corpora, work and output folders), on real paths. */
  readonly roots: readonly string[];
  readonly concurrency?: number;
  /** Seconds a job's lock lasts without renewal: how soon a killed worker's shard goes to another (default 30). */
  readonly lockSeconds?: number;
  readonly onEvent?: (m: string) => void;
}

/** Joins the pool: runs shard jobs until closed. */
export async function startWorker(o: WorkerOptions): Promise<{ close: () => Promise<void> }> {
  if (!o.roots.length) throw new Error('a worker needs the folders it may use (--data DIR): jobs may name only paths inside them');
  for (const r of o.roots) if (!fs.existsSync(r) || !fs.statSync(r).isDirectory()) throw new Error(`--data ${r}: no such folder`);
  const roots = o.roots.map(realPathOf);
  const connection = await connectRedis(o.redis);
  const lockDuration = (o.lockSeconds ?? 30) * 1000;
  const models = new Map<string, Loaded<HookedModel>>();
  const saes = new Map<string, Loaded<Sae>>();
  const worker = new Worker<ShardJobData, ShardDone>(QUEUE, async (job) => runShard(job, { secret: o.secret, roots }, models, saes, o.onEvent), {
    connection, concurrency: o.concurrency ?? 1, lockDuration, stalledInterval: Math.max(1000, lockDuration / 2), maxStalledCount: ATTEMPTS,
  });
  worker.on('failed', (job, e) => o.onEvent?.(`shard ${job?.data.shard.index} of run ${job?.data.run} failed: ${e.message}`));
  await worker.waitUntilReady();
  return {
    close: async () => {
      await worker.close();
      connection.disconnect();
      for (const m of models.values()) await m.value.dispose();
    },
  };
}

/** A model or SAE a worker keeps between jobs, with its fingerprint (computed once). */
interface Loaded<T> {
  readonly value: T;
  readonly fingerprint: string;
}

async function runShard(job: Job<ShardJobData, ShardDone>, trust: { secret: string; roots: readonly string[] }, models: Map<string, Loaded<HookedModel>>, saes: Map<string, Loaded<Sae>>, onEvent?: (m: string) => void): Promise<ShardDone> {
  const d = job.data;
  verifyJob(d, trust.secret);
  checkShardJob(d, trust.roots);
  if (d.version !== VERSION) throw new UnrecoverableError(`this worker runs saescope ${VERSION} but the job came from saescope ${d.version}; run the same version everywhere`);
  const key = `${d.model}|${d.weights ?? 'f32'}`;
  let m = models.get(key);
  if (!m) {
    const value = await loadModel(d.model, { weights: d.weights });
    models.set(key, (m = { value, fingerprint: modelFingerprint(value) }));
  }
  if (m.fingerprint !== d.modelFingerprint) throw new UnrecoverableError(`the model this worker loaded from '${d.model}' differs from the coordinator's (fingerprint ${m.fingerprint}, expected ${d.modelFingerprint})`);
  const model = m.value;
  let sae: Sae | undefined;
  if (d.kind === 'scan') {
    const saeKey = `${d.sae}|${d.hook ?? ''}`;
    let s = saes.get(saeKey);
    if (!s) {
      const value = loadSae(d.sae, { hook: d.hook });
      saes.set(saeKey, (s = { value, fingerprint: saeFingerprint(value) }));
    }
    if (s.fingerprint !== d.saeFingerprint) throw new UnrecoverableError(`the SAE this worker loaded from '${d.sae}' differs from the coordinator's`);
    sae = s.value;
  }
  const attemptsFile = d.kind === 'scan' ? 'attempts.jsonl' : d.kind === 'train' ? `${path.basename(d.spec.out)}.attempts.jsonl` : '.attempts.jsonl';
  fs.appendFileSync(path.join(d.dir, attemptsFile), JSON.stringify({ shard: d.shard.index, pid: process.pid, job: job.id, attempt: job.attemptsStarted }) + '\n');
  onEvent?.(`${d.kind} shard ${d.shard.index}: rows ${d.shard.start}-${d.shard.end}`);
  let last = 0;
  const t0 = performance.now();
  const progress = (tokens: number) => {
    if (tokens - last >= 1000) {
      last = tokens;
      void job.updateProgress(tokens).catch(() => {});
    }
  };
  if (d.kind === 'train') {
    const width = numel(hookInnerDims(model.resolveHooks([d.spec.hook])[0], model.spec));
    if (width * d.spec.dSae > MAX_SAE_WEIGHTS) throw new UnrecoverableError(`job refused: an SAE of ${d.spec.dSae} latents on a width of ${width} is over ${MAX_SAE_WEIGHTS} weights`);
    // The checkpoint folder is the job's own: one that exists and is not a saescope checkpoint is someone's data.
    const checkpointDir = `${d.spec.out}.checkpoint`;
    if (fs.existsSync(checkpointDir) && !isCheckpoint(checkpointDir)) throw new UnrecoverableError(`job refused: ${checkpointDir} exists and is not a saescope checkpoint`);
    if (holdsSae(d.spec.out) && !isCheckpoint(checkpointDir) && !fs.existsSync(path.join(d.spec.out, `.saescope-run-${d.run}`))) {
      throw new UnrecoverableError(`job refused: ${d.spec.out} already holds an SAE this run did not write`);
    }
    const r = await trainSaes(model, [d.spec], {
      ...d.options, sweepPosition: d.position, checkpointDir,
      onStep: (m) => progress(m.tokens),
    });
    fs.writeFileSync(path.join(d.spec.out, `.saescope-run-${d.run}`), '');
    if (isCheckpoint(checkpointDir)) fs.rmSync(checkpointDir, { recursive: true, force: true });
    const m = r.last?.saes[0];
    return { file: d.spec.out, tokens: r.last?.tokens ?? 0, seconds: (performance.now() - t0) / 1000, metrics: m && { loss: m.loss, l0: m.l0, explainedVariance: m.explainedVariance, deadFraction: m.deadFraction } };
  }
  if (d.kind === 'collect') {
    const file = path.join(d.dir, shardFile(d.shard.index));
    const r = await collectRows(model, file, { corpus: d.corpus, hook: d.hook, contextSize: d.contextSize, start: d.shard.start, end: d.shard.end, tokens: d.shard.tokens, onProgress: progress });
    return { file, tokens: r.tokens, dIn: r.dIn, seconds: (performance.now() - t0) / 1000 };
  }
  const result = await scan(model, sae!, {
    corpus: d.corpus, tokens: d.shard.tokens, contextSize: d.contextSize, topK: d.topK, rowRange: { start: d.shard.start, end: d.shard.end },
    onProgress: (p) => progress(p.tokens),
  });
  const file = path.join(d.dir, `shard-${d.shard.index}.scan`);
  writeFileAtomic(file, packScan(result));
  return { file, tokens: result.tokens, seconds: (performance.now() - t0) / 1000 };
}

/** Whether a folder holds only what the trainer's checkpoints write. */
function isCheckpoint(dir: string): boolean {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return false;
  return fs.readdirSync(dir).every((f) => /^(checkpoint\.safetensors|\..*\.tmp)$/.test(f));
}

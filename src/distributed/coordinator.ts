/**
 * The coordinator side of the queue: scans, activation collections and
 * training sweeps cut into shard jobs (plan.ts), each signed with the
 * queue's secret (jobs.ts), enqueued on BullMQ, waited for and merged.
 * A scan shard writes its state into the shared work folder and the
 * coordinator merges the states in shard order (`mergeScans`) into exactly
 * the one-process scan's result; a collection shard writes
 * `shard-NNNNN.safetensors` into the store folder and the manifest is written
 * last; a training sweep is one job per SAE. A shard that fails three times
 * fails the run with its error before anything is merged; job ids are a hash
 * of the run's inputs, so a restarted coordinator finds the shards already
 * finished and waits only for the rest.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { ScanMerger, type ScanResult } from '../analysis/scan.ts';
import { unpackScan } from '../analysis/scanCodec.ts';
import { absoluteCorpus } from '../data/corpus.ts';
import { readManifest, writeManifest, type StoreManifest } from '../data/activationStore.ts';
import type { HookedModel, WeightMode } from '../model/hookedModel.ts';
import type { Sae } from '../sae/sae.ts';
import type { SaeSpec } from '../sae/train/options.ts';
import { VERSION } from '../version.ts';
import { connectRedis } from './connection.ts';
import { modelFingerprint, saeFingerprint } from './fingerprint.ts';
import { ATTEMPTS, QUEUE, signJob, type ShardDone, type ShardJobData, type SweepTrainOptions } from './jobs.ts';
import { planShards, type Shard } from './plan.ts';

/** Options of a distributed scan. */
export interface DistributedScanOptions {
  readonly redis: string;
  /** The queue's shared secret (jobs.ts `queueSecret`). */
  readonly secret: string;
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
  /**
   * When merged: each shard's result, the seconds spent reading and merging
   * shard states in all, and those of them after the last shard finished
   * (the rest overlapped with the shards still running).
   */
  readonly onMerged?: (t: { shards: readonly ShardDone[]; mergeSeconds: number; mergeAfterLastSeconds: number }) => void;
}

/** Enqueues a scan's shards, waits for every one, and merges them. */
export async function distributedScan(model: HookedModel, sae: Sae, o: DistributedScanOptions): Promise<ScanResult> {
  const contextSize = o.contextSize ?? sae.cfg.contextSize;
  const shards = await planShards(o.corpus, model.tokenizer!, contextSize, o.tokens, o.shards);
  const base = {
    kind: 'scan' as const, version: VERSION, model: named(o.model), weights: o.weights, modelFingerprint: modelFingerprint(model),
    sae: named(o.sae), hook: o.hook, saeFingerprint: saeFingerprint(sae), corpus: absoluteCorpus(o.corpus), contextSize, topK: o.topK ?? 20,
  };
  const run = runId({ ...base, tokens: o.tokens, shards });
  const dir = path.resolve(o.workDir, `scan-${run}`);
  fs.mkdirSync(dir, { recursive: true });
  // Each shard is merged as soon as it and every shard before it are done, in shard order
  // (so the result is mergeScans's over all of them), while later shards still run.
  const merger = new ScanMerger();
  let mergeSeconds = 0;
  const done = await runShards(o.redis, o.secret, shards, (shard) => ({ ...base, run, shard, dir }), o.onProgress, (i, d) => {
    const t = performance.now();
    const part = unpackScan(fs.readFileSync(d.file), d.file);
    if (part.tokens !== shards[i].tokens) throw new Error(`shard ${i} scanned ${part.tokens} tokens, expected ${shards[i].tokens}`);
    merger.add(part);
    mergeSeconds += (performance.now() - t) / 1000;
  });
  const t = performance.now();
  const merged = merger.result();
  const tail = (performance.now() - t) / 1000;
  o.onMerged?.({ shards: done.results, mergeSeconds: mergeSeconds + tail, mergeAfterLastSeconds: done.afterLastSeconds + tail });
  return merged;
}

/** Options of a distributed activation collection. */
export interface DistributedCollectOptions {
  readonly redis: string;
  readonly secret: string;
  readonly shards: number;
  /** The store folder (every worker must see it at this path). */
  readonly out: string;
  readonly model: string;
  readonly weights?: WeightMode;
  readonly hook: string;
  readonly corpus: string;
  readonly tokens: number;
  readonly contextSize: number;
  readonly onProgress?: DistributedScanOptions['onProgress'];
}

/**
 * Collects activations into a store over the workers: one store file per
 * shard, then the manifest (written last, once). A store already complete
 * for the same inputs is returned as it is (a restarted coordinator); one
 * holding other activations is refused.
 */
export async function distributedCollect(model: HookedModel, o: DistributedCollectOptions): Promise<StoreManifest> {
  const hook = model.resolveHooks([o.hook])[0].name;
  const out = path.resolve(o.out);
  const existing = readManifest(out);
  if (existing) {
    if (existing.hook !== hook || existing.corpus !== o.corpus || existing.contextSize !== o.contextSize) {
      throw new Error(`${out}: holds activations of ${existing.hook} over ${existing.corpus} (context ${existing.contextSize}); refusing to mix in ${hook} over ${o.corpus}`);
    }
    if (existing.done && existing.tokens === o.tokens) return existing;
    throw new Error(`${out}: holds an unfinished or different-sized collection (${existing.tokens} tokens); give an empty --out, or resume it with \`saescope collect\` without --redis`);
  }
  fs.mkdirSync(out, { recursive: true });
  const shards = await planShards(o.corpus, model.tokenizer!, o.contextSize, o.tokens, o.shards);
  const base = { kind: 'collect' as const, version: VERSION, model: named(o.model), weights: o.weights, modelFingerprint: modelFingerprint(model), hook, corpus: absoluteCorpus(o.corpus), contextSize: o.contextSize };
  const run = runId({ ...base, out, tokens: o.tokens, shards });
  const done = (await runShards(o.redis, o.secret, shards, (shard) => ({ ...base, run, shard, dir: out }), o.onProgress)).results;
  const m: StoreManifest = {
    model: model.name, hook, corpus: o.corpus, contextSize: o.contextSize, dIn: done[0].dIn!,
    shards: done.map((d, i) => {
      if (d.tokens !== shards[i].tokens) throw new Error(`shard ${i} collected ${d.tokens} tokens, expected ${shards[i].tokens}`);
      return { file: path.basename(d.file), tokens: d.tokens };
    }),
    rowsConsumed: shards.at(-1)!.end, tokens: o.tokens, done: true,
  };
  writeManifest(out, m);
  return m;
}

/** Options of a distributed training sweep. */
export interface DistributedTrainOptions {
  readonly redis: string;
  readonly secret: string;
  readonly model: string;
  readonly weights?: WeightMode;
  /** The SAEs; each `out` must be a folder every worker sees at the same path. */
  readonly specs: readonly SaeSpec[];
  readonly options: SweepTrainOptions;
  /** Progress over all workers: training tokens done so far. */
  readonly onProgress?: DistributedScanOptions['onProgress'];
}

/**
 * Trains a sweep's SAEs one per job, each worker from its own forward passes,
 * with the seeds the whole sweep would draw in one process (so the weights
 * equal a one-process `trainSaes` of all of them). Each job checkpoints to
 * `OUT.checkpoint` (removed when the SAE is saved), so a shard retried after a
 * killed worker resumes where the checkpoint left it.
 */
export async function distributedTrain(model: HookedModel, o: DistributedTrainOptions): Promise<ShardDone[]> {
  if (!o.specs.length) throw new Error('no SAEs to train');
  const hooks = [...new Set(o.specs.map((s) => model.resolveHooks([s.hook])[0].name))];
  const specs = o.specs.map((s) => ({ ...s, out: path.resolve(s.out) }));
  const options = { ...o.options, corpus: absoluteCorpus(o.options.corpus), activations: o.options.activations && path.resolve(o.options.activations) };
  const base = { kind: 'train' as const, version: VERSION, model: named(o.model), weights: o.weights, modelFingerprint: modelFingerprint(model), corpus: options.corpus, contextSize: options.contextSize ?? 128 };
  const run = runId({ ...base, specs, options });
  const steps = Math.ceil(o.options.tokens / (o.options.batchSize ?? 4096));
  const tokens = steps * (o.options.batchSize ?? 4096);
  const shards: Shard[] = specs.map((_, i) => ({ index: i, start: 0, end: 0, tokens }));
  for (const s of specs) fs.mkdirSync(path.dirname(s.out), { recursive: true });
  const done = await runShards(o.redis, o.secret, shards, (shard) => {
    const spec = specs[shard.index];
    return { ...base, run, shard, dir: path.dirname(spec.out), spec, options, position: { unit: shard.index, hookIndex: hooks.indexOf(model.resolveHooks([spec.hook])[0].name) } };
  }, o.onProgress);
  return done.results;
}

/** A local path made absolute (workers may run elsewhere in the tree); an HF id as it is. */
const named = (p: string): string => (fs.existsSync(p) ? path.resolve(p) : p);

/** A run's id: a hash of everything that fixes its shards' results. */
const runId = (inputs: unknown): string => createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);

/**
 * Enqueues one job per shard and waits for all of them. Job ids are fixed by
 * the run, so adding them again (a restarted coordinator) keeps the existing
 * jobs and their results. `onDone` sees each shard's result in shard order,
 * as soon as that shard and every one before it are done; `afterLastSeconds`
 * is the time `onDone` took after the last shard finished.
 */
async function runShards(url: string, secret: string, shards: readonly Shard[], job: (s: Shard) => ShardJobData, onProgress: DistributedScanOptions['onProgress'],
  onDone?: (i: number, d: ShardDone) => void): Promise<{ results: ShardDone[]; afterLastSeconds: number }> {
  const connection = await connectRedis(url);
  const queue = new Queue<ShardJobData, ShardDone>(QUEUE, { connection });
  try {
    const jobs = shards.map((s) => signJob(job(s), secret));
    for (const d of jobs) await queue.add(d.kind, d, { jobId: `${d.run}-${d.shard.index}`, attempts: ATTEMPTS, removeOnComplete: false, removeOnFail: false });
    const run = jobs[0].run;
    const total = shards.reduce((n, s) => n + s.tokens, 0);
    const results: (ShardDone | undefined)[] = shards.map(() => undefined);
    let delivered = 0;
    for (;;) {
      let tokens = 0;
      for (const s of shards) {
        if (results[s.index]) {
          tokens += s.tokens;
          continue;
        }
        const j = await queue.getJob(`${run}-${s.index}`);
        if (!j) throw new Error(`shard ${s.index}'s job is gone from Redis (removed by hand?); run it again`);
        const state = await j.getState();
        if (state === 'failed') throw new Error(`shard ${s.index} (rows ${s.start}-${s.end}) failed after ${j.attemptsMade} attempt(s): ${j.failedReason}; nothing was merged`);
        // The job is read before its state: one that completed in between has no return value in
        // the copy read, so it counts as done only once a read shows its result (the next poll).
        if (state === 'completed' && j.returnvalue) {
          results[s.index] = j.returnvalue;
          tokens += s.tokens;
        } else if (typeof j.progress === 'number') tokens += j.progress;
      }
      const all = results.every((r) => r !== undefined);
      onProgress?.({ tokens, total, shardsDone: results.filter((r) => r).length, shards: shards.length });
      const t = performance.now();
      for (; delivered < shards.length && results[delivered]; delivered++) onDone?.(delivered, results[delivered]!);
      if (all) return { results: results as ShardDone[], afterLastSeconds: (performance.now() - t) / 1000 };
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await queue.close();
    connection.disconnect();
  }
}


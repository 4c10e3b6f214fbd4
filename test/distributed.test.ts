/**
 * Distributed scans: shards merge into exactly the one-process scan (in
 * process, then over real `saescope worker` processes on a real Debian
 * redis-server started here on 127.0.0.1 and a free port), a worker killed
 * mid-shard, a collection over 3 workers, a training sweep over 2, no Redis, a job from another
 * saescope version, and a worker that loaded another model.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { mergeScans, scan, type ScanResult } from '../src/analysis/scan.ts';
import { packScan, unpackScan } from '../src/analysis/scanCodec.ts';
import { planShards } from '../src/distributed/plan.ts';
import { Queue } from 'bullmq';
import { collectActivations, readShards, shardFile } from '../src/data/activationStore.ts';
import { freePort, startLocalRedis } from './localRedis.ts';
import { connectRedis } from '../src/distributed/connection.ts';
import { distributedCollect, distributedScan, distributedTrain } from '../src/distributed/coordinator.ts';
import { QUEUE, signJob, type ShardJobData } from '../src/distributed/jobs.ts';
import * as os from 'node:os';
import { loadSae } from '../src/sae/load.ts';
import type { SaeSpec } from '../src/sae/train/options.ts';
import { trainSaes } from '../src/sae/train/trainer.ts';
import { VERSION } from '../src/version.ts';
import { modelFingerprint } from '../src/distributed/fingerprint.ts';
import { modelAndSae, needsShared, root, storiesCorpus, tinyStories, tmpDir, trainedSae } from './helpers.ts';

const skip = needsShared();
const corpus = storiesCorpus + '[300:700]';
const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
const skipRedis = skip || (hasRedis ? false : 'needs redis-server (Debian: apt-get install redis-server; .ci/run installs it)');

/** The parts of a scan that must agree exactly. */
function assertSameScan(a: ScanResult, b: ScanResult): void {
  assert.equal(a.tokens, b.tokens, 'tokens');
  assert.equal(a.rows, b.rows, 'rows');
  assert.equal(a.features.length, b.features.length);
  let firing = 0;
  for (let f = 0; f < a.features.length; f++) {
    const x = a.features[f];
    const y = b.features[f];
    assert.equal(x.count, y.count, `feature ${f} count`);
    assert.equal(x.max, y.max, `feature ${f} max`);
    assert.equal(x.range, y.range, `feature ${f} range`);
    assert.deepEqual(Array.from(x.hist), Array.from(y.hist), `feature ${f} histogram`);
    assert.deepEqual(x.top.sorted(), y.top.sorted(), `feature ${f} top examples`);
    assert.ok(Math.abs(x.sum - y.sum) <= 1e-9 * Math.max(1, Math.abs(x.sum)), `feature ${f} sum`);
    const qa = x.quantiles();
    const qb = y.quantiles();
    assert.deepEqual(qa.map((q) => [q.lo, q.hi, q.count]), qb.map((q) => [q.lo, q.hi, q.count]), `feature ${f} quantile bins`);
    for (const q of qb) {
      assert.equal(q.examples.length, Math.min(x.perBin, q.count), `feature ${f}: a full reservoir per bin`);
      for (const e of q.examples) assert.ok(e.act >= q.lo && e.act < q.hi, `feature ${f}: a quantile example from its own bin`);
    }
    if (x.count) firing++;
  }
  assert.ok(firing > 20, `the scan saw ${firing} features fire`);
}

test('4 row-range shards, scanned apart and merged in any order, equal one scan: heaps, histograms, densities and max bit-identical', { skip }, async () => {
  const { model, sae } = await modelAndSae();
  const tokens = 12_000;
  const whole = await scan(model, sae, { corpus, tokens, contextSize: 128 });
  const shards = await planShards(corpus, model.tokenizer!, 128, tokens, 4);
  assert.equal(shards.length, 4);
  assert.equal(shards.reduce((n, s) => n + s.tokens, 0), tokens);
  const parts: ScanResult[] = [];
  for (const s of shards) parts.push(await scan(model, sae, { corpus, tokens: s.tokens, contextSize: 128, rowRange: { start: s.start, end: s.end } }));
  assertSameScan(mergeScans(parts), whole);
  assertSameScan(mergeScans([parts[2], parts[0], parts[3], parts[1]], 7), whole);
  // The shard files' binary form reads back bit-identical, heap order and contexts included; a cut file is named as truncated.
  const packed = Buffer.concat(packScan(parts[1]));
  const back = unpackScan(packed);
  assert.deepEqual({ ...back, features: back.features.map((f) => ({ ...f })) }, { ...parts[1], features: parts[1].features.map((f) => ({ ...f })) });
  assertSameScan(mergeScans(parts.map((p) => unpackScan(Buffer.concat(packScan(p))))), whole);
  assert.throws(() => unpackScan(packed.subarray(0, packed.length - 100), 'shard-1.scan'), /shard-1\.scan: truncated/);
  assert.throws(() => unpackScan(Buffer.from('not a state at all')), /not a saescope scan state/);
  assert.throws(() => mergeScans([parts[0], { ...parts[1], options: { ...parts[1].options, topK: 5 } }]), /different options/);
});

// ---- over Redis ----

let redis: ChildProcess | undefined;
let redisUrl = '';
const workers: ChildProcess[] = [];

const CLI = ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts')];
/** The queue's shared secret, and the folders the workers may use: the temp folder (work, SAEs) and ../shared (model, corpus). */
const SECRET = 'test-secret-0123456789abcdef';
const ROOTS = [os.tmpdir(), path.dirname(path.dirname(tinyStories))];
const REDIS_PASSWORD = 'pw-for-the-test';

function startWorker(env: Record<string, string> = {}): ChildProcess {
  const w = spawn(process.execPath, [...CLI, 'worker', '--redis', redisUrl, '--lock-seconds', '2', '--data', ...ROOTS], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SAESCOPE_QUEUE_SECRET: SECRET, ...env } });
  let err = '';
  w.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  (w as ChildProcess & { log: () => string }).log = () => err;
  workers.push(w);
  return w;
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t = Date.now();
  while (!cond()) {
    if (Date.now() - t > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** At least `n` live workers, ready: each test that needs workers calls this, so none relies on another test's. */
async function ensureWorkers(n: number): Promise<void> {
  const live = workers.filter((w) => w.exitCode === null && !w.killed);
  const ws = [...live, ...Array.from({ length: Math.max(0, n - live.length) }, () => startWorker())];
  await waitFor(() => ws.every((w) => (w as ChildProcess & { log: () => string }).log().includes('ready')), 60_000, 'the workers');
}

before(async () => {
  if (skipRedis) return;
  ({ url: redisUrl, process: redis } = await startLocalRedis(10_000, REDIS_PASSWORD));
});

after(() => {
  for (const w of workers) {
    w.kill('SIGKILL');
    w.stderr?.destroy();
  }
  redis?.kill('SIGKILL');
});

test('no Redis at the URL: a clear error, not a hang', { timeout: 60_000 }, async () => {
  const port = await freePort();
  await assert.rejects(connectRedis(`redis://127.0.0.1:${port}`), /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/);
  const r = spawnSync(process.execPath, [...CLI, 'worker', '--redis', `redis://127.0.0.1:${port}`, '--data', os.tmpdir()], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, SAESCOPE_QUEUE_SECRET: SECRET } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /cannot reach Redis/);
});

test('a scan over 4 shards on 3 worker processes, one SIGKILLed mid-shard, equals the one-process scan; the killed shard ran twice and counted once', { skip: skipRedis, timeout: 300_000 }, async () => {
  const { model, sae } = await modelAndSae();
  const saeDir = await trainedSae();
  const tokens = 60_000;
  const work = tmpDir('saescope-work-');
  const ws = [startWorker(), startWorker(), startWorker()];
  await waitFor(() => ws.every((w) => (w as ChildProcess & { log: () => string }).log().includes('ready')), 60_000, 'the workers');
  const run = distributedScan(model, sae, { redis: redisUrl, secret: SECRET, shards: 4, workDir: work, model: tinyStories, sae: saeDir, corpus, tokens, contextSize: 128 });
  // Kill the first worker to start a shard, as soon as it starts it.
  const attemptsFile = () => {
    const d = fs.readdirSync(work).find((n) => n.startsWith('scan-'));
    return d ? path.join(work, d, 'attempts.jsonl') : '';
  };
  await waitFor(() => attemptsFile() !== '' && fs.existsSync(attemptsFile()) && fs.readFileSync(attemptsFile(), 'utf8').length > 0, 120_000, 'a shard to start');
  const first = JSON.parse(fs.readFileSync(attemptsFile(), 'utf8').split('\n')[0]) as { shard: number; pid: number };
  process.kill(first.pid, 'SIGKILL');
  const merged = await run;
  const attempts = fs.readFileSync(attemptsFile(), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { shard: number; pid: number });
  const ofKilled = attempts.filter((a) => a.shard === first.shard);
  assert.ok(ofKilled.length >= 2, `shard ${first.shard} started ${ofKilled.length} time(s)`);
  assert.notEqual(ofKilled.at(-1)!.pid, first.pid, 'another worker finished it');
  assert.equal(new Set(attempts.map((a) => a.shard)).size, 4);
  const whole = await scan(model, sae, { corpus, tokens, contextSize: 128 });
  assertSameScan(merged, whole);
  // A restarted coordinator finds every shard finished and merges again without new work.
  const again = await distributedScan(model, sae, { redis: redisUrl, secret: SECRET, shards: 4, workDir: work, model: tinyStories, sae: saeDir, corpus, tokens, contextSize: 128 });
  assertSameScan(again, whole);
  assert.equal(fs.readFileSync(attemptsFile(), 'utf8').trim().split('\n').length, attempts.length, 'no shard ran again');
});

test('collection over 3 workers writes a store whose activations equal a one-process collection, row for row; a restarted coordinator returns it as it is', { skip: skipRedis, timeout: 300_000 }, async () => {
  for (const w of workers.splice(0)) w.kill('SIGKILL');
  const { model } = await modelAndSae();
  const hook = 'blocks.1.hook_resid_pre';
  const tokens = 20_000;
  const ws = [startWorker(), startWorker(), startWorker()];
  await waitFor(() => ws.every((w) => (w as ChildProcess & { log: () => string }).log().includes('ready')), 60_000, 'the workers');
  const out = tmpDir('saescope-dstore-');
  const m = await distributedCollect(model, { redis: redisUrl, secret: SECRET, shards: 5, out, model: tinyStories, hook, corpus, tokens, contextSize: 128 });
  assert.equal(m.tokens, tokens);
  assert.equal(m.shards.length, 5);
  assert.ok(m.done);
  const oneDir = tmpDir('saescope-store-');
  await collectActivations(model, oneDir, { corpus, hook, contextSize: 128, tokens, shardTokens: 4096 });
  const rows = (dir: string) => {
    const parts = [...readShards(dir)];
    const all = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
    let off = 0;
    for (const p of parts) {
      all.set(p.data, off);
      off += p.data.length;
    }
    return all;
  };
  const a = rows(out);
  const b = rows(oneDir);
  assert.equal(a.length, tokens * 128);
  assert.equal(a.length, b.length);
  let differ = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
  assert.equal(differ, 0, 'every activation equals the one-process collection');
  // The manifest lists each shard once; a restarted coordinator returns the finished store without new work.
  assert.deepEqual(m.shards.map((s) => s.file), [0, 1, 2, 3, 4].map(shardFile));
  const attempts = fs.readFileSync(path.join(out, '.attempts.jsonl'), 'utf8').trim().split('\n').length;
  const again = await distributedCollect(model, { redis: redisUrl, secret: SECRET, shards: 5, out, model: tinyStories, hook, corpus, tokens, contextSize: 128 });
  assert.deepEqual(again, m);
  assert.equal(fs.readFileSync(path.join(out, '.attempts.jsonl'), 'utf8').trim().split('\n').length, attempts);
  // A store of other activations is refused, not mixed.
  await assert.rejects(distributedCollect(model, { redis: redisUrl, secret: SECRET, shards: 2, out, model: tinyStories, hook: 'blocks.0.hook_resid_post', corpus, tokens, contextSize: 128 }), /refusing to mix/);
});

test('a worker refuses a job from another saescope version; the job fails at once with both versions named', { skip: skipRedis, timeout: 120_000 }, async () => {
  await ensureWorkers(1);
  const connection = await connectRedis(redisUrl);
  const queue = new Queue(QUEUE, { connection });
  try {
    const shard = { index: 0, start: 0, end: 1, tokens: 10 };
    const job = await queue.add('scan', signJob({ kind: 'collect', version: '0.0.0', run: 'version-test', model: tinyStories, modelFingerprint: '', hook: 'blocks.0.hook_resid_post', corpus, contextSize: 128, shard, dir: tmpDir('saescope-v-') } as ShardJobData, SECRET), { jobId: 'version-test-0', attempts: 3 });
    let state = '';
    await waitFor(() => {
      void job.getState().then((s) => { state = s; });
      return state === 'failed';
    }, 60_000, 'the job to fail');
    const failed = (await queue.getJob('version-test-0'))!;
    assert.match(failed.failedReason, new RegExp(`this worker runs saescope ${VERSION.replace(/\./g, '\\.')} but the job came from saescope 0\\.0\\.0`));
    assert.equal(failed.attemptsMade, 1, 'not retried');
  } finally {
    await queue.close();
    connection.disconnect();
  }
});

test('a shard that keeps failing is tried three times, then fails with its error', { skip: skipRedis, timeout: 120_000 }, async () => {
  const { model } = await modelAndSae();
  await ensureWorkers(1);
  const connection = await connectRedis(redisUrl);
  const queue = new Queue(QUEUE, { connection });
  try {
    const missing = path.join(tmpDir('saescope-gone-'), 'stories.jsonl');
    const shard = { index: 0, start: 0, end: 1, tokens: 10 };
    await queue.add('collect', signJob({ kind: 'collect', version: VERSION, run: 'fail-test', model: tinyStories, modelFingerprint: modelFingerprint(model), hook: 'blocks.0.hook_resid_post', corpus: missing, contextSize: 128, shard, dir: tmpDir('saescope-f-') } as ShardJobData, SECRET), { jobId: 'fail-test-0', attempts: 3 });
    let state = '';
    await waitFor(() => {
      void queue.getJob('fail-test-0').then((j) => j?.getState()).then((st) => { state = st ?? ''; });
      return state === 'failed';
    }, 60_000, 'the job to fail');
    const failed = (await queue.getJob('fail-test-0'))!;
    assert.equal(failed.attemptsMade, 3);
    assert.match(failed.failedReason, /corpus '.*stories\.jsonl' does not exist/);
  } finally {
    await queue.close();
    connection.disconnect();
  }
});

test('a training sweep over 2 workers, one SAE per job, gives the same weights as training them together in one process', { skip: skipRedis, timeout: 300_000 }, async () => {
  const { model } = await modelAndSae();
  await ensureWorkers(2);
  const dir = tmpDir('saescope-sweep-');
  const specs: SaeSpec[] = [
    { hook: 'blocks.0.hook_resid_post', architecture: 'topk', dSae: 256, k: 8, out: path.join(dir, 'a') },
    { hook: 'blocks.1.hook_resid_pre', architecture: 'topk', dSae: 512, k: 8, out: path.join(dir, 'b') },
    { hook: 'blocks.0.hook_resid_post', architecture: 'standard', dSae: 256, sparsityCoef: 5, out: path.join(dir, 'c') },
  ];
  const options = { corpus: storiesCorpus + '[0:200]', tokens: 12 * 1024, batchSize: 1024, contextSize: 64, bufferBatches: 4, deadWindowTokens: 20_000 };
  const done = await distributedTrain(model, { redis: redisUrl, secret: SECRET, model: tinyStories, specs, options });
  assert.deepEqual(done.map((d) => d.file), specs.map((s) => s.out));
  for (const s of specs) assert.ok(!fs.existsSync(`${s.out}.checkpoint`), 'the job checkpoint is gone once the SAE is saved');
  const pids = new Set(specs.map((s) => fs.readFileSync(path.join(dir, `${path.basename(s.out)}.attempts.jsonl`), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { pid: number }).pid)).flat());
  assert.ok(pids.size >= 2, 'the SAEs went to more than one worker');
  const together = tmpDir('saescope-sweep1-');
  await trainSaes(model, specs.map((s) => ({ ...s, out: path.join(together, path.basename(s.out)) })), options);
  for (const s of specs) {
    const a = loadSae(s.out);
    const b = loadSae(path.join(together, path.basename(s.out)));
    for (const name of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) {
      assert.deepEqual(a.weights[name].data, b.weights[name].data, `${path.basename(s.out)} ${name}`);
    }
  }
});

test('a worker that loaded another model refuses the shard, and the run fails with that error, merging nothing', { skip: skipRedis, timeout: 300_000 }, async () => {
  for (const w of workers.splice(0)) w.kill('SIGKILL');
  const { model, sae } = await modelAndSae();
  const saeDir = await trainedSae();
  // A copy of the model with one weight changed: same path layout, same shapes, different weights.
  const other = tmpDir('saescope-othermodel-');
  for (const f of fs.readdirSync(tinyStories)) fs.copyFileSync(path.join(tinyStories, f), path.join(other, f));
  const st = fs.readdirSync(other).find((f) => f.endsWith('.safetensors'))!;
  const buf = fs.readFileSync(path.join(other, st));
  const headerLen = Number(buf.readBigUInt64LE(0));
  for (let i = 8 + headerLen; i < buf.length; i += 4096) buf[i] ^= 0x40;
  fs.writeFileSync(path.join(other, st), buf);
  const w = startWorker();
  await waitFor(() => (w as ChildProcess & { log: () => string }).log().includes('ready'), 60_000, 'the worker');
  // The coordinator names the altered copy's path; it holds the real model, so fingerprints differ.
  await assert.rejects(
    distributedScan(model, sae, { redis: redisUrl, secret: SECRET, shards: 2, workDir: tmpDir('saescope-work-'), model: other, sae: saeDir, corpus, tokens: 3000, contextSize: 128 }),
    /shard \d .*failed after 1 attempt\(s\): the model this worker loaded from .* differs from the coordinator's/,
  );
});

test('the queue trusts no one: unsigned and mis-signed jobs, paths outside the worker\'s folders (each field, and a symlink), and numbers out of bounds are refused; nothing outside is written or deleted', { skip: skipRedis, timeout: 300_000 }, async () => {
  const { model } = await modelAndSae();
  if (workers.filter((w) => w.exitCode === null && !w.killed).length < 1) {
    const w = startWorker();
    await waitFor(() => (w as ChildProcess & { log: () => string }).log().includes('ready'), 60_000, 'the worker');
  }
  // A folder outside every folder the workers were given, with a victim's files: beside the checkout, or in the
  // home folder when the checkout itself sits inside one of those folders (a clone under the temp folder).
  const within = (p: string) => ROOTS.some((r) => { const rel = path.relative(fs.realpathSync(r), p); return !rel.startsWith('..') && !path.isAbsolute(rel); });
  const parent = [path.join(root, 'test-output'), path.join(os.homedir(), '.cache', 'saescope-test-output')].find((p) => {
    fs.mkdirSync(p, { recursive: true });
    return !within(fs.realpathSync(p));
  });
  assert.ok(parent, `no folder outside ${ROOTS.join(', ')} to plant the victim's files in`);
  const outside = fs.mkdtempSync(path.join(parent, 'outside-'));
  fs.mkdirSync(path.join(outside, 'victimdir.checkpoint'));
  fs.writeFileSync(path.join(outside, 'victimdir.checkpoint', 'precious.txt'), 'keep me');
  const inside = tmpDir('saescope-inside-');
  fs.symlinkSync(outside, path.join(inside, 'link'));
  const connection = await connectRedis(redisUrl);
  const queue = new Queue(QUEUE, { connection });
  const base = { kind: 'collect', version: VERSION, model: tinyStories, modelFingerprint: modelFingerprint(model), hook: 'blocks.0.hook_resid_post', corpus, contextSize: 128, shard: { index: 0, start: 0, end: 1, tokens: 10 }, dir: inside } as const;
  const failure = async (name: string, data: unknown): Promise<string> => {
    const job = await queue.add('collect', data as ShardJobData, { jobId: `trust-${name}`, attempts: 3 });
    let state = '';
    await waitFor(() => {
      void job.getState().then((s) => { state = s; });
      return state === 'failed' || state === 'completed';
    }, 60_000, `job ${name}`);
    const j = (await queue.getJob(`trust-${name}`))!;
    assert.equal(state, 'failed', `${name} was run`);
    assert.equal(j.attemptsMade, 1, `${name}: refused at once, not retried`);
    return j.failedReason;
  };
  try {
    assert.match(await failure('unsigned', { ...base, run: 'unsigned' }), /not signed/);
    assert.match(await failure('wrong-secret', signJob({ ...base, run: 'wrong' } as ShardJobData, 'another-secret-0123456789')), /signature does not match/);
    // Signed with the right secret, then altered in Redis.
    const altered = { ...signJob({ ...base, run: 'altered' } as ShardJobData, SECRET), dir: outside };
    assert.match(await failure('altered', altered), /signature does not match/);
    const signed = (x: object, run: string) => signJob({ ...base, ...x, run } as ShardJobData, SECRET);
    assert.match(await failure('dir', signed({ dir: outside }, 'dir')), /dir '.*outside-.*' is outside the folders this worker may use/);
    assert.match(await failure('symlink', signed({ dir: path.join(inside, 'link') }, 'symlink')), /dir '.*link' is outside the folders this worker may use/);
    assert.match(await failure('corpus', signed({ corpus: path.join(outside, 'x.jsonl') }, 'corpus')), /corpus '.*x\.jsonl' is outside/);
    assert.match(await failure('model', signed({ model: outside }, 'model')), /model '.*' is outside/);
    assert.match(await failure('relative', signed({ dir: 'relative/dir' }, 'relative')), /dir 'relative\/dir' is not an absolute path/);
    assert.match(await failure('index', signed({ shard: { index: '../x', start: 0, end: 1, tokens: 10 } }, 'index')), /shard\.index must be an integer/);
    assert.match(await failure('tokens', signed({ shard: { index: 0, start: 0, end: 1, tokens: 1e15 } }, 'tokens')), /shard\.tokens must be an integer in \[0, 1000000000\]/);
    assert.match(await failure('topk', signed({ kind: 'scan', sae: await trainedSae(), saeFingerprint: '', topK: 1e9 }, 'topk')), /topK must be an integer in \[1, 1000\]/);
    const spec = { hook: 'blocks.0.hook_resid_post', architecture: 'topk', dSae: 64, k: 4, out: path.join(outside, 'victimdir') };
    assert.match(await failure('train-out', signed({ kind: 'train', dir: outside, spec, options: { corpus, tokens: 1024 }, position: { unit: 0, hookIndex: 0 } }, 'train-out')), /outside the folders/);
    // Inside the worker's folders, a checkpoint folder that is not a saescope checkpoint is someone's data: refused, not deleted.
    fs.mkdirSync(path.join(inside, 'mine.checkpoint'));
    fs.writeFileSync(path.join(inside, 'mine.checkpoint', 'notes.txt'), 'mine');
    const mine = { ...spec, out: path.join(inside, 'mine') };
    assert.match(await failure('checkpoint', signed({ kind: 'train', dir: inside, spec: mine, options: { corpus, tokens: 1024, batchSize: 512 }, position: { unit: 0, hookIndex: 0 } }, 'checkpoint')), /mine\.checkpoint exists and is not a saescope checkpoint/);
    assert.equal(fs.readFileSync(path.join(inside, 'mine.checkpoint', 'notes.txt'), 'utf8'), 'mine');
    assert.deepEqual(fs.readdirSync(outside).sort(), ['victimdir.checkpoint']);
    assert.equal(fs.readFileSync(path.join(outside, 'victimdir.checkpoint', 'precious.txt'), 'utf8'), 'keep me');
  } finally {
    await queue.close();
    connection.disconnect();
    fs.rmSync(outside, { recursive: true, force: true });
  }
});

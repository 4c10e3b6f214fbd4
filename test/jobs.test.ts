/**
 * Server jobs run in their own process (issue 12, isolation): analyze and
 * steer stay responsive while a training job runs, a finished job's SAE joins
 * the menus with its explained variance, and the job list survives a restart.
 */
import { saeIdentity } from '../src/sae/identity.ts';
import { loadSae } from '../src/sae/load.ts';
import { Registry } from '../src/registry/registry.ts';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildServer } from '../src/server/app.ts';
import { loadModel } from '../src/model/load.ts';
import { needsShared, storiesCorpus, tinyStories, tmpDir, trainedSae } from './helpers.ts';

const skip = needsShared();
const h = { host: '127.0.0.1', 'content-type': 'application/json' };
type App = Awaited<ReturnType<typeof buildServer>>['app'];
type JobView = { id: string; status: string; message: string; progress: number; finalEv?: number; sae?: { id: string; name: string } };

async function jobOf(app: App, id: string): Promise<JobView> {
  return ((await app.inject({ method: 'GET', url: '/api/jobs', headers: h })).json().jobs as JobView[]).find((j) => j.id === id)!;
}

async function waitFor(app: App, id: string, done: (j: JobView) => boolean, ms = 120_000): Promise<JobView> {
  const until = Date.now() + ms;
  for (;;) {
    const j = await jobOf(app, id);
    if (done(j) || Date.now() > until) return j;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Median seconds of `n` calls. */
async function latency(n: number, call: () => Promise<unknown>): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    t.push((performance.now() - t0) / 1000);
  }
  return t.sort((a, b) => a - b)[Math.floor(n / 2)];
}

test('analyze and steer stay responsive while a training job runs in its own process; the job stops on request', { skip }, async (t) => {
  const model = await loadModel(tinyStories);
  const data = tmpDir();
  fs.copyFileSync(storiesCorpus, path.join(data, 'stories.jsonl'));
  const { app } = await buildServer(model, { saes: [{ name: 'ts', dir: await trainedSae() }], registry: path.join(data, 'r.db'), dataDirs: [data] });
  const analyze = () => app.inject({ method: 'POST', url: '/api/analyze', headers: h, payload: JSON.stringify({ sae: 'ts', text: 'Once upon a time, a little dog found a red ball in the park.' }) });
  const steer = () => app.inject({ method: 'POST', url: '/api/steer', headers: h, payload: JSON.stringify({ sae: 'ts', prompt: 'Once upon a time', features: [{ feature: 3, strength: 4 }], maxNewTokens: 16, temperature: 0 }) });
  assert.equal((await analyze()).statusCode, 200);
  assert.equal((await steer()).statusCode, 200);
  const idleA = await latency(7, analyze);
  const idleS = await latency(5, steer);
  const r = await app.inject({ method: 'POST', url: '/api/jobs', headers: h, payload: JSON.stringify({ kind: 'train', hook: 'blocks.1.hook_resid_pre', architecture: 'topk', dSae: 2048, k: 16, corpus: 'stories.jsonl', tokens: 5_000_000, batchSize: 1024, out: 'busy' }) });
  assert.equal(r.statusCode, 200, r.body);
  const id = r.json().id as string;
  const running = await waitFor(app, id, (j) => j.status !== 'queued' && (j.status !== 'running' || j.progress > 0));
  assert.equal(running.status, 'running', running.message);
  const busyA = await latency(7, analyze);
  const busyS = await latency(5, steer);
  t.diagnostic(`latency idle/busy: analyze ${idleA.toFixed(3)}/${busyA.toFixed(3)} s, steer ${idleS.toFixed(3)}/${busyS.toFixed(3)} s`);
  assert.equal((await jobOf(app, id)).status, 'running', 'the job was still running while the requests were timed');
  // Behaviour, not time: the requests were answered while the job ran in its own process (the latency goal is a benchmark's, printed above).
  assert.equal((await analyze()).statusCode, 200);
  assert.equal((await steer()).statusCode, 200);
  assert.equal((await jobOf(app, id)).status, 'running', 'answered while the job still runs');
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/jobs/${id}`, headers: { host: '127.0.0.1' } })).statusCode, 200);
  const stopped = await waitFor(app, id, (j) => j.status !== 'running');
  assert.equal(stopped.status, 'stopped', stopped.message);
  await app.close();
});

test('a finished training job adds its SAE to the menus with its explained variance; the job list survives a restart', { skip }, async () => {
  const model = await loadModel(tinyStories);
  const data = tmpDir();
  fs.copyFileSync(storiesCorpus, path.join(data, 'stories.jsonl'));
  const opts = { saes: [{ name: 'ts', dir: await trainedSae() }], registry: path.join(data, 'r.db'), dataDirs: [data] };
  const first = await buildServer(model, opts);
  const r = await first.app.inject({ method: 'POST', url: '/api/jobs', headers: h, payload: JSON.stringify({ kind: 'train', hook: 'blocks.0.hook_resid_post', architecture: 'topk', dSae: 128, k: 4, corpus: 'stories.jsonl[0:50]', tokens: 8192, batchSize: 512, out: 'fresh' }) });
  assert.equal(r.statusCode, 200, r.body);
  const id = r.json().id as string;
  const done = await waitFor(first.app, id, (j) => j.status === 'done' || j.status === 'failed');
  assert.equal(done.status, 'done', done.message);
  assert.ok(typeof done.finalEv === 'number' && done.finalEv > 0 && done.finalEv <= 1, `final explained variance ${done.finalEv}`);
  assert.match(done.message, /^saved .*fresh$/);
  const info = (await first.app.inject({ method: 'GET', url: '/api/info', headers: h })).json() as { saes: { name: string; id: string; hook: string; dSae: number }[] };
  const fresh = info.saes.find((s) => s.name === 'fresh')!;
  assert.deepEqual(fresh, { name: 'fresh', id: saeIdentity(loadSae(path.join(data, 'fresh'))), hook: 'blocks.0.hook_resid_post', dSae: 128, architecture: 'topk', k: 4, scanned: false });
  assert.deepEqual(done.sae, { id: fresh.id, name: 'fresh' }, 'the job names the SAE it made, by identity');
  const report1 = (await first.app.inject({ method: 'GET', url: `/api/jobs/${id}/report`, headers: h })).body;
  assert.match(report1, /<html/i);
  // Training into the same folder again is refused (409, naming the SAE there) unless the request says overwrite.
  const retrain = { kind: 'train', hook: 'blocks.0.hook_resid_post', architecture: 'topk', dSae: 64, k: 4, corpus: 'stories.jsonl[50:100]', tokens: 4096, batchSize: 512, out: 'fresh' };
  const refused = await first.app.inject({ method: 'POST', url: '/api/jobs', headers: h, payload: JSON.stringify(retrain) });
  assert.equal(refused.statusCode, 409, refused.body);
  assert.match(refused.json().error, /out 'fresh' already holds the SAE 'fresh'; set overwrite to replace it/);
  for (const [body, want] of [[{ kind: 'train', hook: 'blocks.0.hook_resid_post', architecture: 'topk', dSae: 64, corpus: 'stories.jsonl', tokens: 10 }, /must have required property 'out'/], [{ kind: 'scan', corpus: 'stories.jsonl', tokens: 10 }, /must have required property 'sae'/], [{ ...retrain, out: '' }, /out must NOT have fewer than 1 characters/], [{ ...retrain, out: '.' }, /is a data folder itself/]] as const) {
    const bad = await first.app.inject({ method: 'POST', url: '/api/jobs', headers: h, payload: JSON.stringify(body) });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.match(bad.json().error, want);
  }
  const analyzed = await first.app.inject({ method: 'POST', url: '/api/analyze', headers: h, payload: JSON.stringify({ sae: 'fresh', text: 'The cat sat.' }) });
  assert.equal(analyzed.statusCode, 200, 'the new SAE serves requests');
  // A queued job when the server stops is reported stopped after a restart.
  const queued = await first.app.inject({ method: 'POST', url: '/api/jobs', headers: h, payload: JSON.stringify({ kind: 'scan', sae: 'ts', corpus: 'stories.jsonl', tokens: 1_000_000 }) });
  const qid = queued.json().id as string;
  await first.app.close();
  const second = await buildServer(model, opts);
  const jobs = (await second.app.inject({ method: 'GET', url: '/api/jobs', headers: h })).json().jobs as JobView[];
  assert.equal(jobs.find((j) => j.id === id)?.status, 'done', 'the finished job is listed after a restart');
  assert.equal(jobs.find((j) => j.id === id)?.finalEv, done.finalEv);
  assert.equal(jobs.find((j) => j.id === qid)?.status, 'stopped');
  // The trained SAE is served after the restart (the saved list), under its name and identity.
  const info2 = (await second.app.inject({ method: 'GET', url: '/api/info', headers: h })).json() as { saes: { name: string; id: string; dSae: number }[] };
  assert.deepEqual(info2.saes.map((s) => [s.name, s.id]).sort(), [['fresh', fresh.id], ['ts', info.saes.find((s) => s.name === 'ts')!.id]].sort());
  // With overwrite, the folder's new weights are a new SAE that takes the name; the old one keeps its record under a suffixed name.
  const over = await second.app.inject({ method: 'POST', url: '/api/jobs', headers: h, payload: JSON.stringify({ ...retrain, overwrite: true }) });
  assert.equal(over.statusCode, 200, over.body);
  const done2 = await waitFor(second.app, over.json().id, (j) => j.status === 'done' || j.status === 'failed');
  assert.equal(done2.status, 'done', done2.message);
  const info3 = (await second.app.inject({ method: 'GET', url: '/api/info', headers: h })).json() as { saes: { name: string; id: string; dSae: number }[] };
  const now = info3.saes.find((s) => s.name === 'fresh')!;
  assert.equal(now.dSae, 64);
  assert.notEqual(now.id, fresh.id);
  const reg = Registry.open(opts.registry);
  assert.match(reg.identities.sae(fresh.id)!.name, /^fresh@[0-9a-f]{8}$/);
  reg.close();
  assert.equal((await second.app.inject({ method: 'GET', url: `/api/jobs/${id}/report`, headers: h })).body, report1, 'the first job\'s report link still shows its own report');
  // Deleting a finished job removes it from the list, persistently.
  assert.equal((await second.app.inject({ method: 'DELETE', url: `/api/jobs/${id}`, headers: { host: '127.0.0.1' } })).statusCode, 200);
  await second.app.close();
  const third = await buildServer(model, opts);
  const left = (await third.app.inject({ method: 'GET', url: '/api/jobs', headers: h })).json().jobs as JobView[];
  assert.ok(!left.some((j) => j.id === id), 'a deleted job stays deleted');
  await third.app.close();
});

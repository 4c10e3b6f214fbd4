/**
 * The reliability probe's FAIL classes (../shared/research/reliability-probe.md)
 * as tests: lying safetensors headers (the safetensors crate's rules: no
 * duplicate names, tensors tile the data exactly, a bounded UTF-8 JSON object
 * header), config sizes that do not match the checkpoint, the server's Host
 * and Origin checks, symlinks out of the data folders, and SAE folders that
 * are swapped whole.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.ts';
import { loadModel } from '../src/model/load.ts';
import { serveSite } from '../src/site/serveSite.ts';
import { trainingBytes } from '../src/sae/train/memory.ts';
import { confinedPath } from '../src/server/paths.ts';
import { loadSae } from '../src/sae/load.ts';
import { loadSparsity, saveSae } from '../src/sae/saelensFormat.ts';
import { trainingReport } from '../src/sae/report.ts';
import { fixtures, needsShared, root, storiesCorpus, tinyStories, tmpDir, trainedSae } from './helpers.ts';
import { spawnSync } from 'node:child_process';

/** A safetensors file from a raw header text and data bytes. */
function raw(headerText: string, data: number): Buffer {
  const h = Buffer.from(headerText);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, Buffer.alloc(data)]);
}

function opens(buf: Buffer): () => SafetensorsFile {
  const file = path.join(tmpDir(), 'x.safetensors');
  fs.writeFileSync(file, buf);
  return () => SafetensorsFile.open(file);
}

test('safetensors headers that lie are refused, naming the fault (probe B1, B2, B6, B8, B11, B12)', () => {
  const ok = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}';
  assert.equal(opens(raw(ok, 16))().tensors.size, 2);
  assert.throws(opens(raw(ok.replace('[8,16]', '[0,8]'), 16)), /tensor 'b' starts at data byte 0, expected 8 \(it overlaps the previous tensor\)|16 bytes|8 bytes after/);
  assert.throws(opens(raw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', 16)), /tensor 'a' is listed twice/);
  assert.throws(opens(raw(ok, 16 + 1024)), /1024 bytes after the last tensor/);
  assert.throws(opens(raw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', 16)), /starts at data byte 8, expected 0 \(a gap before it\)/);
  assert.throws(opens(raw('null', 0)), /not a JSON object/);
  assert.throws(opens(raw('{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 8)), /__metadata__ must map strings to strings/);
  const bad = Buffer.concat([raw('{"__metadata__":{"k":"', 0).subarray(0, 8), Buffer.from('{"__metadata__":{"k":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]);
  bad.writeBigUInt64LE(BigInt(bad.length - 8), 0);
  assert.throws(opens(bad), /not UTF-8 JSON/);
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(1_500_000_000n, 0);
  assert.throws(opens(huge), /header length 1500000000 exceeds the 95\.\d+ MiB limit/);
});

test('config sizes that do not match the checkpoint fail fast, naming the field (probe M1-M3, M5-M7)', async () => {
  const src = path.join(fixtures, 'tiny-llama');
  const cfg0 = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
  const withCfg = (patch: Record<string, unknown>) => {
    const dir = tmpDir();
    fs.copyFileSync(path.join(src, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg0, ...patch }));
    return dir;
  };
  // Both are refused by the config check and the tensor inventory, before any graph is built.
  await assert.rejects(loadModel(withCfg({ num_hidden_layers: 1e9 })), /num_hidden_layers must be an integer in \[1, 4096\], got 1000000000/);
  await assert.rejects(loadModel(withCfg({ num_hidden_layers: 1e3 })), /missing tensor 'layers\.999\./);
  await assert.rejects(loadModel(withCfg({ num_hidden_layers: 0 })), /num_hidden_layers must be an integer in \[1, 4096\], got 0/);
  await assert.rejects(loadModel(withCfg({ num_hidden_layers: 1 })), /num_hidden_layers is 1 but the checkpoint has more blocks/);
  await assert.rejects(loadModel(withCfg({ max_position_embeddings: 2 ** 40 })), /max_position_embeddings must be an integer in \[1, 16777216\]/);
  await assert.rejects(loadModel(withCfg({ num_attention_heads: 0 })), /num_attention_heads must be an integer/);
  await assert.rejects(loadModel(withCfg({ num_attention_heads: 3, num_key_value_heads: 3 })), /head width 10\.6+ is not a positive integer/);
  await assert.rejects(loadModel(withCfg({ num_key_value_heads: 3 })), /num_attention_heads 4 is not a multiple of num_key_value_heads 3/);
  await assert.rejects(loadModel(withCfg({ intermediate_size: 1e12 })), /intermediate_size must be an integer in \[1, 1048576\]/);
  await assert.rejects(loadModel(withCfg({ intermediate_size: cfg0.intermediate_size + 1 })), /tensor 'model\.layers\.\d+\.mlp\.gate_proj\.weight' has shape .* but config\.json implies/);
  // Numbers in range: an epsilon of -1 or a rope factor of 0 would load and compute nonsense (ids [0, 0, ...]).
  await assert.rejects(loadModel(withCfg({ rms_norm_eps: -1 })), /config\.json: the normalization epsilon \(rms_norm_eps \/ layer_norm_eps\) must be a positive number up to 1, got -1/);
  await assert.rejects(loadModel(withCfg({ rope_theta: 0 })), /rope_theta must be a positive number, got 0/);
  await assert.rejects(loadModel(withCfg({ rope_scaling: { rope_type: 'linear', factor: 0 } })), /rope_scaling\.factor must be a positive number, got 0/);
  await assert.rejects(loadModel(withCfg({ rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8192 } })), /high_freq_factor \(1\) must exceed low_freq_factor \(4\)/);
  assert.ok(await loadModel(withCfg({ rms_norm_eps: 1e-5 })), 'a valid epsilon loads');
});

test('request paths are confined on real paths: a symlink inside --data cannot lead out (probe S6, S7)', () => {
  const data = tmpDir();
  const outside = tmpDir();
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret');
  fs.symlinkSync(outside, path.join(data, 'link'));
  fs.writeFileSync(path.join(data, 'corpus.txt'), 'fine');
  assert.equal(confinedPath('corpus.txt[0:5]', [data], 'corpus'), path.join(fs.realpathSync(data), 'corpus.txt') + '[0:5]');
  assert.throws(() => confinedPath('link/secret.txt', [data], 'corpus'), /corpus 'link\/secret\.txt' is outside the data folders/);
  assert.throws(() => confinedPath('link/new-sae', [data], 'out'), /outside the data folders/, 'a path to be created through the link');
  assert.throws(() => confinedPath('../x', [data], 'out'), /outside/);
  assert.throws(() => confinedPath('a\0b', [data], 'out'), /NUL/);
});

test('an SAE folder is swapped whole: a failed save leaves the old SAE loading as it was (probe R7, D3)', () => {
  const src = loadSae(path.join(fixtures, 'sae-topk'));
  const dir = path.join(tmpDir(), 'sae');
  saveSae(src, dir);
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'kept');
  const before = fs.readFileSync(path.join(dir, 'sae_weights.safetensors'));
  let calls = 0;
  // A disk that fills after the first file's bytes: the second file's write comes up short.
  const write = (fd: number, buf: NodeJS.ArrayBufferView, off?: number, len?: number, pos?: number | null) => {
    calls++;
    if (calls > 3) return 0;
    return fs.writeSync(fd, buf as Uint8Array, off, len, pos);
  };
  const changed = { ...src.weights, b_dec: { ...src.weights.b_dec, data: src.weights.b_dec.data.map((v) => v + 1) } };
  const other = new (src.constructor as typeof import('../src/sae/sae.ts').Sae)(src.cfg, changed);
  assert.throws(() => saveSae(other, dir, { log10Density: new Float32Array(src.cfg.dSae), write }), /made no progress .* \(disk full\?\)/);
  assert.deepEqual(fs.readFileSync(path.join(dir, 'sae_weights.safetensors')), before, 'the old weights are intact');
  assert.deepEqual(loadSae(dir).weights.b_dec.data, src.weights.b_dec.data);
  assert.equal(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8'), 'kept');
  assert.deepEqual(fs.readdirSync(path.dirname(dir)), ['sae'], 'no temporary folder is left behind');
  saveSae(other, dir);
  assert.deepEqual(loadSae(dir).weights.b_dec.data, changed.b_dec.data);
  assert.equal(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8'), 'kept', 'other files are carried into the new folder');
  writeSafetensors(path.join(tmpDir(), 'ok.safetensors'), { a: changed.b_dec });
});

test('the server answers only loopback Host names and refuses cross-origin writes (probe S3, DNS rebinding)', async () => {
  const { buildServer } = await import('../src/server/app.ts');
  const { Sae } = await import('../src/sae/sae.ts');
  const model = await loadModel(path.join(fixtures, 'tiny-gpt2'));
  const d = model.spec.dModel;
  const zeros = (shape: number[]) => ({ dtype: 'float32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.01) });
  const saeDir = path.join(tmpDir(), 'sae');
  saveSae(new Sae({ architecture: 'standard', dIn: d, dSae: 8, applyBDecToInput: true, normalizeActivations: 'none', hookName: 'blocks.0.hook_resid_post', modelName: 'tiny', contextSize: 16, prependBos: true, datasetPath: '', dtype: 'float32' },
    { W_enc: zeros([d, 8]), b_enc: zeros([8]), W_dec: zeros([8, d]), b_dec: zeros([d]) }), saeDir);
  const data = tmpDir();
  const { app } = await buildServer(model, { saes: [{ name: 's', dir: saeDir }], registry: path.join(data, 'r.db'), dataDirs: [data] });
  const put = (headers: Record<string, string>) => app.inject({ method: 'PUT', url: '/api/feature/s/1', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify({ name: 'x' }) });
  const get = (host: string) => app.inject({ method: 'GET', url: '/api/info', headers: { host } });
  assert.equal((await get('127.0.0.1:5173')).statusCode, 200);
  assert.equal((await get('localhost:5173')).statusCode, 200);
  assert.equal((await get('[::1]:5173')).statusCode, 200);
  const evil = await get('evil.example:5173');
  assert.equal(evil.statusCode, 403);
  assert.match(evil.json().error, /Host 'evil\.example:5173' is not served here/);
  assert.equal((await put({ host: 'evil.example' })).statusCode, 403, 'a rebinding page cannot write the registry');
  const cross = await put({ host: '127.0.0.1:5173', origin: 'http://evil.example' });
  assert.equal(cross.statusCode, 403);
  assert.match(cross.json().error, /cross-origin write refused/);
  assert.equal((await put({ host: '127.0.0.1:5173', origin: 'http://127.0.0.1:9999' })).statusCode, 403, 'another port is another origin');
  assert.equal((await put({ host: '127.0.0.1:5173', origin: 'http://127.0.0.1:5173' })).statusCode, 200);
  assert.equal((await put({ host: '127.0.0.1:5173' })).statusCode, 200, 'non-browser clients send no Origin');

  // Jobs: every size bounded at submit (probe S16, S17), ids unique across restarts (S23).
  fs.writeFileSync(path.join(data, 'c.txt'), 'one two three four five six seven');
  const job = (body: unknown) => app.inject({ method: 'POST', url: '/api/jobs', headers: { host: '127.0.0.1', 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  const train = { kind: 'train', hook: 'blocks.0.hook_resid_post', architecture: 'topk', dSae: 16, k: 4, corpus: 'c.txt', tokens: 64, out: 'out-sae' };
  for (const [patch, why] of [
    [{ dSae: 1e6 }, /dSae must be an integer in \[1, \d+\]/], [{ dSae: '256' }, /body\/dSae must be integer/], [{ k: 1e9 }, /k must be an integer in \[1, 16\]/],
    [{ batchSize: -5 }, /body\/batchSize must be >= 1/], [{ lr: 'fast' }, /body\/lr must be number/], [{ tokens: 1e12 }, /body\/tokens must be <= 1000000000/],
    [{ colour: 'red' }, /must NOT have additional properties/],
    [{ architecture: 'gated' }, /body\/architecture must be equal to one of the allowed values/], [{ hook: 'blocks.9.hook_nothing' }, /unknown hook|blocks\.9\.hook_nothing/],
  ] as const) {
    const r = await job({ ...train, ...patch });
    assert.equal(r.statusCode, 400, JSON.stringify(patch));
    assert.match(r.json().error, why);
  }
  assert.equal((await job(null)).statusCode, 400);
  const noTok = await job(train);
  assert.equal(noTok.statusCode, 400, 'a model without a tokenizer cannot read a corpus: refused at submit');
  assert.match(noTok.json().error, /has no tokenizer/);
  assert.equal((await app.inject({ method: 'DELETE', url: '/api/jobs/nope', headers: { host: '127.0.0.1' } })).statusCode, 404);
  assert.match((await job({ ...train, dSae: 1e6 })).json().error, /would hold about \d+ MiB/);

  // Every route validates its body before answering (probe S11-S16, S19): 400 with a message, never 500 or a 200 stream of errors.
  const post = (url: string, body: unknown) => app.inject({ method: 'POST', url, headers: { host: '127.0.0.1', 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  const steerOk = { sae: 's', prompt: 'hello there', features: [{ feature: 1, strength: 2 }] };
  for (const [body, why] of [
    [{ ...steerOk, features: [null] }, /body\/features\/0 must be object/],
    [{ ...steerOk, features: [{ feature: 1, strength: 'abc' }] }, /body\/features\/0\/strength must be number/],
    [{ ...steerOk, features: [{ feature: 1 }] }, /exactly one of preset, strength or clamp/],
    [{ ...steerOk, features: [{ feature: 1, preset: 'huge' }] }, /body\/features\/0\/preset must be equal to one of the allowed values/],
    [{ ...steerOk, temperature: -5 }, /body\/temperature must be >= 0/],
    [{ ...steerOk, seed: -1 }, /body\/seed must be >= 0/],
    [{ ...steerOk, features: [{ feature: 9, strength: 1 }] }, /feature 9 is out of range \[0, 8\)/],
    [{ ...steerOk, features: [{ feature: '1e3', strength: 1 }] }, /body\/features\/0\/feature must be integer/],
    [{ ...steerOk, variants: [[{ feature: 1, strength: 2 }]] }, /give features \(steered together\) or variants \(compared side by side\), not both/],
    [{ sae: 's', prompt: 'hi' }, /give features \(steered together\) or variants/],
    [{ sae: 's', prompt: 'hi', variants: [] }, /body\/variants must NOT have fewer than 1 items/],
    [{ sae: 's', prompt: 'hi', variants: [[{ feature: 1, strength: 2 }], []] }, /body\/variants\/1 must NOT have fewer than 1 items/],
    [{ sae: 's', prompt: 'hi', variants: [[{ feature: 1, strength: 2 }], [{ feature: 9, clamp: 0 }]] }, /feature 9 is out of range \[0, 8\)/],
  ] as const) {
    const r = await post('/api/steer', body);
    assert.equal(r.statusCode, 400, JSON.stringify(body));
    assert.match(r.json().error, why);
  }
  for (const f of ['0x10', '%20', '1e3']) assert.equal((await app.inject({ method: 'PUT', url: `/api/feature/s/${f}`, headers: { host: '127.0.0.1', 'content-type': 'application/json' }, payload: '{}' })).statusCode, 400, f);
  const edit = (body: unknown) => app.inject({ method: 'PUT', url: '/api/feature/s/2', headers: { host: '127.0.0.1', 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  assert.match((await edit({ examples: { a: 1 } })).json().error, /body\/examples must be array/);
  assert.match((await edit({ confidence: true })).json().error, /body\/confidence must be number,null/);
  assert.match((await edit({ nmae: 'typo' })).json().error, /must NOT have additional properties/);
  const noTokText = await post('/api/analyze', { sae: 's', text: 'word' });
  assert.equal(noTokText.statusCode, 400, `text for a model without a tokenizer is refused: ${noTokText.body}`);
  const sweepBig = await post('/api/sweep', { sae: 's', features: [0, 1, 2, 3, 4, 5, 6, 7], prompts: Array(8).fill('hi'), magnitudes: Array.from({ length: 16 }, (_, i) => i), maxNewTokens: 64 });
  assert.equal(sweepBig.statusCode, 400);
  assert.match(sweepBig.json().error, /over the limit/);
  await app.close();
  await model.dispose();
});

test('DELETE /api/jobs/:id cancels a queued job at once and stops a running one at its next step (probe S17)', { skip: needsShared() }, async () => {
  const { buildServer } = await import('../src/server/app.ts');
  const model = await loadModel(tinyStories);
  const data = tmpDir();
  fs.writeFileSync(path.join(data, 'long.txt'), 'Once upon a time there was a cat who liked to play in the sun.\n'.repeat(20000));
  const { app } = await buildServer(model, { saes: [{ name: 'ts', dir: await trainedSae() }], registry: path.join(data, 'r.db'), dataDirs: [data] });
  const h = { host: '127.0.0.1' };
  const job = (body: unknown) => app.inject({ method: 'POST', url: '/api/jobs', headers: { ...h, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  const train = { kind: 'train', hook: 'blocks.0.hook_resid_post', architecture: 'topk', dSae: 64, k: 4, corpus: 'long.txt', tokens: 400000, batchSize: 256, out: 'a' };
  // Probe S17: a job's time is estimated at submit and refused past the limit, with the estimate.
  const long = await job({ ...train, dSae: 4096, tokens: 1e9 });
  assert.equal(long.statusCode, 400);
  assert.match(long.json().error, /1000000000 tokens would take about \d+\.\d h \(.* GFLOP per token at an assumed 20 GFLOP\/s\); the limit is 48\.0 h/);
  const firstJob = await job(train);
  assert.match(firstJob.json().message, /queued; about \d+ s of work by estimate/);
  const first = firstJob.json().id as string;
  const second = (await job({ ...train, out: 'b' })).json().id as string;
  const del = await app.inject({ method: 'DELETE', url: `/api/jobs/${second}`, headers: h });
  assert.equal(del.statusCode, 200);
  assert.equal(del.json().status, 'stopped', 'a queued job is cancelled at once');
  let status = '';
  for (let i = 0; i < 400 && status !== 'running'; i++) {
    status = ((await app.inject({ method: 'GET', url: `/api/jobs`, headers: h })).json().jobs as { id: string; status: string }[]).find((j) => j.id === first)!.status;
    if (status !== 'running') await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(status, 'running');
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/jobs/${first}`, headers: h })).statusCode, 200);
  for (let i = 0; i < 4800 && status === 'running'; i++) {
    await new Promise((r) => setTimeout(r, 25));
    status = ((await app.inject({ method: 'GET', url: `/api/jobs`, headers: h })).json().jobs as { id: string; status: string }[]).find((j) => j.id === first)!.status;
  }
  assert.equal(status, 'stopped', `the running job stops, and is not reported failed or done: ${JSON.stringify(((await app.inject({ method: 'GET', url: `/api/jobs`, headers: h })).json().jobs as { id: string }[]).find((j) => j.id === first))}`);
  assert.ok(!fs.existsSync(path.join(data, 'b')), 'the cancelled queued job never ran');
  // Resume: a stopped job is queued again under its id and continues from its checkpoint, not from the start.
  type J = { id: string; status: string; progress: number };
  const jobOf = async () => ((await app.inject({ method: 'GET', url: `/api/jobs`, headers: h })).json().jobs as J[]).find((j) => j.id === first)!;
  const until = async (ok: (j: J) => boolean) => {
    let j = await jobOf();
    for (let i = 0; i < 4800 && !ok(j); i++) {
      await new Promise((r) => setTimeout(r, 25));
      j = await jobOf();
    }
    return j;
  };
  assert.equal((await app.inject({ method: 'POST', url: `/api/jobs/${first}/resume`, headers: h })).statusCode, 200);
  assert.ok((await until((j) => j.status === 'running' && j.progress > 0.05)).progress > 0.05, 'the resumed job trains');
  await app.inject({ method: 'DELETE', url: `/api/jobs/${first}`, headers: h });
  const stoppedAt = (await until((j) => j.status === 'stopped')).progress;
  assert.equal((await app.inject({ method: 'POST', url: `/api/jobs/${first}/resume`, headers: h })).statusCode, 200);
  const again = await until((j) => j.status === 'running' && j.progress > 0);
  assert.ok(again.progress >= stoppedAt * 0.9, `resumed at ${again.progress}, stopped at ${stoppedAt}: from its checkpoint`);
  assert.match((await app.inject({ method: 'POST', url: `/api/jobs/${first}/resume`, headers: h })).json().error, /is running: only a stopped or failed job resumes/);
  await app.inject({ method: 'DELETE', url: `/api/jobs/${first}`, headers: h });
  await until((j) => j.status === 'stopped');
  // Probe K5: a corpus shorter than one row names the row size.
  const { scan } = await import('../src/analysis/scan.ts');
  const { loadSae: load } = await import('../src/sae/load.ts');
  await assert.rejects(scan(model, load(await trainedSae()), { corpus: ['A cat.'], tokens: 100, contextSize: 128 }), /shorter than one row of 128 tokens \(the context size\)/);
  const longText = await app.inject({ method: 'POST', url: '/api/analyze', headers: { ...h, 'content-type': 'application/json' }, payload: JSON.stringify({ sae: 'ts', text: 'word '.repeat(600) }) });
  assert.equal(longText.statusCode, 400, `a text over the context is the caller's error: ${longText.body}`);
  await app.close();
});

test('malformed JSON files and corpora are named with what is wrong (probe B8, C3, C4, K4, K6, B14)', async () => {
  const { readJsonFile } = await import('../src/io/json.ts');
  const { readCorpus } = await import('../src/data/corpus.ts');
  const { loadSparsity } = await import('../src/sae/saelensFormat.ts');
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'config.json'), 'null');
  assert.throws(() => readJsonFile(path.join(dir, 'config.json')), /config\.json: expected a JSON object, got null/);
  const sae = path.join(dir, 'sae');
  fs.mkdirSync(sae);
  fs.copyFileSync(path.join(fixtures, 'sae-standard', 'sae_weights.safetensors'), path.join(sae, 'sae_weights.safetensors'));
  const cfg = JSON.parse(fs.readFileSync(path.join(fixtures, 'sae-standard', 'cfg.json'), 'utf8'));
  for (const bad of [1e9, 'abc']) {
    fs.writeFileSync(path.join(sae, 'cfg.json'), JSON.stringify({ ...cfg, metadata: { ...cfg.metadata, context_size: bad } }));
    assert.throws(() => loadSae(sae), /'context_size' must be an integer in \[1, 1048576\]/);
  }
  writeSafetensors(path.join(sae, 'sparsity.safetensors'), { sparsity: { dtype: 'float32', shape: [2], data: Float32Array.of(-1, NaN) } });
  assert.throws(() => loadSparsity(sae), /sparsity\[1\] is NaN/);
  const jsonl = path.join(dir, 'c.jsonl');
  fs.writeFileSync(jsonl, '{"text":"a"}\nnull\n');
  await assert.rejects(async () => { for await (const _ of readCorpus(jsonl)) void _; }, /c\.jsonl:2: not a JSON object/);
  // One long line is read in linear time.
  const big = path.join(dir, 'big.txt');
  fs.writeFileSync(big, 'word '.repeat(4_000_000) + '\n\nsecond');
  const docs: string[] = [];
  for await (const d of readCorpus(big)) docs.push(d);
  assert.equal(docs.length, 2);
  assert.equal(docs[0].length, 20_000_000);
});

test('serve-site answers loopback Host names only and does not follow symlinks out of the site folder', async () => {
  const site = tmpDir();
  fs.writeFileSync(path.join(site, 'index.html'), '<p>site</p>');
  fs.mkdirSync(path.join(site, 'data'));
  fs.writeFileSync(path.join(site, 'data', 'manifest.json'), '{}');
  const secret = path.join(tmpDir(), 'secret.txt');
  fs.writeFileSync(secret, 'private');
  fs.symlinkSync(secret, path.join(site, 'leak.txt'));
  fs.symlinkSync(path.dirname(secret), path.join(site, 'outdir'));
  const { app } = await serveSite(site, { port: 0 });
  try {
    const get = (url: string, host = '127.0.0.1') => app.inject({ method: 'GET', url, headers: { host } });
    assert.equal((await get('/index.html')).statusCode, 200);
    assert.equal((await get('/index.html', 'evil.example')).statusCode, 403, 'a rebinding page cannot read the site');
    for (const url of ['/leak.txt', '/outdir/secret.txt']) {
      const r = await get(url);
      assert.notEqual(r.statusCode, 200, url);
      assert.doesNotMatch(r.body, /private/);
    }
  } finally {
    await app.close();
  }
});

test('a save interrupted between its two renames is finished on the next load or save, carried files included', () => {
  const src = loadSae(path.join(fixtures, 'sae-topk'));
  const changed = new (src.constructor as typeof import('../src/sae/sae.ts').Sae)(src.cfg, { ...src.weights, b_dec: { ...src.weights.b_dec, data: src.weights.b_dec.data.map((v) => v + 1) } });
  const crash = (completeNew: boolean) => {
    // The state a crash leaves: the old folder renamed away, the new one (complete or not) beside it, nothing at the target.
    const dir = path.join(tmpDir(), 'sae');
    saveSae(src, dir);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'kept');
    const pid = 999_999;
    const saving = `${dir}.${pid}.saving`;
    saveSae(changed, saving);
    fs.linkSync(path.join(dir, 'notes.txt'), path.join(saving, 'notes.txt'));
    if (!completeNew) fs.rmSync(path.join(saving, 'cfg.json'));
    fs.renameSync(dir, `${dir}.${pid}.old`);
    return dir;
  };
  const a = crash(true);
  assert.deepEqual(loadSae(a).weights.b_dec.data, changed.weights.b_dec.data, 'the complete new SAE is put in place');
  assert.equal(fs.readFileSync(path.join(a, 'notes.txt'), 'utf8'), 'kept');
  const b = crash(false);
  assert.deepEqual(loadSae(b).weights.b_dec.data, src.weights.b_dec.data, 'an incomplete new one leaves the previous SAE');
  assert.equal(fs.readFileSync(path.join(b, 'notes.txt'), 'utf8'), 'kept');
  // The next save clears the leftovers, keeping carried files.
  saveSae(changed, b);
  assert.deepEqual(fs.readdirSync(path.dirname(b)).sort(), ['sae']);
  assert.equal(fs.readFileSync(path.join(b, 'notes.txt'), 'utf8'), 'kept');
});

test('generation that reaches the end of the context stops there and says so (API, CLI)', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  // A prompt a few tokens short of the 512-token context.
  const { buildServer } = await import('../src/server/app.ts');
  let prompt = 'Once upon a time, there was a dog.';
  while (model.toTokens(prompt)[0].length < model.spec.nCtx - 6) prompt += ' The dog ran.';
  const data = tmpDir();
  const { app } = await buildServer(model, { saes: [{ name: 'ts', dir: await trainedSae() }], registry: path.join(data, 'r.db'), dataDirs: [data] });
  try {
    const r = await app.inject({ method: 'POST', url: '/api/steer', headers: { host: '127.0.0.1', 'content-type': 'application/json' }, payload: JSON.stringify({ sae: 'ts', prompt, features: [{ feature: 1, strength: 1 }], maxNewTokens: 40 }) });
    assert.equal(r.statusCode, 200, r.body);
    const done = r.body.trim().split('\n').filter((l: string) => l.trim()).map((l: string) => JSON.parse(l)).find((e: { kind: string }) => e.kind === 'done');
    assert.deepEqual(done.stopReasons, { steered: 'context', unsteered: 'context' });
    assert.match(done.contextNote, /stopped early: the model's context of 512 tokens is full/);
  } finally {
    await app.close();
  }
  const cli = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), 'generate', '--model', tinyStories, '--max-new-tokens', '40', '--json', prompt], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.ok(cli.stdout.length > 0, `no output: ${cli.stderr.slice(-800)} ${String(cli.error)}`);
  assert.equal(JSON.parse(cli.stdout).stopReason, 'context');
  assert.match(cli.stderr, /stopped after \d+ new tokens: the model's context of 512 tokens is full/);
});

test('train refuses, with its estimate, a width or batch the machine cannot hold, before training starts', { skip: needsShared() }, async () => {
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), 'train', '--model', tinyStories, '--hook', 'blocks.1.hook_resid_pre',
    '--corpus', 'x.txt', '--tokens', '1000', '--out', path.join(tmpDir(), 'out'), '--quiet', ...args], { encoding: 'utf8' });
  const wide = run('--expansion', '100000');
  assert.notEqual(wide.status, 0);
  // 100000 x 128 latents on d_in 128: 4 x 8 x 128 x 12.8M bytes of weights and optimizer state alone, ~49 GiB.
  assert.match(wide.stderr, /training would hold about \d+\.\d GiB \(d_sae up to 12800000 on d_in 128, batch 4096\); this machine has \d+\.\d GiB to give it: lower --expansion or --batch-size/);
  const batch = run('--batch-size', '1000000000');
  assert.match(batch.stderr, /--batch-size must be an integer in \[1, 262144\], got 1000000000/);
  assert.equal(trainingBytes(128, 1024, 4096), 4 * (8 * 128 * 1024 + 2 * 4096 * 1024 + 4 * 4096 * 128));
});

test('a job checks its paths again when it opens them: a folder replaced by a link while it waited does not lead it outside', { skip: needsShared() }, async () => {
  const { buildServer } = await import('../src/server/app.ts');
  const model = await loadModel(tinyStories);
  const data = tmpDir();
  const outside = tmpDir();
  fs.writeFileSync(path.join(data, 'long.txt'), 'Once upon a time there was a cat who liked to play in the sun.\n'.repeat(20000));
  fs.mkdirSync(path.join(data, 'sub'));
  const { app } = await buildServer(model, { saes: [{ name: 'ts', dir: await trainedSae() }], registry: path.join(data, 'r.db'), dataDirs: [data] });
  const h = { host: '127.0.0.1' };
  const jobs = async () => (await app.inject({ method: 'GET', url: '/api/jobs', headers: h })).json().jobs as { id: string; status: string; message: string }[];
  const job = (body: unknown) => app.inject({ method: 'POST', url: '/api/jobs', headers: { ...h, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  const train = { kind: 'train', hook: 'blocks.0.hook_resid_post', architecture: 'topk', dSae: 64, k: 4, corpus: 'long.txt', tokens: 400000, batchSize: 256 };
  try {
    const blocker = (await job({ ...train, out: 'a' })).json().id as string;
    const victim = (await job({ ...train, tokens: 1024, out: 'sub/new-sae' })).json().id as string;
    // While the second job waits, its output's parent becomes a link to a folder outside --data.
    fs.renameSync(path.join(data, 'sub'), path.join(data, 'sub-was'));
    fs.symlinkSync(outside, path.join(data, 'sub'));
    await app.inject({ method: 'DELETE', url: `/api/jobs/${blocker}`, headers: h });
    let v = (await jobs()).find((j) => j.id === victim)!;
    for (let i = 0; i < 4800 && (v.status === 'queued' || v.status === 'running'); i++) {
      await new Promise((r) => setTimeout(r, 25));
      v = (await jobs()).find((j) => j.id === victim)!;
    }
    assert.equal(v.status, 'failed');
    assert.match(v.message, /out .*sub\/new-sae now resolves outside the data folders \(was a folder replaced by a link while the job waited\?\); nothing was written/);
    assert.deepEqual(fs.readdirSync(outside), [], 'nothing was written outside');
  } finally {
    await app.close();
  }
});

test('a sparsity file of the wrong length is refused by name', () => {
  const dir = path.join(tmpDir(), 'sae');
  const sae = loadSae(path.join(fixtures, 'sae-topk'));
  saveSae(sae, dir, { log10Density: new Float32Array(sae.cfg.dSae).fill(-2) });
  assert.equal(loadSparsity(dir, sae.cfg.dSae)!.length, sae.cfg.dSae);
  writeSafetensors(path.join(dir, 'sparsity.safetensors'), { sparsity: { dtype: 'float32', shape: [7], data: new Float32Array(7).fill(-1) } });
  assert.throws(() => loadSparsity(dir, sae.cfg.dSae), /sparsity\.safetensors: holds 7 densities but the SAE has 64 latents/);
  assert.throws(() => trainingReport({ dir, sae }), /holds 7 densities but the SAE has 64 latents/);
});

test("ONNX Runtime's warnings stay off stderr unless SAESCOPE_ORT_VERBOSE is set", async () => {
  // A graph with an unused initializer makes ORT warn "Removing initializer" at session creation (graph.cc CleanUnusedInitializersAndNodeArgs).
  const script = `
    import { GraphBuilder } from './src/runtime/graph.ts';
    import { Session } from './src/runtime/session.ts';
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2]);
    g.floats([1, 2, 3]);
    g.op('Identity', [x], {}, { out: 'y' });
    g.output('y', 'float32', [2]);
    const s = await Session.create(g.toBytes());
    const out = await s.run({ x: { dtype: 'float32', shape: [2], data: new Float32Array([4, 5]) } });
    process.stdout.write(JSON.stringify(Array.from(out.y.data)));`;
  const { execFile } = await import('node:child_process');
  const runWith = (env: Record<string, string>) =>
    new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.resolve(import.meta.dirname, '..'), env: { ...process.env, ...env } }, (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr }))),
    );
  const quiet = await runWith({ SAESCOPE_ORT_VERBOSE: '' });
  assert.equal(quiet.stdout, '[4,5]');
  assert.doesNotMatch(quiet.stderr, /Removing initializer/);
  const loud = await runWith({ SAESCOPE_ORT_VERBOSE: '1' });
  assert.match(loud.stderr, /Removing initializer/, 'the graph must really make ORT warn, or the quiet run proves nothing');
});

test('long commands report progress when stderr is a pipe, not a terminal: a line at the start, every few seconds, and at the end', { skip: needsShared() }, () => {
  const out = path.join(tmpDir(), 'sae');
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), 'train', '--model', tinyStories, '--hook', 'blocks.1.hook_resid_pre', '--arch', 'topk', '--k', '4',
    '--corpus', storiesCorpus + '[0:40]', '--tokens', '4096', '--batch-size', '512', '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith(' train ['));
  assert.match(lines[0] ?? '', /^ train \[-+\] 0% \| 0\/4096 tok/, `stderr: ${r.stderr.slice(0, 400)}`);
  assert.match(lines.at(-1) ?? '', /^ train \[=+\] 100% \| 4096\/4096 tok \| \d+ tok\/s \| loss [\d.e+]+ \| L0 4\.0/);
});

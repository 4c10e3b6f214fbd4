/** Checkpoints: a killed training run resumes to the same weights; a failed checkpoint write keeps the previous one. */
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { checkpointPath, readCheckpoint, writeCheckpoint } from '../src/sae/train/checkpoint.ts';
import { needsShared, root, shared, tinyStories, tmpDir } from './helpers.ts';

const BIN = path.join(root, 'bin', 'saescope.js');
const corpus = path.join(shared, 'corpora', 'tinystories-656K-samples.jsonl') + '[0:150]';

function trainArgs(out: string, ckdir?: string): string[] {
  const a = ['train', '--model', tinyStories, '--hook', 'blocks.1.hook_resid_pre', '--arch', 'topk', '--k', '8', '--expansion', '2',
    '--corpus', corpus, '--tokens', String(60 * 512), '--batch-size', '512', '--context-size', '64', '--lr', '2e-3', '--dead-window', '5000', '--quiet', '--out', out];
  return ckdir ? [...a, '--checkpoint-dir', ckdir, '--checkpoint-every', String(10 * 512)] : a;
}

test('a killed training run resumes from its last checkpoint (to another --out) and ends with the same weights; its --log repeats no step', { skip: needsShared() }, async () => {
  const base = tmpDir();
  await promisify(execFile)(process.execPath, [BIN, ...trainArgs(path.join(base, 'straight'))]);
  const ck = path.join(base, 'ck');
  const log = ['--log', path.join(base, 'log.jsonl'), '--log-every', '1'];
  const child = spawn(process.execPath, [BIN, ...trainArgs(path.join(base, 'resumed'), ck), ...log], { stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(checkpointPath(ck)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 150));
  child.kill('SIGKILL');
  await exited;
  const at = readCheckpoint(ck)!.state.step;
  assert.ok(at >= 10 && at < 60, `killed after the checkpoint at step ${at}, before the end`);
  assert.ok(!fs.existsSync(path.join(base, 'resumed', 'sae_weights.safetensors')), 'the killed run did not finish');
  const { stderr } = await promisify(execFile)(process.execPath, [BIN, ...trainArgs(path.join(base, 'elsewhere'), ck), ...log]);
  assert.match(stderr, /resumed and saved/);
  const steps = fs.readFileSync(path.join(base, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step as number);
  assert.deepEqual(steps, Array.from({ length: 60 }, (_, i) => i + 1), 'every step logged once, in order');
  const a = SafetensorsFile.open(path.join(base, 'straight', 'sae_weights.safetensors'));
  const b = SafetensorsFile.open(path.join(base, 'elsewhere', 'sae_weights.safetensors'));
  for (const name of a.tensors.keys()) assert.deepEqual(b.readF32(name).data, a.readF32(name).data, name);
});

test('a failed checkpoint write leaves the previous checkpoint intact', () => {
  const dir = tmpDir();
  const state = { fingerprint: 'x', step: 1, tokens: 10, rowsConsumed: 2, saes: [], hooks: {} };
  writeCheckpoint(dir, state, { w: Float32Array.of(1, 2, 3) });
  const before = fs.readFileSync(checkpointPath(dir));
  // A directory where the temporary file must go makes the write fail.
  fs.mkdirSync(path.join(dir, `.checkpoint.safetensors.${process.pid}.tmp`));
  assert.throws(() => writeCheckpoint(dir, { ...state, step: 2 }, { w: Float32Array.of(4, 5, 6) }));
  assert.deepEqual(fs.readFileSync(checkpointPath(dir)), before);
  assert.equal(readCheckpoint(dir)!.state.step, 1);
});

test('a checkpoint from another configuration is refused', { skip: needsShared() }, async () => {
  const base = tmpDir();
  const ck = path.join(base, 'ck');
  writeCheckpoint(ck, { fingerprint: 'another run', step: 1, tokens: 10, rowsConsumed: 2, saes: [], hooks: {} }, {});
  const r = await promisify(execFile)(process.execPath, [BIN, ...trainArgs(path.join(base, 'x'), ck)]).catch((e) => e);
  assert.match(r.stderr, /checkpoint belongs to another run configuration/);
});

test('train and scan refuse an --out they cannot write before doing any work', { skip: needsShared() }, async () => {
  const base = tmpDir();
  const t0 = Date.now();
  const r = await promisify(execFile)(process.execPath, [BIN, ...trainArgs('/sys/saescope-cannot-write/sae')]).catch((e) => e);
  assert.match(r.stderr, /--out .*cannot write there .*nothing was run/);
  const s = await promisify(execFile)(process.execPath, [BIN, 'scan', '--model', tinyStories, '--sae', path.join(base, 'none'), '--corpus', corpus, '--tokens', '100', '--out', path.join(base, 'missing', 'x.json')]).catch((e) => e);
  assert.match(s.stderr, /--out .*x\.json: cannot write there \(the folder .*missing does not exist\)/);
  assert.ok(Date.now() - t0 < 20_000);
});

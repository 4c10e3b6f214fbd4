/** Checkpoints: a killed training run resumes to the same weights; a failed checkpoint write keeps the previous one. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
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

test('a run that dies at a step it reported resumes from its last checkpoint (to another --out) and ends with the same weights; its log repeats no step', { skip: needsShared() }, async () => {
  const { loadModel } = await import('../src/model/load.ts');
  const { trainSaes } = await import('../src/sae/train/trainer.ts');
  const model = await loadModel(tinyStories);
  const base = tmpDir();
  const spec = (out: string) => ({ hook: 'blocks.1.hook_resid_pre', architecture: 'topk' as const, dSae: 256, k: 8, lr: 2e-3, out: path.join(base, out) });
  const ck = path.join(base, 'ck');
  const log = path.join(base, 'log.jsonl');
  const options = { corpus, tokens: 60 * 512, batchSize: 512, contextSize: 64, deadWindowTokens: 5000 };
  const resumable = { ...options, checkpointDir: ck, checkpointEveryTokens: 10 * 512, metricsLog: log, logEverySteps: 1 };
  await trainSaes(model, [spec('straight')], options);
  // The run dies right after reporting step 25: checkpoints at 10 and 20 exist, steps 21-25 are logged past the last one.
  await assert.rejects(trainSaes(model, [spec('resumed')], { ...resumable, onStep: (m) => { if (m.step === 25) throw new Error('died at step 25'); } }), /died at step 25/);
  assert.equal(readCheckpoint(ck)!.state.step, 20);
  assert.ok(!fs.existsSync(path.join(base, 'resumed', 'sae_weights.safetensors')), 'the dead run did not finish');
  const r = await trainSaes(model, [spec('elsewhere')], resumable);
  assert.equal(r.resumed, true);
  const steps = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step as number);
  assert.deepEqual(steps, Array.from({ length: 60 }, (_, i) => i + 1), 'every step logged once, in order');
  const a = SafetensorsFile.open(path.join(base, 'straight', 'sae_weights.safetensors'));
  const b = SafetensorsFile.open(path.join(base, 'elsewhere', 'sae_weights.safetensors'));
  for (const name of a.tensors.keys()) assert.deepEqual(b.readF32(name).data, a.readF32(name).data, name);
  await model.dispose();
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
  const r = await promisify(execFile)(process.execPath, [BIN, ...trainArgs('/sys/saescope-cannot-write/sae')]).catch((e) => e);
  assert.match(r.stderr, /--out .*cannot write there .*nothing was run/);
  const s = await promisify(execFile)(process.execPath, [BIN, 'scan', '--model', tinyStories, '--sae', path.join(base, 'none'), '--corpus', corpus, '--tokens', '100', '--out', path.join(base, 'missing', 'x.json')]).catch((e) => e);
  assert.match(s.stderr, /--out .*x\.json: cannot write there \(the folder .*missing does not exist\)/);
  assert.doesNotMatch(s.stderr, /scan \[/, 'no scan started');
});

/** The `saescope` command end to end, as a user runs it. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { loadModel } from '../src/model/load.ts';
import { fixtures, maxDiff, needsShared, root, tinyStories, tmpDir } from './helpers.ts';

const run = promisify(execFile);
const BIN = path.join(root, 'bin', 'saescope.js');

async function saescope(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: root });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

test('saescope generate --json prints prompt ids, new ids and text', { skip: needsShared() }, async () => {
  const r = await saescope('generate', '--model', tinyStories, '--temperature', '0', '--max-new-tokens', '30', '--json', 'Once upon a time,');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.promptIds, [1, 80, 147, 201, 282, 57, 8]);
  assert.equal(out.ids.length, 30);
  assert.equal(out.ids[0], 1137);
  assert.ok(out.text.startsWith(' an ordinary cat'));
});

test('saescope run writes each cached hook [batch, pos, ...] and the logits', async () => {
  const out = path.join(tmpDir(), 'acts.safetensors');
  const model = path.join(fixtures, 'tiny-gpt2');
  const r = await saescope('run', '--model', model, '--tokens', '1,2,3;4,5,6', '--cache', 'blocks.*.hook_resid_post,blocks.0.attn.hook_pattern', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const f = SafetensorsFile.open(out);
  assert.deepEqual([...f.tensors.keys()].sort(), ['blocks.0.attn.hook_pattern', 'blocks.0.hook_resid_post', 'blocks.1.hook_resid_post', 'logits', 'tokens']);
  assert.deepEqual(f.tensors.get('blocks.1.hook_resid_post')!.shape, [2, 3, 32]);
  assert.deepEqual(f.tensors.get('blocks.0.attn.hook_pattern')!.shape, [2, 4, 3, 3]);
  const direct = await (await loadModel(model)).run([[1, 2, 3], [4, 5, 6]]);
  assert.ok(maxDiff(f.readF32('logits').data, direct.logits!.data) < 1e-5);
});

test('saescope reports bad input clearly and exits non-zero', async () => {
  const model = path.join(fixtures, 'tiny-gpt2');
  const hook = await saescope('run', '--model', model, '--tokens', '1,2', '--cache', 'blocks.0.hook_nope', '--out', path.join(tmpDir(), 'x.safetensors'));
  assert.notEqual(hook.code, 0);
  assert.match(hook.stderr, /unknown hook 'blocks\.0\.hook_nope'\. Valid hooks/);
  const both = await saescope('run', '--model', model, '--cache', 'hook_embed', '--out', 'x');
  assert.match(both.stderr, /exactly one of --tokens or --text/);
  const temp = await saescope('generate', '--model', model, '--temperature', 'hot', 'x');
  assert.match(temp.stderr, /--temperature expects a number, got 'hot'/);
  const missing = await saescope('generate', '--model', path.join(tmpDir(), 'nothing-here'), 'x');
  assert.notEqual(missing.code, 0);
});

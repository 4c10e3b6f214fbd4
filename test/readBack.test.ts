/**
 * The sweep's read-back blocks (src/steering/readBack.ts): every pushed token
 * reaches the encoder once, in order, beside its job, however the pushes fall
 * across blocks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadBack } from '../src/steering/readBack.ts';
import type { Tensor } from '../src/tensor/tensor.ts';

test('read-back blocks: each token once, in order, with its job; a full block is sent to the encoder before the next push', async () => {
  const dIn = 3;
  const blocks: { jobs: number[]; x: number[] }[] = [];
  const rb = new ReadBack(dIn, 4, async (jobs, x: Tensor<'float32'>) => {
    // The encoder reads its input later, as an ONNX Runtime run does: later pushes must not have changed it.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(x.shape, [jobs.length, dIn]);
    blocks.push({ jobs: [...jobs], x: [...x.data] });
  });
  const want: { job: number; v: number[] }[] = [];
  // Steps of 3 tokens against blocks of 4: pushes straddle the blocks.
  for (let step = 0; step < 5; step++) {
    for (let j = 0; j < 3; j++) {
      const v = [step, j, step * 10 + j];
      want.push({ job: j, v });
      rb.push(j, Float32Array.from(v));
    }
  }
  await rb.done();
  assert.deepEqual(blocks.map((b) => b.jobs.length), [4, 4, 4, 3]);
  assert.deepEqual(blocks.flatMap((b) => b.jobs), want.map((w) => w.job));
  assert.deepEqual(blocks.flatMap((b) => b.x), want.flatMap((w) => w.v));
  await rb.done();
  assert.equal(blocks.length, 4, 'with nothing left, done() encodes nothing more');
});

/** The model queue lets long work step aside between its pieces (issue 29: a sweep no longer holds the model for its whole run). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelQueue } from '../src/server/queue.ts';

test('a long task that pauses between pieces lets requests that arrived meanwhile run, then continues', async () => {
  const q = new ModelQueue(8);
  const order: string[] = [];
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const long = q.run(async () => {
    for (let i = 0; i < 3; i++) {
      order.push(`long ${i}`);
      if (i === 0) started();
      await new Promise((r) => setImmediate(r));
      await q.pause();
    }
    return 'long done';
  });
  await running;
  const short = q.run(async () => {
    order.push('short');
    return 'short done';
  });
  assert.deepEqual(await Promise.all([long, short]), ['long done', 'short done']);
  assert.deepEqual(order, ['long 0', 'short', 'long 1', 'long 2'], 'the short request ran at the first pause, not after the long task');
  // With nobody waiting, a pause returns at once and the queue ends free.
  assert.equal(await q.run(async () => {
    await q.pause();
    return 1;
  }), 1);
  assert.equal(q.depth, 0);
});

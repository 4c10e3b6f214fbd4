/**
 * The KV cache written in place (src/model/kvCache.ts): its buffers against a
 * plain per-(row, head) list of positions kept beside it, through appends,
 * growth past a chunk, rows leaving and rows copied out; and generation past
 * a chunk boundary (where the cache grows) against full forwards, alone and
 * in a batch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHUNK, KvCache } from '../src/model/kvCache.ts';
import { loadModel } from '../src/model/load.ts';
import type { Tensor } from '../src/tensor/tensor.ts';
import { maxDiff, needsShared, tinyStories } from './helpers.ts';

const KV = 2;
const HD = 3;

/** A step's `new.0.key` for `rows` rows and `T` positions: distinct values naming (step, row, head, t, i). */
function fresh(step: number, rows: number, T: number): Record<string, Tensor<'float32'>> {
  const data = Float32Array.from({ length: rows * KV * T * HD }, (_, n) => step * 1e4 + n);
  return { 'new.0.key': { dtype: 'float32', shape: [rows, KV, T, HD], data } };
}

/** The filled positions of each (row, head) as the cache's feed holds them. */
function filledOf(kv: KvCache): number[][] {
  const t = kv.feeds()['past.0.key'] as Tensor<'float32'>;
  const [B, H, cap, hd] = t.shape;
  assert.deepEqual([B, H, hd], [kv.batch, KV, HD]);
  const out: number[][] = [];
  for (let r = 0; r < B * H; r++) out.push([...t.data.subarray(r * cap * hd, (r * cap + kv.filled) * hd)]);
  return out;
}

test('KV cache: appends land after the filled positions of each row and head, through growth, compaction and copying rows out', () => {
  let rows = 3;
  const kv = new KvCache(['past.0.key'], rows, KV, HD, 200);
  const want: number[][] = Array.from({ length: rows * KV }, () => []);
  const append = (step: number, T: number) => {
    const out = fresh(step, rows, T);
    kv.reserve(T);
    kv.append(out, T);
    for (let r = 0; r < rows * KV; r++) want[r].push(...out['new.0.key'].data.subarray(r * T * HD, (r + 1) * T * HD));
  };
  append(0, 40);
  assert.equal(kv.capacity, CHUNK);
  for (let s = 1; s <= 30; s++) append(s, 1); // past 64: the cache grows with 40 + 23 positions filled
  assert.equal(kv.filled, 70);
  assert.equal(kv.capacity, 2 * CHUNK);
  assert.deepEqual(filledOf(kv), want);
  // Row 1 leaves.
  kv.compact([0, 2]);
  want.splice(KV, KV);
  rows = 2;
  append(31, 1);
  assert.deepEqual(filledOf(kv), want);
  // Rows copied out (a shared prefill), with repeats.
  const copy = kv.gather([1, 1, 0], 200);
  assert.equal(copy.filled, kv.filled);
  assert.deepEqual(filledOf(copy), [...want.slice(KV, 2 * KV), ...want.slice(KV, 2 * KV), ...want.slice(0, KV)]);
  assert.throws(() => kv.reserve(200), /exceeds its longest/);
});

test('on TinyStories-656K: generation past a chunk of the cache equals full forwards at every step, alone and in a batch', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const V = model.spec.dVocab;
  const check = async (prompt: readonly number[], ids: readonly number[], logits: readonly Float32Array[], what: string) => {
    const all = [...prompt, ...ids];
    assert.ok(all.length > CHUNK + 8, `${what}: ${all.length} positions run past the first chunk`);
    const full = (await model.run([all], { prependBos: false })).logits!.data;
    logits.forEach((l, s) => {
      const pos = prompt.length - 1 + s;
      const d = maxDiff(l, full.subarray(pos * V, (pos + 1) * V));
      assert.ok(d < 1e-4, `${what}, step ${s}: max |diff| ${d}`);
    });
  };
  const a = model.toTokens('Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog, and every day')[0];
  const b = model.toTokens('Tom had a red ball.')[0];
  const one = await model.generate(a, { maxNewTokens: 60, temperature: 0, stopAtEos: false, returnLogits: true });
  await check(a, one.ids, one.logits!, 'alone');
  const both = await model.generate([a, b], { maxNewTokens: 70, temperature: 0, stopAtEos: false, returnLogits: true, perRow: [{ maxNewTokens: 60 }, {}] });
  await check(a, both[0].ids, both[0].logits!, 'batch row 0');
  await check(b, both[1].ids, both[1].logits!, 'batch row 1');
  assert.deepEqual(both[0].ids, one.ids);
  await model.dispose();
});

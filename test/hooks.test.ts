/** The hook grammar: globs, natural order, per-architecture hook sets. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hookPoints, parseHookName } from '../src/hooks/points.ts';
import { resolveHooks } from '../src/hooks/resolve.ts';

const gpt2 = hookPoints({ nLayers: 12, learnedPositions: true, parallelResidual: false, gatedMlp: false });
const neox = hookPoints({ nLayers: 2, learnedPositions: false, parallelResidual: true, gatedMlp: false });

test('globs resolve once, naturally sorted', () => {
  const names = resolveHooks(['blocks.*.hook_resid_post'], gpt2).map((h) => h.name);
  assert.equal(names.length, 12);
  assert.deepEqual(names.slice(0, 3), ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_post']);
  assert.equal(names[11], 'blocks.11.hook_resid_post');
  assert.equal(resolveHooks(['blocks.3.attn.*'], gpt2).length, 5);
  assert.equal(resolveHooks(['blocks.**'], gpt2).length, 12 * 15);
  assert.equal(resolveHooks(['hook_embed', 'hook_embed', 'hook_*'], gpt2).length, 2);
});

test('hooks follow each architecture', () => {
  assert.ok(!neox.some((h) => h.name.endsWith('hook_resid_mid')), 'parallel residual has no resid_mid');
  assert.ok(!neox.some((h) => h.name === 'hook_pos_embed'));
  assert.ok(gpt2.some((h) => h.name === 'hook_pos_embed'));
  const llama = hookPoints({ nLayers: 1, learnedPositions: false, parallelResidual: false, gatedMlp: true });
  assert.ok(llama.some((h) => h.name === 'blocks.0.mlp.hook_pre_linear'));
  assert.deepEqual(gpt2.find((h) => h.name === 'blocks.0.attn.hook_pattern')!.shape, ['batch', 'nHeads', 'queryPos', 'keyPos']);
  gpt2.forEach((h, i) => assert.equal(h.order, i));
});

test('hook names parse into layer and local name', () => {
  assert.deepEqual(parseHookName('blocks.10.mlp.hook_post'), { layer: 10, local: 'mlp.hook_post' });
  assert.deepEqual(parseHookName('ln_final.hook_normalized'), { layer: -1, local: 'ln_final.hook_normalized' });
});

test('a glob that matches nothing is an error listing valid hooks', () => {
  assert.throws(() => resolveHooks(['blocks.*.hook_nothing'], gpt2), /unknown hook 'blocks\.\*\.hook_nothing'\. Valid hooks \(L = 0\.\.11\)/);
});

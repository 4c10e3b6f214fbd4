/** Bad input gets a clear error naming the file, tensor, hook or limit at fault. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.ts';
import { fixtures, tmpDir } from './helpers.ts';

const SRC = path.join(fixtures, 'tiny-gpt2');

/** A copy of the tiny gpt2 folder whose weights file is `bytes`. */
function withWeights(bytes: Buffer): string {
  const dir = tmpDir();
  fs.copyFileSync(path.join(SRC, 'config.json'), path.join(dir, 'config.json'));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), bytes);
  return dir;
}

function header(json: object, dataBytes: number): Buffer {
  const h = Buffer.from(JSON.stringify(json));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, Buffer.alloc(dataBytes)]);
}

test('a truncated safetensors file names the file and the tensor', async () => {
  const full = fs.readFileSync(path.join(SRC, 'model.safetensors'));
  const dir = withWeights(full.subarray(0, full.length - 100));
  await assert.rejects(loadModel(dir), (e: Error) => /model\.safetensors: truncated or corrupt: tensor '.+' data_offsets .* run past the end/.test(e.message));
});

test('a file shorter than its header length is reported as truncated', async () => {
  const full = fs.readFileSync(path.join(SRC, 'model.safetensors'));
  const dir = withWeights(full.subarray(0, 100));
  await assert.rejects(loadModel(dir), /model\.safetensors: truncated or corrupt safetensors file: header length \d+ runs past the end/);
});

test('header offsets past the end of the file are caught before reading', () => {
  const dir = withWeights(header({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, x: { dtype: 'F32', shape: [4], data_offsets: [16, 32] } }, 16));
  assert.throws(() => SafetensorsFile.open(path.join(dir, 'model.safetensors')), /tensor 'x' data_offsets \[16, 32\] run past the end of the file \(16 data bytes\)/);
});

test('a corrupt header (not JSON, wrong sizes, bad dtype) is named', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'x.safetensors');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(5n);
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from('{oops')]));
  assert.throws(() => SafetensorsFile.open(file), /x\.safetensors: corrupt safetensors header \(not UTF-8 JSON/);
  fs.writeFileSync(file, header({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, 16));
  assert.throws(() => SafetensorsFile.open(file), /tensor 'w' spans 16 bytes but F32 \[3\] needs 12/);
  fs.writeFileSync(file, header({ w: { dtype: 'Q4', shape: [4], data_offsets: [0, 16] } }, 16));
  assert.throws(() => SafetensorsFile.open(file), /tensor 'w' has unsupported dtype "Q4"/);
});

test('a missing tensor is named', async () => {
  const w = SafetensorsFile.open(path.join(SRC, 'model.safetensors')).readAll();
  delete w['h.1.mlp.c_fc.weight'];
  const dir = tmpDir();
  fs.copyFileSync(path.join(SRC, 'config.json'), path.join(dir, 'config.json'));
  writeSafetensors(path.join(dir, 'model.safetensors'), w);
  await assert.rejects(loadModel(dir), /missing tensor 'h\.1\.mlp\.c_fc\.weight' \(for W_in of block 1\)/);
});

test('an unknown model_type lists the supported ones', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'bert' }));
  await assert.rejects(loadModel(dir), /config\.json: unknown model_type "bert" \(supported: gpt2, gpt_neox, llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3_text\)/);
});

test('an unknown hook name lists the valid ones', async () => {
  const model = await loadModel(SRC);
  await assert.rejects(model.run([[1, 2, 3]], { cache: ['blocks.0.hook_resid_prex'] }), (e: Error) =>
    e.message.includes("unknown hook 'blocks.0.hook_resid_prex'") && e.message.includes('blocks.{L}.hook_resid_pre') && e.message.includes('ln_final.hook_normalized'));
  await assert.rejects(model.run([[1, 2, 3]], { cache: ['blocks.7.hook_resid_post'] }), /unknown hook 'blocks\.7\.hook_resid_post'.*L = 0\.\.1/);
  await assert.rejects(model.run([[1, 2, 3]], { interventions: [{ kind: 'add', hook: 'blocks.0.nope', vector: new Float32Array(32) }] }), /unknown hook 'blocks\.0\.nope'/);
});

test('a token id outside the vocabulary is named with its position', async () => {
  const model = await loadModel(SRC);
  await assert.rejects(model.run([[1, 2, 128]]), /token id 128 at sequence 0, position 2 is outside the vocabulary \[0, 128\)/);
  await assert.rejects(model.run([[1, -1]]), /token id -1/);
});

test('a prompt longer than the context is refused, naming the limit', async () => {
  const model = await loadModel(SRC);
  const long = Array.from({ length: 65 }, () => 3);
  await assert.rejects(model.run([long]), /65 tokens, longer than the model's context of 64/);
  await assert.rejects(model.generate(long, { maxNewTokens: 1 }), /longer than the model's context of 64/);
  const r = await model.generate(long.slice(0, 60), { maxNewTokens: 10, temperature: 0, stopAtEos: false });
  assert.equal(r.ids.length, 4);
  assert.equal(r.stopReason, 'context');
});

test('empty input and misshapen interventions are refused', async () => {
  const model = await loadModel(SRC);
  await assert.rejects(model.run([[]]), /sequence 0 is empty/);
  await assert.rejects(model.run([[1, 2]], { interventions: [{ kind: 'add', hook: 'blocks.0.hook_resid_post', vector: new Float32Array(5) }] }), /has 5 elements, expected 32/);
  await assert.rejects(model.run([[1, 2]], { interventions: [{ kind: 'add', hook: 'blocks.0.hook_resid_post', vector: new Float32Array(32).fill(NaN) }] }), /contains NaN/);
  const bad = { dtype: 'float32' as const, shape: [1, 3, 32], data: new Float32Array(96) };
  await assert.rejects(model.run([[1, 2]], { interventions: [{ kind: 'replace', hook: 'blocks.0.hook_resid_post', value: bad }] }), /shape \[1, 3, 32\], expected \[1, 2, 32\]/);
});

test('NaN in the weights is named at load', async () => {
  const w = SafetensorsFile.open(path.join(SRC, 'model.safetensors')).readAll();
  w['h.0.attn.c_proj.weight'].data[3] = NaN;
  const dir = tmpDir();
  fs.copyFileSync(path.join(SRC, 'config.json'), path.join(dir, 'config.json'));
  writeSafetensors(path.join(dir, 'model.safetensors'), w);
  const model = await loadModel(dir);
  await assert.rejects(model.run([[1, 2]]), /tensor 'h\.0\.attn\.c_proj\.weight' contains NaN at element 3/);
});

/** Loading: F16/BF16 weights, sharded checkpoints, the HF cache layout, llama2.c files. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.ts';
import { bf16Into, halfToFloat } from '../src/tensor/halfFloat.ts';
import { f32ToBf16, f32ToHalf } from './halfFloat.ts';
import type { Tensor } from '../src/tensor/tensor.ts';
import { Llama2cTokenizer } from '../src/tokenizer/llama2cTokenizer.ts';
import { execFileSync } from 'node:child_process';
import { Rng } from '../src/tensor/random.ts';
import { fixtures, maxDiff, needsShared, tinyStories, tmpDir, torchSkip } from './helpers.ts';


const TOKENS = [[5, 17, 99, 3, 64, 127, 0, 42], [12, 1, 2, 3, 4, 5, 6, 7]];

const readAll = (file: string) => SafetensorsFile.open(file).readAll();

/** Writes tensors in a 16-bit dtype (safetensors layout by hand). */
function write16(file: string, tensors: Record<string, Tensor<'float32'>>, dtype: 'F16' | 'BF16'): void {
  const header: Record<string, unknown> = {};
  const parts: Buffer[] = [];
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const u = Uint16Array.from(t.data, (x) => (dtype === 'F16' ? f32ToHalf(x) : f32ToBf16(x)));
    header[name] = { dtype, shape: t.shape, data_offsets: [off, off + u.byteLength] };
    parts.push(Buffer.from(u.buffer));
    off += u.byteLength;
  }
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  fs.writeFileSync(file, Buffer.concat([len, h, ...parts]));
}

for (const dtype of ['F16', 'BF16'] as const) {
  test(`${dtype} weights load and compute in f32`, async () => {
    const src = path.join(fixtures, 'tiny-gpt2');
    const w = readAll(path.join(src, 'model.safetensors'));
    const half = tmpDir();
    const rounded = tmpDir();
    for (const d of [half, rounded]) fs.copyFileSync(path.join(src, 'config.json'), path.join(d, 'config.json'));
    write16(path.join(half, 'model.safetensors'), w, dtype);
    const round = (x: number) => (dtype === 'F16' ? halfToFloat(f32ToHalf(x)) : widenBf16(f32ToBf16(x)));
    const r: Record<string, Tensor<'float32'>> = {};
    for (const [k, t] of Object.entries(w)) r[k] = { ...t, data: t.data.map(round) };
    writeSafetensors(path.join(rounded, 'model.safetensors'), r);
    const a = await (await loadModel(half)).run(TOKENS);
    const b = await (await loadModel(rounded)).run(TOKENS);
    const exact = await (await loadModel(src)).run(TOKENS);
    assert.ok(maxDiff(a.logits!.data, b.logits!.data) < 1e-6);
    assert.ok(maxDiff(a.logits!.data, exact.logits!.data) > 0, 'rounding had an effect, so the test can tell dtypes apart');
  });
}

test('sharded checkpoints with model.safetensors.index.json load', async () => {
  const src = path.join(fixtures, 'tiny-llama');
  const w = readAll(path.join(src, 'model.safetensors'));
  const dir = tmpDir();
  fs.copyFileSync(path.join(src, 'config.json'), path.join(dir, 'config.json'));
  const names = Object.keys(w);
  const shards = [names.slice(0, names.length / 2), names.slice(names.length / 2)];
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(path.join(dir, file), Object.fromEntries(s.map((n) => [n, w[n]])));
    for (const n of s) weightMap[n] = file;
  });
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const a = await (await loadModel(dir)).run(TOKENS);
  const b = await (await loadModel(src)).run(TOKENS);
  assert.equal(maxDiff(a.logits!.data, b.logits!.data), 0);
});

test('a shard index must match its shards exactly: each disagreement, a path out of the folder and a null index are named', async () => {
  const src = path.join(fixtures, 'tiny-llama');
  const w = readAll(path.join(src, 'model.safetensors'));
  const names = Object.keys(w);
  const half = names.length / 2;
  /** Writes two shards (optionally altered) and an index; returns the folder. */
  const build = (o: { index?: unknown; second?: string[]; extra?: boolean; map?: (m: Record<string, string>) => void } = {}) => {
    const dir = tmpDir();
    fs.copyFileSync(path.join(src, 'config.json'), path.join(dir, 'config.json'));
    const parts = [names.slice(0, half), o.second ?? names.slice(half)];
    const map: Record<string, string> = {};
    parts.forEach((s, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(path.join(dir, file), Object.fromEntries(s.map((n) => [n, w[n]])));
      for (const n of s) map[n] ??= file;
    });
    if (o.extra) writeSafetensors(path.join(dir, 'model-00003-of-00003.safetensors'), { stray: w[names[0]] });
    o.map?.(map);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(o.index !== undefined ? o.index : { weight_map: map }));
    return dir;
  };
  await assert.rejects(loadModel(build({ second: [...names.slice(half), names[0]] })), /tensor '.*' is in both model-00001-of-00002\.safetensors and model-00002-of-00002\.safetensors/);
  await assert.rejects(loadModel(build({ map: (m) => { m[names[0]] = 'model-00002-of-00002.safetensors'; } })), /weight_map puts '.*' in model-00002-of-00002\.safetensors, but it is in model-00001-of-00002\.safetensors/);
  await assert.rejects(loadModel(build({ extra: true })), /shard model-00003-of-00003\.safetensors lies in the folder but the index does not list it/);
  await assert.rejects(loadModel(build({ map: (m) => { delete m[names[1]]; } })), /tensor '.*' of model-00001-of-00002\.safetensors is missing from weight_map/);
  await assert.rejects(loadModel(build({ map: (m) => { m[names[0]] = '../outside.safetensors'; } })), /maps to "\.\.\/outside\.safetensors", not a \.safetensors file name in the folder/);
  await assert.rejects(loadModel(build({ index: null })), /model\.safetensors\.index\.json: no weight_map object/);
  await assert.rejects(loadModel(build({ map: (m) => { m.ghost = 'model-00001-of-00002.safetensors'; } })), /weight_map puts 'ghost' in model-00001-of-00002\.safetensors, but no shard has it/);
});

test('HF ids resolve from the local HF cache layout', async () => {
  const cache = tmpDir();
  const snap = path.join(cache, 'models--tiny-org--tiny-gpt2', 'snapshots', 'abc123');
  fs.mkdirSync(snap, { recursive: true });
  for (const f of ['config.json', 'model.safetensors']) fs.symlinkSync(path.join(fixtures, 'tiny-gpt2', f), path.join(snap, f));
  fs.mkdirSync(path.join(cache, 'models--tiny-org--tiny-gpt2', 'refs'));
  fs.writeFileSync(path.join(cache, 'models--tiny-org--tiny-gpt2', 'refs', 'main'), 'abc123');
  const m = await loadModel('tiny-org/tiny-gpt2', { cacheDir: cache, offline: true });
  assert.equal(m.spec.modelType, 'gpt2');
  await assert.rejects(loadModel('tiny-org/absent', { cacheDir: cache, offline: true }), /not in the HF cache/);
});

/**
 * llama2.c's export.py (`permute_reverse`): HF's q/k rows of each head, in
 * rotate-half order [2, hd/2], viewed as [heads, 2, hd/2, cols], transposed
 * to [heads, hd/2, 2, cols]: the interleaved pairs llama2.c's run.c rotates.
 * Written here from that reshape, independently of saescope's reader.
 */
function interleaveLikeExportPy(t: Tensor<'float32'>, heads: number): Tensor<'float32'> {
  const [rows, cols] = t.shape;
  const half = rows / heads / 2;
  const out = new Float32Array(t.data.length);
  // out[h, i, j, :] = in[h, j, i, :]
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = ((h * 2 + j) * half + i) * cols;
        const to = ((h * half + i) * 2 + j) * cols;
        out.set(t.data.subarray(from, from + cols), to);
      }
    }
  }
  return { ...t, data: out };
}

/** One BF16 value widened by saescope's reader. */
function widenBf16(bits: number): number {
  const out = new Float32Array(1);
  bf16Into(Uint16Array.of(bits), out, 0);
  return out[0];
}

/** Writes HF Llama weights as a llama2.c checkpoint (legacy or version 1). */
function writeLlama2c(file: string, version: 0 | 1, w: Record<string, Tensor<'float32'>>, cfg: Record<string, number>): void {
  const L = cfg.num_hidden_layers;
  const H = cfg.num_attention_heads;
  const KV = cfg.num_key_value_heads;
  const d = cfg.hidden_size;
  const emb = w['model.embed_tokens.weight'] ?? w['lm_head.weight'];
  const layer = (n: string) => Array.from({ length: L }, (_, l) => w[`model.layers.${l}.${n}`]);
  const q = layer('self_attn.q_proj.weight').map((t) => interleaveLikeExportPy(t, H));
  const k = layer('self_attn.k_proj.weight').map((t) => interleaveLikeExportPy(t, KV));
  const ints = [d, cfg.intermediate_size, L, H, KV, cfg.vocab_size, cfg.max_position_embeddings];
  const parts: Float32Array[] = [];
  let header: Buffer;
  if (version === 1) {
    header = Buffer.alloc(256);
    header.writeUInt32LE(0x616b3432, 0);
    header.writeInt32LE(1, 4);
    ints.forEach((x, i) => header.writeInt32LE(x, 8 + 4 * i));
    header[36] = 1;
    parts.push(...layer('input_layernorm.weight').map((t) => t.data), ...layer('post_attention_layernorm.weight').map((t) => t.data));
    parts.push(w['model.norm.weight'].data, emb.data, ...q.map((t) => t.data), ...k.map((t) => t.data));
    parts.push(...layer('self_attn.v_proj.weight').map((t) => t.data), ...layer('self_attn.o_proj.weight').map((t) => t.data));
    parts.push(...layer('mlp.gate_proj.weight').map((t) => t.data), ...layer('mlp.down_proj.weight').map((t) => t.data), ...layer('mlp.up_proj.weight').map((t) => t.data));
  } else {
    header = Buffer.alloc(28);
    ints.forEach((x, i) => header.writeInt32LE(x, 4 * i));
    parts.push(emb.data, ...layer('input_layernorm.weight').map((t) => t.data), ...q.map((t) => t.data), ...k.map((t) => t.data));
    parts.push(...layer('self_attn.v_proj.weight').map((t) => t.data), ...layer('self_attn.o_proj.weight').map((t) => t.data));
    parts.push(...layer('post_attention_layernorm.weight').map((t) => t.data));
    parts.push(...layer('mlp.gate_proj.weight').map((t) => t.data), ...layer('mlp.down_proj.weight').map((t) => t.data), ...layer('mlp.up_proj.weight').map((t) => t.data));
    parts.push(w['model.norm.weight'].data, new Float32Array(cfg.max_position_embeddings * (d / H)));
  }
  fs.writeFileSync(file, Buffer.concat([header, ...parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))]));
}

for (const version of [0, 1] as const) {
  test(`llama2.c checkpoints (${version === 0 ? 'legacy' : 'versioned'} header) run like the HF model`, { skip: needsShared() }, async () => {
    const w = readAll(path.join(tinyStories, 'model.safetensors'));
    const cfg = JSON.parse(fs.readFileSync(path.join(tinyStories, 'config.json'), 'utf8'));
    const dir = tmpDir();
    const file = path.join(dir, 'stories.bin');
    writeLlama2c(file, version, w, cfg);
    const m = await loadModel(file);
    assert.equal(m.tokenizer, undefined);
    const ids = [[1, 80, 147, 201, 282, 57, 8, 1137, 117, 1513]];
    const a = await m.run(ids, { cache: ['blocks.1.attn.hook_q'] });
    // llama2.c's RMSNorm epsilon is 1e-5; compare with the HF model at that epsilon.
    const hf = tmpDir();
    fs.symlinkSync(path.join(tinyStories, 'model.safetensors'), path.join(hf, 'model.safetensors'));
    fs.writeFileSync(path.join(hf, 'config.json'), JSON.stringify({ ...cfg, rms_norm_eps: 1e-5 }));
    const b = await (await loadModel(hf)).run(ids, { cache: ['blocks.1.attn.hook_q'] });
    assert.ok(maxDiff(a.logits!.data, b.logits!.data) < 1e-4);
    assert.ok(maxDiff(a.cache['blocks.1.attn.hook_q'].data, b.cache['blocks.1.attn.hook_q'].data) < 1e-5);
  });
}

test('llama2.c tokenizer.bin: merges by score, byte fallback, BOS and decoding', () => {
  const pieces = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)];
  const singles = [' ', ...'abcdefghijklmnopqrstuvwxyz'];
  const merges = [' t', 'he', 'th', ' th', ' the'];
  const all = [...pieces, ...singles, ...merges];
  const scores = all.map((p) => (merges.includes(p) ? -1 - merges.indexOf(p) : -1000));
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'tokenizer.bin'), new Llama2cTokenizer(all, scores).toBuffer());
  const tok = Llama2cTokenizer.fromFile(path.join(dir, 'tokenizer.bin'));
  const id = (p: string) => all.indexOf(p);
  assert.deepEqual(tok.encode('the cat'), [1, id(' the'), id(' '), id('c'), id('a'), id('t')]);
  assert.equal(tok.decode(tok.encode('the cat')), 'the cat');
  const e = tok.encode('é', { bos: false });
  assert.deepEqual(e, [id(' '), 0xc3 + 3, 0xa9 + 3]);
  assert.equal(tok.decode([1, ...e.slice(1)]), 'é');
});

test('F16 and BF16 decode and round as torch does: bits and values from torch, not from saescope\'s half-float module', { skip: torchSkip() }, () => {
  // Ordinary values, ties, subnormals, overflow to infinity, signed zero, the largest finite values.
  const rng = new Rng(3);
  const values = [0, -0, 1, -1, 0.1, 1 / 3, 65504, 65520, 70000, -70000, 6e-8, 3e-8, 6.1e-5, 5.96e-8, 1e-40, 3.3895e38, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8,
    ...Array.from({ length: 200 }, () => rng.normal() * 10 ** rng.int(12) * 10 ** -6)].map((v) => Math.fround(v));
  const f32Bits = Array.from(new Uint32Array(Float32Array.from(values).buffer));
  const script = `
import json, sys, torch
bits = json.load(sys.stdin)
x = torch.tensor(bits, dtype=torch.int64).to(torch.int32).view(torch.float32)
out = {}
for name, dt in (("F16", torch.float16), ("BF16", torch.bfloat16)):
    h = x.to(dt)
    out[name] = {"bits": (h.view(torch.int16).to(torch.int64) & 0xFFFF).tolist(), "back": (h.to(torch.float32).view(torch.int32).to(torch.int64) & 0xFFFFFFFF).tolist()}
print(json.dumps(out))`;
  const ref = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(f32Bits.map((b) => (b | 0))), encoding: 'utf8' })) as Record<'F16' | 'BF16', { bits: number[]; back: number[] }>;
  for (const dtype of ['F16', 'BF16'] as const) {
    const { bits, back } = ref[dtype];
    // Encoding: saescope rounds each float32 to the same 16 bits as torch.
    const mine = values.map((v) => (dtype === 'F16' ? f32ToHalf(v) : f32ToBf16(v)));
    mine.forEach((b, i) => assert.equal(b, bits[i], `${dtype} bits of ${values[i]}`));
    // Decoding: a file of torch's bits reads back to torch's float32 values, bit for bit.
    const file = path.join(tmpDir(), 'h.safetensors');
    const data = Buffer.from(Uint16Array.from(bits).buffer);
    const header = Buffer.from(JSON.stringify({ t: { dtype, shape: [bits.length], data_offsets: [0, data.length] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    fs.writeFileSync(file, Buffer.concat([len, header, data]));
    const read = new Uint32Array(SafetensorsFile.open(file).readF32('t').data.buffer.slice(0));
    read.forEach((b, i) => assert.equal(b >>> 0, back[i] >>> 0, `${dtype} value of bits ${bits[i].toString(16)}`));
  }
});

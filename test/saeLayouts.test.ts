/**
 * Every SAE layout people publish reads with the meaning its trainer gives
 * it. SAELens references are to SAELens 6.18.0 (jbloomAus/SAELens 91ca16c):
 * sae_lens/loading/pretrained_sae_loaders.py (handle_pre_6_0_config :216-264,
 * the normalize_activations booleans :243-254, Gemma Scope :373-522, Llama
 * Scope :526-651), sae_lens/saes/sae.py (fold_activation_norm_scaling_factor
 * :287-291, run-time normalizations :297-332, the v6 marker :553-558,
 * hook_z reshape :366-371), sae_lens/saes/topk_sae.py (rescale_acts_by_decoder_norm
 * :150, :247-263), sae_lens/saes/batchtopk_sae.py (topk_threshold :99-125).
 * numpy's .npy layout: numpy/lib/format.py (magic, version 1.0 header
 * padded to a multiple of 64, dict with descr/fortran_order/shape);
 * np.savez writes stored zip members with zip64 extras (force_zip64).
 * sparsify: EleutherAI/sparsify sparsify/sparse_coder.py (encoder Linear
 * [n, d], W_dec [n, d], x - b_dec, ReLU, top k).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { writeSafetensors } from '../src/io/safetensors.ts';
import { loadSae } from '../src/sae/load.ts';
import { saveSae } from '../src/sae/saelensFormat.ts';
import { Sae } from '../src/sae/sae.ts';
import { denseFromCodes } from '../src/sae/codes.ts';
import { Rng } from '../src/tensor/random.ts';
import { checkSaeFitsModel } from '../src/sae/compat.ts';
import { loadModel } from '../src/model/load.ts';
import { fixtures, maxDiff, root, tmpDir } from './helpers.ts';

type T = { dtype: 'float32'; shape: number[]; data: Float32Array };
const t = (shape: number[], data: Float32Array): T => ({ dtype: 'float32', shape, data });

function randn(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

/** Random SAELens-layout weights. */
function weights(dIn: number, dSae: number, seed: number, decScale?: (i: number) => number): Record<string, T> {
  const rng = new Rng(seed);
  const W_dec = randn(rng, dSae * dIn);
  if (decScale) for (let i = 0; i < dSae; i++) for (let j = 0; j < dIn; j++) W_dec[i * dIn + j] *= decScale(i);
  return {
    W_enc: t([dIn, dSae], randn(rng, dIn * dSae)),
    b_enc: t([dSae], randn(rng, dSae, 0.2)),
    W_dec: t([dSae, dIn], W_dec),
    b_dec: t([dIn], randn(rng, dIn, 0.3)),
  };
}

/** hidden_pre = (x - b_dec?) @ W_enc + b_enc, row by row (float64). */
function hiddenPre(x: Float32Array, n: number, w: Record<string, T>, applyBDec: boolean): Float64Array[] {
  const [dIn, dSae] = w.W_enc.shape;
  return Array.from({ length: n }, (_, r) => {
    const out = new Float64Array(dSae);
    for (let i = 0; i < dSae; i++) {
      let s = w.b_enc.data[i];
      for (let j = 0; j < dIn; j++) s += (x[r * dIn + j] - (applyBDec ? w.b_dec.data[j] : 0)) * w.W_enc.data[j * dSae + i];
      out[i] = s;
    }
    return out;
  });
}

function topk(row: Float64Array, k: number): Float64Array {
  const idx = [...row.keys()].sort((a, b) => row[b] - row[a]).slice(0, k);
  const out = new Float64Array(row.length);
  for (const i of idx) out[i] = Math.max(0, row[i]);
  return out;
}

function decode(acts: Float64Array[], w: Record<string, T>): Float64Array[] {
  const [dSae, dIn] = w.W_dec.shape;
  return acts.map((a) => {
    const out = Float64Array.from(w.b_dec.data);
    for (let i = 0; i < dSae; i++) if (a[i] !== 0) for (let j = 0; j < dIn; j++) out[j] += a[i] * w.W_dec.data[i * dIn + j];
    return out;
  });
}

const flat = (rows: Float64Array[]) => Float64Array.from(rows.flatMap((r) => [...r]));

async function dense(sae: Sae, x: Float32Array, n: number): Promise<Float32Array> {
  return denseFromCodes(await sae.encode(t([n, sae.cfg.dIn], x)), sae.cfg.dSae);
}

function saelensFolder(cfg: Record<string, unknown>, w: Record<string, T>, extraFiles: Record<string, string> = {}): string {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify(cfg));
  writeSafetensors(path.join(dir, 'sae_weights.safetensors'), w);
  for (const [f, text] of Object.entries(extraFiles)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

const D = 6;
const S = 10;
const N = 5;
const X = randn(new Rng(99), N * D, 2);
const v6 = (over: Record<string, unknown> = {}) => ({
  architecture: 'topk', d_in: D, d_sae: S, k: 3, dtype: 'float32', apply_b_dec_to_input: true, normalize_activations: 'none',
  metadata: { sae_lens_version: '6.18.0', model_name: 'gpt2', hook_name: 'blocks.0.hook_resid_post', hook_head_index: null, context_size: 128, prepend_bos: true, dataset_path: '' },
  ...over,
});

test('rescale_acts_by_decoder_norm: a SAELens topk checkpoint picks the latents SAELens picks', async () => {
  const w = weights(D, S, 1, (i) => 0.25 + (1.5 * i) / S);
  const sae = loadSae(saelensFolder(v6({ rescale_acts_by_decoder_norm: true }), w));
  const norms = Array.from({ length: S }, (_, i) => Math.hypot(...w.W_dec.data.subarray(i * D, (i + 1) * D)));
  // SAELens (topk_sae.py:247-263): top k of hidden_pre * ||W_dec_i||, ReLU, then decode with acts / ||W_dec_i||.
  const acts = hiddenPre(X, N, w, true).map((r) => topk(r.map((v, i) => v * norms[i]), 3));
  const recon = decode(acts.map((a) => a.map((v, i) => v / norms[i])), w);
  assert.ok(maxDiff(await dense(sae, X, N), flat(acts)) < 1e-4, 'feature activations');
  assert.ok(maxDiff((await sae.reconstruct(t([N, D], X))).data, flat(recon)) < 1e-4, 'reconstruction');
  assert.match(sae.origin.folds.join(), /decoder norms folded/);
});

test('pre-v5 and v5 topk layouts read as topk; other activation functions are refused', async () => {
  const w = weights(D, S, 2);
  const want = flat(hiddenPre(X, N, w, true).map((r) => topk(r, 4)));
  const pre5 = { architecture: 'standard', d_in: D, d_sae: S, activation_fn_str: 'topk', activation_fn_kwargs: { k: 4 }, hook_point: 'blocks.0.hook_resid_post', model_name: 'gpt2' };
  const a = loadSae(saelensFolder(pre5, w));
  assert.equal(a.cfg.architecture, 'topk');
  assert.equal(a.cfg.k, 4);
  assert.ok(maxDiff(await dense(a, X, N), want) < 1e-4);
  const b = loadSae(saelensFolder({ architecture: 'topk', d_in: D, d_sae: S, activation_fn_kwargs: { k: 4 }, hook_name: 'blocks.0.hook_resid_post' }, w));
  assert.ok(maxDiff(await dense(b, X, N), want) < 1e-4);
  assert.throws(() => loadSae(saelensFolder({ ...pre5, activation_fn_str: 'tanh-relu' }, w)), /activation_fn 'tanh-relu' is not supported/);
  assert.throws(() => loadSae(saelensFolder({ ...v6(), architecture: 'gated' }, w)), /'gated' is not supported/);
});

// SAELens's Gemma Scope 2 loader records the HF module the SAE read as metadata.hf_hook_name
// (sae_lens/loading/pretrained_sae_loaders.py, the gemma_3 loader: "hf_hook_name": raw_cfg.get("hf_hook_point_in")).
test('hf_hook_name: an HF module path decides the hook; one that names no TL hook is refused without hook_name', () => {
  const w = weights(D, S, 5);
  const withHf = (hf: string, hook?: string) => ({ ...v6(), metadata: { sae_lens_version: '6.18.0', model_name: 'google/gemma-2-2b', hf_hook_name: hf, ...(hook ? { hook_name: hook } : {}) } });
  assert.equal(loadSae(saelensFolder(withHf('model.layers.5.output'), w)).cfg.hookName, 'blocks.5.hook_resid_post');
  assert.equal(loadSae(saelensFolder(withHf('model.layers.3.self_attn.o_proj.input'), w)).cfg.hookName, 'blocks.3.attn.hook_z');
  const mlp = loadSae(saelensFolder(withHf('model.layers.2.post_feedforward_layernorm.output', 'blocks.2.hook_mlp_in'), w));
  assert.equal(mlp.cfg.hookName, 'blocks.2.hook_mlp_out');
  assert.match(mlp.origin.folds.join(), /hf_hook_name model\.layers\.2\.post_feedforward_layernorm\.output read as blocks\.2\.hook_mlp_out \(hook_name blocks\.2\.hook_mlp_in set aside\)/);
  // The pre-MLP norm's output is what the MLP reads: saescope's mlp.hook_in (TL's hook_mlp_in is before the norm).
  assert.equal(loadSae(saelensFolder(withHf('model.layers.2.pre_feedforward_layernorm.output', 'blocks.2.hook_mlp_in'), w)).cfg.hookName, 'blocks.2.mlp.hook_in');
  // A module with no TL equivalent: hook_name stands when given, else a named error.
  assert.equal(loadSae(saelensFolder(withHf('model.layers.2.self_attn.q_norm.output', 'blocks.2.attn.hook_q'), w)).cfg.hookName, 'blocks.2.attn.hook_q');
  assert.throws(() => loadSae(saelensFolder(withHf('model.layers.2.self_attn.q_norm.output'), w)), /hf_hook_name 'model\.layers\.2\.self_attn\.q_norm\.output' names no TransformerLens hook.*pass --hook/);
});

test('expected_average_only_in: activation_scaler.json is folded in; without it the scale is asked for', async () => {
  const w = weights(D, S, 3);
  const s = 0.37;
  const cfg = v6({ architecture: 'standard', k: undefined, normalize_activations: 'expected_average_only_in' });
  const sae = loadSae(saelensFolder(cfg, w, { 'activation_scaler.json': JSON.stringify({ scaling_factor: s }) }));
  // SAELens: the SAE sees x * s and its output is divided by s.
  const xs = X.map((v) => v * s);
  const acts = hiddenPre(xs, N, w, true).map((r) => r.map((v) => Math.max(0, v)));
  const recon = decode(acts, w).map((r) => r.map((v) => v / s));
  assert.ok(maxDiff(await dense(sae, X, N), flat(acts)) < 1e-4);
  assert.ok(maxDiff((await sae.reconstruct(t([N, D], X))).data, flat(recon)) < 1e-4);
  const bare = saelensFolder(cfg, w);
  assert.throws(() => loadSae(bare), /no activation_scaler\.json; pass the scale .*--norm-scale/);
  assert.ok(maxDiff(await dense(loadSae(bare, { normScalingFactor: s }), X, N), flat(acts)) < 1e-4);
  // The old boolean means the same (pretrained_sae_loaders.py:243-254).
  assert.equal(loadSae(saelensFolder({ ...cfg, normalize_activations: false }, w)).cfg.normalizeActivations, 'none');
});

test('constant_norm_rescale and layer_norm run per row and are undone on the reconstruction', async () => {
  const w = weights(D, S, 4);
  for (const norm of ['constant_norm_rescale', 'layer_norm'] as const) {
    const sae = loadSae(saelensFolder(v6({ architecture: 'standard', k: undefined, normalize_activations: norm }), w));
    const rows = Array.from({ length: N }, (_, r) => Float64Array.from(X.subarray(r * D, (r + 1) * D)));
    const stats = rows.map((r) => {
      if (norm === 'constant_norm_rescale') {
        const c = Math.sqrt(D) / Math.hypot(...r);
        return { x: r.map((v) => v * c), back: (y: Float64Array) => y.map((v) => v / c) };
      }
      const mu = r.reduce((a, b) => a + b) / D;
      const std = Math.sqrt(r.reduce((a, b) => a + (b - mu) ** 2, 0) / (D - 1));
      return { x: r.map((v) => (v - mu) / (std + 1e-5)), back: (y: Float64Array) => y.map((v) => v * std + mu) };
    });
    const xin = Float32Array.from(stats.flatMap((s) => [...s.x]));
    const acts = hiddenPre(xin, N, w, true).map((r) => r.map((v) => Math.max(0, v)));
    const recon = decode(acts, w).map((y, r) => stats[r].back(y));
    assert.ok(maxDiff(await dense(sae, X, N), flat(acts)) < 1e-4, `${norm}: activations`);
    assert.ok(maxDiff((await sae.reconstruct(t([N, D], X))).data, flat(recon)) < 1e-4, `${norm}: reconstruction`);
  }
});

test('centred residuals (model_from_pretrained_kwargs.center_writing_weights) subtract each row\'s mean first', async () => {
  const w = weights(D, S, 5);
  const meta = { ...v6().metadata, model_from_pretrained_kwargs: { center_writing_weights: true } };
  const sae = loadSae(saelensFolder(v6({ architecture: 'standard', k: undefined, metadata: meta }), w));
  assert.equal(sae.cfg.centerInput, true);
  const xc = Float32Array.from(X, (v, i) => {
    const r = Math.floor(i / D);
    return v - X.subarray(r * D, (r + 1) * D).reduce((a, b) => a + b) / D;
  });
  const acts = hiddenPre(xc, N, w, true).map((r) => r.map((v) => Math.max(0, v)));
  assert.ok(maxDiff(await dense(sae, X, N), flat(acts)) < 1e-4);
});

test('batchtopk checkpoints, scaling_factor, extra tensors and per-head SAEs', async () => {
  const w = weights(D, S, 6);
  const thr = { dtype: 'float32' as const, shape: [], data: Float32Array.of(0.3) };
  const bt = loadSae(saelensFolder(v6({ architecture: 'batchtopk' }), { ...w, topk_threshold: thr }));
  assert.equal(bt.cfg.architecture, 'jumprelu');
  const want = hiddenPre(X, N, w, true).map((r) => r.map((v) => (v > 0.3 ? v : 0)));
  assert.ok(maxDiff(await dense(bt, X, N), flat(want)) < 1e-4);
  const scale = Float32Array.from({ length: S }, (_, i) => 1 + i / 10);
  // SAELens 6.18 refuses a scaling_factor that is not all ones unless finetuning_scaling_factor is true (read_sae_components_from_disk).
  assert.throws(() => loadSae(saelensFolder(v6({ architecture: 'standard', k: undefined }), { ...w, scaling_factor: t([S], scale) })), /finetuning_scaling_factor is not true; SAELens 6\.18 refuses/);
  const sf = loadSae(saelensFolder(v6({ architecture: 'standard', k: undefined, finetuning_scaling_factor: true }), { ...w, scaling_factor: t([S], scale) }));
  const acts = hiddenPre(X, N, w, true).map((r) => r.map((v, i) => Math.max(0, v) * scale[i]));
  assert.ok(maxDiff((await sf.reconstruct(t([N, D], X))).data, flat(decode(acts, w))) < 1e-4, 'scaling_factor multiplies the latents');
  assert.throws(() => loadSae(saelensFolder(v6(), { ...w, W_skip: t([D, D], new Float32Array(D * D)) })), /unexpected SAE tensors W_skip/);
  const head = { ...v6().metadata, hook_name: 'blocks.0.attn.hook_z', hook_head_index: 3 };
  assert.throws(() => loadSae(saelensFolder(v6({ metadata: head }), w)), /hook_head_index 3: per-head SAEs/);
  // The pre-v5 name of the same field is read too, not ignored.
  assert.throws(() => loadSae(saelensFolder({ architecture: 'standard', d_in: D, d_sae: S, hook_point: 'blocks.0.attn.hook_z', hook_point_head_index: 2, dtype: 'float32' }, w)), /hook_head_index 2: per-head SAEs/);
});

test('saescope writes what SAELens needs: v6 marker, hook_z reshape, model kwargs, unknown metadata kept, only used tensors', () => {
  const w = weights(D, S, 7);
  const meta = { ...v6().metadata, hook_name: 'blocks.0.attn.hook_z', neuronpedia_id: 'gpt2-small/0-att-kk', seqpos_slice: [null] };
  const src = loadSae(saelensFolder(v6({ metadata: meta, exclude_special_tokens: true }), w));
  const dir = tmpDir();
  saveSae(src, dir);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'cfg.json'), 'utf8'));
  assert.equal(cfg.metadata.sae_lens_version, '6.18.0');
  assert.equal(cfg.reshape_activations, 'hook_z');
  assert.deepEqual(cfg.metadata.model_from_pretrained_kwargs, { center_writing_weights: false });
  assert.equal(cfg.metadata.neuronpedia_id, 'gpt2-small/0-att-kk');
  assert.deepEqual(cfg.metadata.seqpos_slice, [null]);
  assert.equal(cfg.metadata.exclude_special_tokens, true);
  const back = loadSae(dir);
  assert.equal(back.cfg.hookName, 'blocks.0.attn.hook_z');
  const q = new Sae({ ...src.cfg, hookName: 'blocks.0.attn.hook_q' }, src.weights);
  assert.throws(() => saveSae(q, tmpDir()), /SAELens reshapes only hook_z/);
});

// ---------------------------------------------------------------- Gemma Scope

/** One .npy file in numpy's format 1.0 (C order, header padded to 64 bytes). */
function npy(shape: number[], data: ArrayBufferView, descr = '<f4'): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + dict.length + 1) % 64);
  const header = `${dict}${' '.repeat(pad % 64)}\n`;
  const pre = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(pre);
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** A zip of stored members as np.savez writes it (local headers with zip64 extras, as force_zip64 does). */
function npz(members: Record<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(members)) {
    const fname = Buffer.from(`${name}.npy`);
    const crc = zlib.crc32(data);
    const extra = Buffer.alloc(20);
    extra.writeUInt16LE(1, 0);
    extra.writeUInt16LE(16, 2);
    extra.writeBigUInt64LE(BigInt(data.length), 4);
    extra.writeBigUInt64LE(BigInt(data.length), 12);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(45, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(0xffffffff, 18);
    local.writeUInt32LE(0xffffffff, 22);
    local.writeUInt16LE(fname.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(45, 4);
    cd.writeUInt16LE(45, 6);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(fname.length, 28);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, fname);
    parts.push(local, fname, extra, data);
    offset += local.length + fname.length + extra.length + data.length;
  }
  const cdBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(members).length, 8);
  end.writeUInt16LE(Object.keys(members).length, 10);
  end.writeUInt32LE(cdBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBuf, end]);
}

function gemmaScopeDir(w: Record<string, T>, threshold: Float32Array, release = 'gemma-scope-2b-pt-res', layer = 'layer_3'): string {
  const dir = path.join(tmpDir(), release, layer, 'width_16k', 'average_l0_7');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'params.npz'), npz({
    W_enc: npy(w.W_enc.shape, w.W_enc.data), W_dec: npy(w.W_dec.shape, w.W_dec.data),
    b_enc: npy(w.b_enc.shape, w.b_enc.data), b_dec: npy(w.b_dec.shape, w.b_dec.data), threshold: npy([S], threshold),
  }));
  return dir;
}

test('Gemma Scope params.npz loads and encodes like the same weights in SAELens format', async () => {
  const w = weights(D, S, 8);
  const threshold = Float32Array.from({ length: S }, (_, i) => 0.05 * i);
  const dir = gemmaScopeDir(w, threshold);
  const gs = loadSae(dir);
  assert.equal(gs.origin.format, 'gemma-scope');
  assert.equal(gs.cfg.hookName, 'blocks.3.hook_resid_post');
  assert.equal(gs.cfg.applyBDecToInput, false);
  assert.equal(gs.cfg.modelName, 'google/gemma-2-2b');
  const sl = loadSae(saelensFolder(v6({ architecture: 'jumprelu', k: undefined, apply_b_dec_to_input: false }), { ...w, threshold: t([S], threshold) }));
  assert.deepEqual(await dense(gs, X, N), await dense(sl, X, N));
  assert.deepEqual((await gs.reconstruct(t([N, D], X))).data, (await sl.reconstruct(t([N, D], X))).data);
  const mlp = gemmaScopeDir(w, threshold, 'gemma-scope-9b-it-mlp-canonical', 'layer_20');
  assert.equal(loadSae(mlp).cfg.hookName, 'blocks.20.hook_mlp_out');
  assert.equal(loadSae(gemmaScopeDir(w, threshold, 'gemma-scope-2b-pt-att', 'layer_0')).cfg.hookName, 'blocks.0.attn.hook_z');
  assert.equal(loadSae(path.join(mlp, 'params.npz'), { hook: 'blocks.1.hook_resid_pre' }).cfg.hookName, 'blocks.1.hook_resid_pre');
  // Embedding SAEs saw the unscaled embedding; TransformerLens's hook_embed has sqrt(d_model) in it (loaders :517-521).
  const emb = loadSae(gemmaScopeDir(w, threshold, 'gemma-scope-2b-pt-embeddings', 'width_4k'));
  assert.equal(emb.cfg.hookName, 'hook_embed');
  assert.ok(maxDiff(await dense(emb, X.map((v) => v * Math.sqrt(D)), N), await dense(sl, X, N)) < 1e-4);
});

test('a params.npz written by numpy itself (savez and savez_compressed) reads the same', { skip: spawnSync('/usr/bin/python3', ['-c', 'import numpy']).status !== 0 && 'needs /usr/bin/python3 with numpy' }, async () => {
  const w = weights(D, S, 9);
  const threshold = Float32Array.from({ length: S }, (_, i) => 0.03 * i);
  const ours = loadSae(gemmaScopeDir(w, threshold));
  // 'fortran': every matrix stored column-major, as numpy writes a transposed array (np.savez(W_enc=W_dec.T)).
  for (const fn of ['savez', 'savez_compressed', 'fortran']) {
    const dir = path.join(tmpDir(), 'gemma-scope-2b-pt-res', 'layer_3', 'width_16k', 'l0_7');
    fs.mkdirSync(dir, { recursive: true });
    const src = path.join(dir, 'src.safetensors');
    writeSafetensors(src, { ...w, threshold: t([S], threshold) });
    const py = `import json,struct,numpy as np,sys
f=open(sys.argv[1],'rb');n=struct.unpack('<Q',f.read(8))[0];h=json.loads(f.read(n));b=f.read()
a={k:np.frombuffer(b[v['data_offsets'][0]:v['data_offsets'][1]],dtype='<f4').reshape(v['shape']) for k,v in h.items() if k!='__metadata__'}
${fn === 'fortran' ? "a={k:(np.asfortranarray(v) if v.ndim==2 else v) for k,v in a.items()}\nassert a['W_enc'].flags.f_contiguous and not a['W_enc'].flags.c_contiguous\nnp.savez" : `np.${fn}`}(sys.argv[2],**a)`;
    execFileSync('/usr/bin/python3', ['-c', py, src, path.join(dir, 'params.npz')]);
    fs.rmSync(src);
    const theirs = loadSae(dir);
    assert.deepEqual(theirs.weights.W_enc.data, ours.weights.W_enc.data, fn);
    assert.deepEqual(await dense(theirs, X, N), await dense(ours, X, N), fn);
  }
});

test('bad params.npz: a missing array, a wrong shape, a non-float dtype, a truncated file', () => {
  const w = weights(D, S, 10);
  const th = new Float32Array(S);
  const write = (members: Record<string, Buffer>) => {
    const dir = path.join(tmpDir(), 'gemma-scope-2b-pt-res', 'layer_1');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'params.npz'), npz(members));
    return dir;
  };
  const ok = { W_enc: npy([D, S], w.W_enc.data), W_dec: npy([S, D], w.W_dec.data), b_enc: npy([S], w.b_enc.data), b_dec: npy([D], w.b_dec.data), threshold: npy([S], th) };
  const { threshold: _drop, ...noThreshold } = ok;
  assert.throws(() => loadSae(write(noThreshold)), /missing array 'threshold'/);
  assert.throws(() => loadSae(write({ ...ok, W_dec: npy([S, D - 1], w.W_dec.data.subarray(0, S * (D - 1))) })), /SAE tensor 'W_dec' has shape \[10, 5\], expected \[10, 6\]/);
  assert.throws(() => loadSae(write({ ...ok, b_enc: npy([S], Int32Array.from({ length: S }, () => 1), '<i4') })), /array 'b_enc': dtype '<i4' is not a little-endian float/);
  const dir = write(ok);
  const file = path.join(dir, 'params.npz');
  fs.truncateSync(file, fs.statSync(file).size - 40);
  assert.throws(() => loadSae(dir), /not a zip archive|truncated|past the end/);
});

// ---------------------------------------------------------------- sparsify, Llama Scope, pickles

test('a sparsify hookpoint folder encodes like the same SAE in SAELens format (W_dec not transposed)', async () => {
  const w = weights(D, S, 11);
  const dir = path.join(tmpDir(), 'layers.4');
  fs.mkdirSync(dir);
  const encT = new Float32Array(S * D);
  for (let j = 0; j < D; j++) for (let i = 0; i < S; i++) encT[i * D + j] = w.W_enc.data[j * S + i];
  writeSafetensors(path.join(dir, 'sae.safetensors'), { 'encoder.weight': t([S, D], encT), 'encoder.bias': w.b_enc, W_dec: w.W_dec, b_dec: w.b_dec });
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ expansion_factor: S / D, normalize_decoder: true, num_latents: S, k: 3, multi_topk: false, skip_connection: false, d_in: D }));
  const sp = loadSae(dir);
  assert.equal(sp.origin.format, 'sparsify');
  assert.equal(sp.cfg.hookName, 'blocks.4.hook_resid_post');
  const sl = loadSae(saelensFolder(v6(), w));
  assert.deepEqual(await dense(sp, X, N), await dense(sl, X, N));
  assert.ok(maxDiff((await sp.reconstruct(t([N, D], X))).data, (await sl.reconstruct(t([N, D], X))).data) < 1e-6);
  assert.throws(() => loadSae(path.dirname(dir)), /a sparsify run with 1 hookpoints; give one of its folders: layers\.4/);
  // A transcoder on the residual stream (a whole layer's input to its output) has no input hook here.
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ k: 3, transcode: true }));
  assert.throws(() => loadSae(dir), /saescope reads transcoders on MLP hookpoints/);
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ k: 3, multi_topk: true }));
  assert.throws(() => loadSae(dir), /'multi_topk' SAEs are not supported/);
});

test('a Llama Scope folder loads with the dataset norm folded as SAELens folds it', async () => {
  const w = weights(D, S, 12);
  const dir = tmpDir();
  fs.mkdirSync(path.join(dir, 'checkpoints'));
  const tr = (m: T) => {
    const [a, b] = m.shape;
    const out = new Float32Array(a * b);
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[j * a + i] = m.data[i * b + j];
    return t([b, a], out);
  };
  writeSafetensors(path.join(dir, 'checkpoints', 'final.safetensors'), { 'encoder.weight': tr(w.W_enc), 'encoder.bias': w.b_enc, 'decoder.weight': tr(w.W_dec), 'decoder.bias': w.b_dec });
  const norm = 4.5;
  fs.writeFileSync(path.join(dir, 'hyperparams.json'), JSON.stringify({ d_model: D, d_sae: S, hook_point_in: 'blocks.2.hook_resid_post', hook_point_out: 'blocks.2.hook_resid_post', jump_relu_threshold: 0.2, dataset_average_activation_norm: { in: norm, out: norm }, act_fn: 'jumprelu', top_k: 50 }));
  const sae = loadSae(dir);
  assert.equal(sae.origin.format, 'llama-scope');
  assert.equal(sae.cfg.hookName, 'blocks.2.hook_resid_post');
  // SAELens: threshold * s, then fold_activation_norm_scaling_factor(s) with s = sqrt(d) / norm_in.
  const s = Math.sqrt(D) / norm;
  const acts = hiddenPre(X.map((v) => v * s), N, w, false).map((r) => r.map((v) => (v > 0.2 * s ? v : 0)));
  assert.ok(maxDiff(await dense(sae, X, N), flat(acts)) < 1e-4);
  const recon = decode(acts, w).map((r) => r.map((v) => v / s));
  assert.ok(maxDiff((await sae.reconstruct(t([N, D], X))).data, flat(recon)) < 1e-4);
});

test('pickled PyTorch files are refused with how to convert them, and never run', () => {
  const dir = tmpDir();
  const marker = path.join(dir, 'ran');
  // A pickle that would create `marker` if anything unpickled it.
  const payload = Buffer.from(`cos\nsystem\n(S'touch ${marker}'\ntR.`, 'latin1');
  fs.writeFileSync(path.join(dir, 'ae.pt'), payload);
  fs.writeFileSync(path.join(dir, 'config.json'), '{}');
  assert.throws(() => loadSae(dir), /ae\.pt: a pickled PyTorch file; saescope never unpickles.*Convert it/);
  assert.throws(() => loadSae(path.join(dir, 'ae.pt')), /never unpickles/);
  assert.ok(!fs.existsSync(marker));
});

test('an SAE whose hook the model lacks gets a clear error; --hook redirects it', async () => {
  const model = await loadModel(path.join(fixtures, 'tiny-llama'));
  const w = weights(model.spec.dModel, S, 13);
  const dir = saelensFolder(v6({ d_in: model.spec.dModel, metadata: { ...v6().metadata, hook_name: 'blocks.7.hook_resid_post' } }), w);
  assert.throws(() => checkSaeFitsModel(loadSae(dir), model), /blocks\.7\.hook_resid_post/);
  checkSaeFitsModel(loadSae(dir, { hook: 'blocks.1.hook_resid_post' }), model);
  await model.dispose();
});

test('saescope sae info prints the format, hook and folds', () => {
  const w = weights(D, S, 14);
  const dir = gemmaScopeDir(w, new Float32Array(S), 'gemma-scope-2b-pt-res', 'layer_5');
  const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), 'sae', 'info', dir, '--json'], { encoding: 'utf8' });
  const info = JSON.parse(out);
  assert.equal(info.format, 'gemma-scope');
  assert.equal(info.hook, 'blocks.5.hook_resid_post');
  assert.equal(info.architecture, 'jumprelu');
  assert.equal(info.d_in, D);
  assert.equal(info.d_sae, S);
  assert.equal(info.apply_b_dec_to_input, false);
  const text = execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), 'sae', 'info', dir, '--hook', 'blocks.2.hook_mlp_out'], { encoding: 'utf8' });
  assert.match(text, /hook\s+blocks\.2\.hook_mlp_out/);
  assert.match(text, /folds\s+hook blocks\.2\.hook_mlp_out from --hook/);
});

test('fidelity on a model: sparsify MLP/attention hookpoints are refused on post-norm models; centring applies to attention and MLP outputs, and only on LayerNorm models', async () => {
  const gemma2 = await loadModel(path.join(fixtures, 'tiny-gemma2'));
  const gpt2 = await loadModel(path.join(fixtures, 'tiny-gpt2'));
  const llama = await loadModel(path.join(fixtures, 'tiny-llama'));
  const d = 32;
  const w = weights(d, 16, 4);
  // sparsify's layers.1.mlp is the MLP module's output: before Gemma 2's post-norm, which hook_mlp_out includes.
  const dir = path.join(tmpDir(), 'layers.1.mlp');
  fs.mkdirSync(dir);
  const encT = new Float32Array(16 * d);
  for (let j = 0; j < d; j++) for (let i = 0; i < 16; i++) encT[i * d + j] = w.W_enc.data[j * 16 + i];
  writeSafetensors(path.join(dir, 'sae.safetensors'), { 'encoder.weight': t([16, d], encT), 'encoder.bias': w.b_enc, W_dec: w.W_dec, b_dec: w.b_dec });
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ num_latents: 16, k: 3, d_in: d }));
  const sp = loadSae(dir);
  assert.equal(sp.cfg.hookName, 'blocks.1.hook_mlp_out');
  assert.throws(() => checkSaeFitsModel(sp, gemma2), /comes before the post-norm that blocks\.1\.hook_mlp_out includes/);
  assert.doesNotThrow(() => checkSaeFitsModel(sp, gpt2));
  // center_writing_weights centres every weight that writes to the residual: hook_mlp_out rows are centred too.
  const meta = { ...v6().metadata, hook_name: 'blocks.1.hook_mlp_out', model_from_pretrained_kwargs: { center_writing_weights: true } };
  const centred = loadSae(saelensFolder({ ...v6({ architecture: 'standard', k: undefined, metadata: meta }), d_in: d, d_sae: 16 }, w));
  assert.equal(centred.cfg.centerInput, true);
  assert.doesNotThrow(() => checkSaeFitsModel(centred, gpt2));
  // TransformerLens centres only LayerNorm models: on an RMSNorm model the metadata is refused, naming why.
  assert.throws(() => checkSaeFitsModel(centred, llama), /center_writing_weights, which TransformerLens applies only to LayerNorm models/);
  for (const m of [gemma2, gpt2, llama]) await m.dispose();
});

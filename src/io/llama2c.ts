/**
 * llama2.c checkpoints (github.com/karpathy/llama2.c, export.py): the legacy
 * header (7 int32: dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size (negative when the classifier is not shared), seq_len) and the
 * versioned one (magic "ak42", version 1, the same 7 ints, a shared-classifier
 * byte, padded to 256 bytes), both float32. Weights come out under HF Llama
 * names so the llama adapter serves them; llama2.c rotates interleaved pairs
 * (Meta layout), so wq and wk rows are permuted to HF's rotate-half layout.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tensor } from '../tensor/tensor.ts';
import type { ModelSpec } from '../model/spec.ts';
import { MemoryWeights } from './weights.ts';

const MAGIC = 0x616b3432;

/** Header fields of a llama2.c checkpoint. */
export interface Llama2cHeader {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly sharedClassifier: boolean;
  /** 0 for the legacy layout, 1 for the versioned float32 layout. */
  readonly version: 0 | 1;
  /** Byte offset of the first weight. */
  readonly dataOffset: number;
}

/** Reads the header; throws naming the file on anything unexpected. */
export function readLlama2cHeader(buf: Buffer, file: string): Llama2cHeader {
  if (buf.length < 28) throw new Error(`${file}: too short for a llama2.c header (${buf.length} bytes)`);
  const ints = (off: number) => Array.from({ length: 7 }, (_, i) => buf.readInt32LE(off + 4 * i));
  if (buf.readUInt32LE(0) === MAGIC) {
    const version = buf.readInt32LE(4);
    if (version !== 1) throw new Error(`${file}: llama2.c version ${version} is not supported (only float32 version 1 and the legacy layout)`);
    const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen] = ints(8);
    return check({ dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier: buf[36] === 1, version: 1, dataOffset: 256 }, file);
  }
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen] = ints(0);
  return check({ dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocab), seqLen, sharedClassifier: vocab > 0, version: 0, dataOffset: 28 }, file);
}

function check(h: Llama2cHeader, file: string): Llama2cHeader {
  const ok = [h.dim, h.hiddenDim, h.nLayers, h.nHeads, h.nKvHeads, h.vocabSize, h.seqLen].every((x) => Number.isInteger(x) && x > 0 && x < 1 << 24);
  if (!ok || h.dim % h.nHeads !== 0 || h.nHeads % h.nKvHeads !== 0) {
    throw new Error(`${file}: not a llama2.c checkpoint (implausible header ${JSON.stringify(h)})`);
  }
  return h;
}

/** Loads a llama2.c checkpoint as a Llama spec and HF-named weights. */
export function loadLlama2c(file: string): { spec: ModelSpec; weights: MemoryWeights; header: Llama2cHeader } {
  const buf = fs.readFileSync(file);
  const h = readLlama2cHeader(buf, file);
  const hd = h.dim / h.nHeads;
  const kvDim = h.nKvHeads * hd;
  const L = h.nLayers;
  let off = h.dataOffset;
  const take = (shape: number[]): Tensor<'float32'> => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (off + 4 * n > buf.length) throw new Error(`${file}: truncated: weights end at byte ${off + 4 * n} but the file has ${buf.length}`);
    const data = new Float32Array(n);
    Buffer.from(data.buffer).set(buf.subarray(off, off + 4 * n));
    off += 4 * n;
    return { dtype: 'float32', shape, data };
  };
  const perLayer = (shape: number[]) => Array.from({ length: L }, () => take(shape));
  const w = new Map<string, Tensor<'float32'>>();
  const put = (name: string, ts: Tensor<'float32'>[]) => ts.forEach((t, l) => w.set(`model.layers.${l}.${name}`, t));
  let emb: Tensor<'float32'>;
  if (h.version === 1) {
    put('input_layernorm.weight', perLayer([h.dim]));
    put('post_attention_layernorm.weight', perLayer([h.dim]));
    w.set('model.norm.weight', take([h.dim]));
    emb = take([h.vocabSize, h.dim]);
    readProjections();
  } else {
    emb = take([h.vocabSize, h.dim]);
    put('input_layernorm.weight', perLayer([h.dim]));
    readProjections(true);
    w.set('model.norm.weight', take([h.dim]));
    off += 2 * 4 * h.seqLen * (hd / 2); // precomputed freq_cis tables (recomputed from theta)
  }
  w.set('model.embed_tokens.weight', emb);
  if (!h.sharedClassifier) w.set('lm_head.weight', take([h.vocabSize, h.dim]));

  function readProjections(legacy = false): void {
    put('self_attn.q_proj.weight', perLayer([h.dim, h.dim]).map((t) => toRotateHalf(t, h.nHeads)));
    put('self_attn.k_proj.weight', perLayer([kvDim, h.dim]).map((t) => toRotateHalf(t, h.nKvHeads)));
    put('self_attn.v_proj.weight', perLayer([kvDim, h.dim]));
    put('self_attn.o_proj.weight', perLayer([h.dim, h.dim]));
    if (legacy) put('post_attention_layernorm.weight', perLayer([h.dim]));
    put('mlp.gate_proj.weight', perLayer([h.hiddenDim, h.dim]));
    put('mlp.down_proj.weight', perLayer([h.dim, h.hiddenDim]));
    put('mlp.up_proj.weight', perLayer([h.hiddenDim, h.dim]));
  }

  const spec: ModelSpec = {
    modelType: 'llama', nLayers: L, dModel: h.dim, nHeads: h.nHeads, nKvHeads: h.nKvHeads, dHead: hd,
    dMlp: h.hiddenDim, dVocab: h.vocabSize, nCtx: h.seqLen, norm: 'rmsnorm', normEps: 1e-5,
    positions: 'rotary', rotaryDim: hd, ropeTheta: 10000, act: 'silu', gatedMlp: true, parallelResidual: false,
    bosTokenId: 1, eosTokenId: 2,
  };
  return { spec, weights: new MemoryWeights(file, w, fileIdentity(file)), header: h };
}

/**
 * Reorders the rows of a q/k projection [heads * hd, in] from interleaved
 * rotary pairs (2i, 2i+1) to rotate-half (i, i + hd/2), per head; the same
 * permutation HF's Llama conversion applies.
 */
function toRotateHalf(t: Tensor<'float32'>, heads: number): Tensor<'float32'> {
  const [rows, cols] = t.shape;
  const hd = rows / heads;
  const out = new Float32Array(t.data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < hd / 2; i++) {
      for (let j = 0; j < 2; j++) {
        const interleaved = h * hd + 2 * i + j;
        const half = h * hd + j * (hd / 2) + i;
        out.set(t.data.subarray(interleaved * cols, (interleaved + 1) * cols), half * cols);
      }
    }
  }
  return { dtype: 'float32', shape: t.shape, data: out };
}

function fileIdentity(file: string): string {
  const st = fs.statSync(file);
  return JSON.stringify([path.resolve(file), st.size, st.mtimeMs]);
}

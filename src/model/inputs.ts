/**
 * Turns token sequences into graph inputs: validation against the vocabulary
 * and context, right padding, position ids, and the additive attention mask
 * (causal, padded keys hidden, offset by a KV-cache past length).
 */
import type { Tensor } from '../tensor/tensor.ts';
import type { ModelSpec } from './spec.ts';

/** Masked score offset: exp() of it underflows to exactly 0, as -inf would. */
export const MASKED = -1e9;

/** Checks ids against the vocabulary and the total length against the context. */
export function validateTokens(seqs: readonly (readonly number[])[], spec: ModelSpec, pastLength = 0): void {
  if (seqs.length === 0) throw new Error('no sequences to run (empty batch)');
  seqs.forEach((s, b) => {
    if (s.length === 0) throw new Error(`sequence ${b} is empty: nothing to run (an empty text?)`);
    if (pastLength + s.length > spec.nCtx) {
      throw new Error(`sequence ${b} has ${pastLength + s.length} tokens, longer than the model's context of ${spec.nCtx}`);
    }
    for (let i = 0; i < s.length; i++) {
      const t = s[i];
      if (!Number.isInteger(t) || t < 0 || t >= spec.dVocab) {
        throw new Error(`token id ${t} at sequence ${b}, position ${i} is outside the vocabulary [0, ${spec.dVocab})`);
      }
    }
  });
}

const causalCache = new Map<string, Float32Array>();

/** The int64 inputs and mask for a right-padded batch. */
export interface BatchInputs {
  readonly input_ids: Tensor<'int64'>;
  readonly position_ids: Tensor<'int64'>;
  readonly attn_bias: Tensor<'float32'>;
  /** Real length of each sequence. */
  readonly lengths: readonly number[];
}

/**
 * Right-pads `seqs` to a rectangle. With `pastLength`, positions start there
 * and each query also sees the `pastLength` cached keys (all real: caching is
 * for single-sequence generation or equal-length batches).
 */
export function batchInputs(seqs: readonly (readonly number[])[], pastLength = 0, padId = 0): BatchInputs {
  const B = seqs.length;
  const T = Math.max(...seqs.map((s) => s.length));
  const S = pastLength + T;
  const ids = new BigInt64Array(B * T);
  const pos = new BigInt64Array(B * T);
  // Full, unpadded batches share one causal mask (corpus passes make thousands of them).
  const plain = pastLength === 0 && seqs.every((s) => s.length === T);
  const key = `${B}x${T}`;
  const cached = plain ? causalCache.get(key) : undefined;
  const bias = cached ?? new Float32Array(B * T * S);
  for (let b = 0; b < B; b++) {
    const len = seqs[b].length;
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = BigInt(t < len ? seqs[b][t] : padId);
      pos[b * T + t] = BigInt(pastLength + Math.min(t, len - 1));
      if (cached) continue;
      const rowOff = (b * T + t) * S;
      for (let s = 0; s < S; s++) {
        const visible = s <= pastLength + t && s < pastLength + len;
        bias[rowOff + s] = visible ? 0 : MASKED;
      }
    }
  }
  if (plain && !cached) {
    if (causalCache.size > 8) causalCache.clear();
    causalCache.set(key, bias);
  }
  return {
    input_ids: { dtype: 'int64', shape: [B, T], data: ids },
    position_ids: { dtype: 'int64', shape: [B, T], data: pos },
    attn_bias: { dtype: 'float32', shape: [B, 1, T, S], data: bias },
    lengths: seqs.map((s) => s.length),
  };
}

/**
 * The clamp intervention inside the graph: the SAE's encoder reads the
 * hook's activation, gives the current activation f(x) of each clamped
 * feature (through the architecture's activation function, including top-k
 * membership), and adds (value - f(x)) * W_dec[f] where the position mask is
 * 1. The activation is the architecture's own (sae/architectures): where a
 * latent's activation reads only its own pre-activation, the clamped
 * features' encoder columns suffice; top-k needs the full pre-activation to
 * know which latents win.
 */
import type { ClampPlan, FeatureEncoder } from '../../hooks/interventions.ts';
import { interventionInput } from '../../hooks/interventions.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import type { BuildCtx } from './context.ts';
import { inputTransform } from './saeInput.ts';

/** Applies a clamp to hook value `x` [batch, pos, dIn]; returns the edited value. */
export function applyClamp(c: BuildCtx, x: string, plan: ClampPlan, enc: FeatureEncoder): string {
  const { g } = c;
  const F = plan.features;
  const dIn = enc.W_enc.shape[0];
  const dSae = enc.W_enc.shape[1];
  const tag = `${plan.hook}.${enc.id}`;
  // Target values per row ([1, 1, F] shared by every row, or [batch, 1, F] for a batch of rows with their own).
  const values = g.input(interventionInput('clamp', plan.hook), 'float32', [`${plan.hook}.clampRows`, 1, F.length]);
  const mask = g.input(interventionInput('clamp.mask', plan.hook), 'float32', ['batch', `${plan.hook}.maskPos`, 1]);
  const t = inputTransform(g, x, { centerInput: enc.centerInput, normalizeActivations: enc.normalization ?? 'none', dIn });
  const saeIn = enc.applyBDecToInput ? g.op('Sub', [t.x, g.weight(`${tag}.b_dec`, enc.b_dec)]) : t.x;
  const extra = (name: string): Tensor<'float32'> => {
    const w = enc.extra[name];
    if (!w) throw new Error(`a ${enc.architecture} encoder needs its '${name}' weights`);
    return w;
  };
  let act: string;
  if (enc.perLatent) {
    // Each clamped latent's activation from its own encoder column and extra weights.
    const cols = columns(enc.W_enc, F, dIn, dSae);
    const pre = g.op('Add', [g.op('MatMul', [saeIn, g.weight(`${tag}.W_enc_cols`, cols)]), g.weight(`${tag}.b_enc_sel`, pick(enc.b_enc, F))]);
    const out = enc.activation(g, pre, (name) => g.weight(`${tag}.${name}_sel`, pick(extra(name), F)));
    if (!('dense' in out)) throw new Error(`internal: a per-latent ${enc.architecture} activation gave top-k outputs`);
    act = out.dense;
  } else {
    // Which latents fire depends on all of them (top-k): the full pre-activation, then each clamped latent's value.
    const pre = g.op('Add', [g.op('MatMul', [saeIn, g.weight(`${tag}.W_enc`, enc.W_enc)]), g.weight(`${tag}.b_enc`, enc.b_enc)]);
    const out = enc.activation(g, pre, (name) => g.weight(`${tag}.${name}`, extra(name)));
    if ('dense' in out) act = g.op('Gather', [out.dense, g.ints(F)], { axis: -1 });
    else {
      const hit = g.op('Cast', [g.op('Equal', [g.op('Unsqueeze', [out.indices, g.ints([-1])]), g.ints(F)])], { to: 1 }); // [b, pos, k, F]
      act = g.op('ReduceSum', [g.op('Mul', [g.op('Unsqueeze', [out.values, g.ints([-1])]), hit]), g.ints([2])], { keepdims: 0 });
    }
  }
  const rows = g.weight(`${tag}.W_dec_rows`, rowsOf(enc.W_dec, F, dIn));
  const delta = g.op('MatMul', [g.op('Sub', [values, act]), rows]);
  return g.op('Add', [x, g.op('Mul', [t.outDelta(delta), mask])]);
}

function pick(t: Tensor<'float32'>, F: readonly number[]): Tensor<'float32'> {
  return { dtype: 'float32', shape: [F.length], data: Float32Array.from(F, (f) => t.data[f]) };
}

function columns(W: Tensor<'float32'>, F: readonly number[], dIn: number, dSae: number): Tensor<'float32'> {
  const out = new Float32Array(dIn * F.length);
  for (let i = 0; i < dIn; i++) F.forEach((f, j) => (out[i * F.length + j] = W.data[i * dSae + f]));
  return { dtype: 'float32', shape: [dIn, F.length], data: out };
}

function rowsOf(W: Tensor<'float32'>, F: readonly number[], dIn: number): Tensor<'float32'> {
  const out = new Float32Array(F.length * dIn);
  F.forEach((f, j) => out.set(W.data.subarray(f * dIn, (f + 1) * dIn), j * dIn));
  return { dtype: 'float32', shape: [F.length, dIn], data: out };
}

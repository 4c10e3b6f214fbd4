/**
 * What the SAE's weights say about each feature without running text:
 * logit effects (W_dec[f] through the unembedding, as Neuronpedia's top
 * positive and negative logits) and nearest features by decoder cosine
 * similarity. Both run as chunked ONNX graphs, keeping only the top k per row.
 */
import { GraphBuilder } from '../runtime/graph.ts';
import { Session } from '../runtime/session.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import type { Sae } from '../sae/sae.ts';

/** Token ids and values per feature. */
export interface Ranked {
  readonly ids: Int32Array;
  readonly values: Float32Array;
}

const CHUNK = 256;

/** Top `k` positive and negative logit effects of every feature's decoder row. */
export async function logitEffects(model: HookedModel, sae: Sae, k = 10): Promise<{ positive: Ranked[]; negative: Ranked[] }> {
  const { weight, vocabFirst } = model.unembedding();
  if (sae.cfg.dIn !== model.spec.dModel) throw new Error(`logit effects need an SAE on the residual width ${model.spec.dModel}; this one has d_in ${sae.cfg.dIn}`);
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', ['n', sae.cfg.dIn]);
  const logits = g.op('Gemm', [x, g.weight('W_U', weight)], { transB: vocabFirst ? 1 : 0 });
  topk(g, logits, k, 1, 'pos');
  topk(g, logits, k, 0, 'neg');
  const out = await chunked(g, sae, (rows) => rows);
  return { positive: out.map((o) => o.pos), negative: out.map((o) => o.neg) };
}

/** The `k` features whose decoder rows are closest (cosine) to each feature's, itself excluded. */
export async function nearestFeatures(sae: Sae, k = 10): Promise<Ranked[]> {
  const { dSae, dIn } = sae.cfg;
  const unit = normalized(sae.weights.W_dec.data, dIn);
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', ['n', dIn]);
  const sims = g.op('Gemm', [x, g.weight('W', { dtype: 'float32', shape: [dSae, dIn], data: unit })], { transB: 1 });
  topk(g, sims, Math.min(k + 1, dSae), 1, 'pos');
  const out = await chunked(g, sae, () => unit);
  return out.map((o, f) => {
    const keep = [...o.pos.ids].map((id, i) => ({ id, v: o.pos.values[i] })).filter((e) => e.id !== f).slice(0, k);
    return { ids: Int32Array.from(keep.map((e) => e.id)), values: Float32Array.from(keep.map((e) => e.v)) };
  });
}

/**
 * For each latent of `a`, the `k` latents of `b` whose decoder rows are
 * closest (cosine), largest first. Both SAEs must write the same space.
 */
export async function crossNearest(a: Sae, b: Sae, k = 5): Promise<Ranked[]> {
  const dIn = a.cfg.dIn;
  if (b.cfg.dIn !== dIn) throw new Error(`the SAEs have different widths (d_in ${dIn} and ${b.cfg.dIn})`);
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', ['n', dIn]);
  const sims = g.op('Gemm', [x, g.weight('W', { dtype: 'float32', shape: [b.cfg.dSae, dIn], data: normalized(b.weights.W_dec.data, dIn) })], { transB: 1 });
  topk(g, sims, Math.min(k, b.cfg.dSae), 1, 'pos');
  const out = await chunked(g, a, (w) => normalized(w, dIn));
  return out.map((o) => o.pos);
}

function topk(g: GraphBuilder, x: string, k: number, largest: 0 | 1, name: string): void {
  const [v, i] = g.opN('TopK', [x, g.ints([k])], 2, { axis: -1, largest, sorted: 1 });
  g.op('Identity', [v], {}, { out: `${name}.values` });
  g.op('Identity', [i], {}, { out: `${name}.ids` });
  g.output(`${name}.values`, 'float32', ['n', k]);
  g.output(`${name}.ids`, 'int64', ['n', k]);
}

/** Runs the graph over the decoder rows in chunks; returns per-feature ranked outputs. */
async function chunked(g: GraphBuilder, sae: Sae, rowsOf: (wdec: Float32Array) => Float32Array): Promise<{ pos: Ranked; neg: Ranked }[]> {
  const { dSae, dIn } = sae.cfg;
  const rows = rowsOf(sae.weights.W_dec.data);
  const s = await Session.create(g.toBytes('weight_effects'));
  const out: { pos: Ranked; neg: Ranked }[] = [];
  try {
    for (let a = 0; a < dSae; a += CHUNK) {
      const n = Math.min(CHUNK, dSae - a);
      const r = await s.run({ x: { dtype: 'float32', shape: [n, dIn], data: rows.subarray(a * dIn, (a + n) * dIn) } });
      const take = (name: string, i: number): Ranked | undefined => {
        if (!r[`${name}.values`]) return undefined;
        const k = r[`${name}.values`].shape[1];
        const ids = r[`${name}.ids`].data as unknown as BigInt64Array;
        return { ids: Int32Array.from(ids.subarray(i * k, (i + 1) * k), Number), values: r[`${name}.values`].data.slice(i * k, (i + 1) * k) };
      };
      for (let i = 0; i < n; i++) out.push({ pos: take('pos', i)!, neg: take('neg', i) ?? { ids: new Int32Array(0), values: new Float32Array(0) } });
    }
  } finally {
    await s.release();
  }
  return out;
}

function normalized(W: Float32Array, d: number): Float32Array {
  const out = new Float32Array(W.length);
  for (let r = 0; r < W.length / d; r++) {
    let n = 0;
    for (let i = 0; i < d; i++) n += W[r * d + i] ** 2;
    const s = 1 / Math.max(Math.sqrt(n), 1e-12);
    for (let i = 0; i < d; i++) out[r * d + i] = W[r * d + i] * s;
  }
  return out;
}

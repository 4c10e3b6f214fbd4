/**
 * saescope side of bench/big: one mode per process, so each peak resident
 * memory is its own. Every mode prints `load_seconds` (process start to the
 * first logits, as torch_reference.py measures it).
 * modes: `forward` (batch x seq, full logits), `generate` (greedy, KV cache),
 * `sessions` (a forward, a forward-to-hook and a generation in one process),
 * `sessions-steer` (a forward, a forward-to-hook, a generation and a steered generation in one process),
 * `steer` (what `saescope steer` runs: the unsteered row and a row steered by
 * one SAE feature, one batch, `new` tokens each, the SAE loaded beside the model),
 * `fidelity` (quantized logits against f32 on corpus tokens), `ceiling` (f32
 * compute on int8-rounded block weights against f32: the bound on any int8 mode).
 */
import * as fs from 'node:fs';
import { loadModel } from '../../src/model/load.ts';
import { HookedModel, type WeightMode } from '../../src/model/hookedModel.ts';
import { adapterFor } from '../../src/model/adapters/registry.ts';
import { dequantizeNBits8, quantizeNBits } from '../../src/model/quant/blockQuant.ts';
import { SafetensorsWeights, type WeightSource } from '../../src/io/weights.ts';
import { Rng } from '../../src/tensor/random.ts';
import type { AddIntervention } from '../../src/hooks/interventions.ts';
import { loadSae } from '../../src/sae/load.ts';
import { steeringInterventions } from '../../src/steering/steer.ts';

interface Args {
  model: string;
  mode: 'forward' | 'generate' | 'sessions' | 'sessions-steer' | 'steer' | 'fidelity' | 'ceiling';
  /** The SAE folder (`steer`). */
  sae?: string;
  weights?: WeightMode;
  batch: number;
  seq: number;
  iters: number;
  promptLen: number;
  new: number;
  hook: string;
  tokensFile?: string;
  cacheDir: string;
}

const a = JSON.parse(process.argv[2]) as Args;
const load = (weights: WeightMode) => loadModel(a.model, { weights, cacheDir: a.cacheDir });
const model = await load(a.weights ?? 'f32');
const rng = new Rng(0);
const rand = (n: number) => Array.from({ length: n }, () => Math.floor(rng.next() * model.spec.dVocab));
let loadSeconds: number | undefined;
const firstLogits = () => (loadSeconds ??= process.uptime());

async function generateTps(m: HookedModel, promptLen: number, n: number, interventions?: AddIntervention[]): Promise<{ tokens_per_s: number; prompt_seconds: number }> {
  const prompt = rand(promptLen);
  const times: number[] = [];
  const t0 = performance.now();
  await m.generate(prompt, { maxNewTokens: n, temperature: 0, stopAtEos: false, interventions, onToken: () => (firstLogits(), times.push(performance.now())) });
  return { tokens_per_s: (n - 1) / ((times[times.length - 1] - times[0]) / 1000), prompt_seconds: (times[0] - t0) / 1000 };
}

async function forwardTps(cache: string[], logits: 'all' | 'none'): Promise<number> {
  const tokens = Array.from({ length: a.batch }, () => rand(a.seq));
  await model.run(tokens, { cache, logits });
  firstLogits();
  const t = performance.now();
  for (let i = 0; i < a.iters; i++) await model.run(tokens, { cache, logits });
  return (a.batch * a.seq) / ((performance.now() - t) / 1000 / a.iters);
}

let out: Record<string, unknown>;
if (a.mode === 'generate') {
  out = await generateTps(model, a.promptLen, a.new);
} else if (a.mode === 'forward') {
  out = { tokens_per_s: await forwardTps([], 'all') };
} else if (a.mode === 'sessions') {
  const forward = await forwardTps([], 'all');
  const toHook = await forwardTps([a.hook], 'none');
  const gen = await generateTps(model, a.promptLen, 32);
  out = { forward_tokens_per_s: forward, to_hook_tokens_per_s: toHook, generate_tokens_per_s: gen.tokens_per_s, sessions: model.info().sessions.length };
} else if (a.mode === 'sessions-steer') {
  // What `steer` holds beside a forward: an added decoder-row-sized vector at the hook, at every position.
  const vector = Float32Array.from({ length: model.spec.dModel }, () => rng.next() - 0.5);
  const forward = await forwardTps([], 'all');
  const toHook = await forwardTps([a.hook], 'none');
  const gen = await generateTps(model, a.promptLen, 32);
  const steered = await generateTps(model, a.promptLen, 32, [{ kind: 'add', hook: a.hook, vector }]);
  out = { forward_tokens_per_s: forward, to_hook_tokens_per_s: toHook, generate_tokens_per_s: gen.tokens_per_s, steered_tokens_per_s: steered.tokens_per_s, sessions: model.info().sessions.length };
} else if (a.mode === 'steer') {
  const sae = loadSae(a.sae!);
  const prompt = rand(a.promptLen);
  const { interventions } = await steeringInterventions(model, sae, [{ feature: 7, strength: 4 }], 'all', prompt.length);
  const times: number[] = [];
  const t0 = performance.now();
  const rows = await model.generate([prompt, prompt], { maxNewTokens: a.new, temperature: 0, stopAtEos: false, perRow: [{}, { interventions }], onToken: () => (firstLogits(), times.push(performance.now())) });
  const steps = times.length / 2;
  out = { tokens_per_s: (2 * (steps - 1)) / ((times[times.length - 1] - times[1]) / 1000), prompt_seconds: (times[0] - t0) / 1000, steered_differs: rows[0].ids.join() !== rows[1].ids.join() };
} else if (a.mode === 'ceiling') {
  out = await agreement(weightsOnlyInt8(), model);
} else {
  out = await agreement(model, await load('f32'));
}
console.log(JSON.stringify({ mode: a.mode, weights: model.weightMode, load_seconds: loadSeconds, ...out, info: { ...model.info(), sessions: undefined } }));

/**
 * The model with every block's linear weights quantized to int8 blocks of 32
 * exactly as --weights int8 stores them, dequantized back to f32 and run in
 * f32 (embedding and unembedding untouched): what the 8-bit weights alone
 * cost, with no kernel or activation rounding. No int8 mode can beat it.
 */
function weightsOnlyInt8(): HookedModel {
  const dir = a.model;
  const cfg = JSON.parse(fs.readFileSync(`${dir}/config.json`, 'utf8')) as Record<string, unknown>;
  const adapter = adapterFor(cfg.model_type, dir);
  const inner = SafetensorsWeights.fromFolder(dir);
  const source: WeightSource = {
    names: () => inner.names(), has: (n) => inner.has(n), shape: (n) => inner.shape(n), dtype: (n) => inner.dtype(n), identity: () => `${inner.identity()}+int8-weights-only`,
    get: (n) => {
      const t = inner.get(n);
      if (!/proj\.weight$/.test(n)) return t;
      const [N, K] = t.shape;
      return { ...t, data: dequantizeNBits8(quantizeNBits(t.data, N, K, false, 8, 32)) };
    },
  };
  return new HookedModel(`${dir} (int8 weights only)`, adapter.spec(cfg), adapter, source, undefined);
}

/** Top-1 agreement and mean KL(f32 || other) of next-token distributions over corpus tokens. */
async function agreement(other: HookedModel, ref: HookedModel): Promise<Record<string, unknown>> {
  const ids = (JSON.parse(fs.readFileSync(a.tokensFile!, 'utf8')) as number[]).filter((t) => t < model.spec.dVocab);
  const rows: number[][] = [];
  for (let i = 0; i + a.seq <= ids.length; i += a.seq) rows.push(ids.slice(i, i + a.seq));
  let agree = 0;
  let kl = 0;
  let n = 0;
  for (const row of rows) {
    const q = (await other.run([row])).logits!.data;
    const f = (await ref.run([row])).logits!.data;
    firstLogits();
    const V = model.spec.dVocab;
    for (let t = 0; t < row.length; t++) {
      const fa = f.subarray(t * V, (t + 1) * V);
      const qa = q.subarray(t * V, (t + 1) * V);
      if (argmax(fa) === argmax(qa)) agree++;
      kl += klDiv(fa, qa);
      n++;
    }
  }
  return { tokens: n, top1_agreement: agree / n, mean_kl: kl / n };
}

function argmax(x: Float32Array): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
  return b;
}

function logSoftmax(x: Float32Array): Float64Array {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  let s = 0;
  for (const v of x) s += Math.exp(v - m);
  const ls = Math.log(s) + m;
  return Float64Array.from(x, (v) => v - ls);
}

function klDiv(p: Float32Array, q: Float32Array): number {
  const lp = logSoftmax(p);
  const lq = logSoftmax(q);
  let k = 0;
  for (let i = 0; i < lp.length; i++) k += Math.exp(lp[i]) * (lp[i] - lq[i]);
  return k;
}

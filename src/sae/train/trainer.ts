/**
 * Trains one or more SAEs from one stream of model activations: each forward
 * pass feeds a shuffle buffer per hook, and every SAE on a hook steps on the
 * same sampled batch. Checkpoints capture everything a resumed run needs to
 * end with the same weights as an uninterrupted one.
 */
import * as path from 'node:path';
import { modelSource } from '../../model/identity.ts';
import * as fs from 'node:fs';
import { writeTextAtomic } from '../../io/atomicFile.ts';
import { activationGroups, type ActivationGroup } from '../../data/activationSource.ts';
import { ShuffleBuffer } from '../../data/shuffleBuffer.ts';
import { fileGroups, storeGroups } from '../../data/activationStore.ts';
import type { HookedModel } from '../../model/hookedModel.ts';
import { hookInnerDims } from '../../model/interventionFeeds.ts';
import { numel, type Tensor } from '../../tensor/tensor.ts';
import type { SaeConfig } from '../config.ts';
import type { Sae } from '../sae.ts';
import { readCheckpoint, writeCheckpoint, type CheckpointState } from './checkpoint.ts';
import type { SaeSpec, StepMetrics, TrainOptions } from './options.ts';
import { TrainUnit } from './unit.ts';
import { needsK } from '../architectures/registry.ts';

/** What training returns. */
export interface TrainResult {
  /** The trained SAEs, in spec order (also saved to their `out` folders). */
  readonly saes: readonly Sae[];
  /** Final metrics. */
  readonly last?: StepMetrics;
  /** Whether the run resumed from a checkpoint. */
  readonly resumed: boolean;
  /** Source rows read (packed corpus rows, store rows or given rows): held-out data starts after them. */
  readonly rowsConsumed: number;
}

/**
 * Where the trainer's activations come from: a hook's name and width, the
 * model named in the saved config, and the stream of activation groups.
 */
interface TrainTarget {
  /** Model name for the saved cfg (an HF id where there is one) and the local path. */
  readonly modelName: string;
  readonly modelPath: string;
  /** The canonical hook name and its flattened width. */
  hook(h: string): { readonly name: string; readonly dIn: number };
  /** Activation groups from `startRow` on, for these hooks. */
  groups(hooks: readonly string[], startRow: number): AsyncGenerator<ActivationGroup>;
}

/** Trains the SAEs described by `specs` on `model`'s activations. */
export async function trainSaes(model: HookedModel, specs: readonly SaeSpec[], o: TrainOptions): Promise<TrainResult> {
  const target: TrainTarget = {
    modelName: o.modelName ?? saelensModelName(model, o.onWarning),
    modelPath: model.name,
    hook: (h) => {
      const name = model.resolveHooks([h])[0].name;
      return { name, dIn: widthOf(model, name) };
    },
    groups: (hooks, startRow) => {
      if (o.activations && hooks.length !== 1) throw new Error('an activation store holds one hook; train SAEs on other hooks from the model');
      if (!o.activations) return activationGroups(model, { corpus: o.corpus, hooks, contextSize: o.contextSize ?? 128, rowsPerPass: o.rowsPerPass, startRow, epochs: Infinity });
      return o.activations.endsWith('.safetensors') ? fileGroups(o.activations, hooks[0], widthOf(model, hooks[0]), startRow, o.batchSize ?? 4096) : storeGroups(o.activations, hooks[0], startRow);
    },
  };
  return trainOn(target, specs, o);
}

/**
 * Trains SAEs on rows already in memory (`rows` [N, dIn], read in order and
 * cycled), for activations from elsewhere and for synthetic data with known
 * features. Every spec's hook is taken as given.
 */
export async function trainSaesOnRows(rows: Tensor<'float32'>, specs: readonly SaeSpec[], o: Omit<TrainOptions, 'corpus' | 'activations'>): Promise<TrainResult> {
  if (rows.shape.length !== 2 || rows.shape[0] < 1) throw new Error(`training rows must be [N, d_in] with N >= 1, got [${rows.shape.join(', ')}]`);
  if (specs.some((s) => s.hookOut !== undefined)) throw new Error('transcoders need two hooks\' activations: train them from a model (trainSaes), not from one tensor of rows');
  const dIn = rows.shape[1];
  const target: TrainTarget = {
    modelName: o.modelName ?? '',
    modelPath: o.modelName ?? '',
    hook: (h) => ({ name: h, dIn }),
    groups: (hooks, startRow) => cycleRows(rows, hooks, startRow, o.batchSize ?? 4096),
  };
  return trainOn(target, specs, { ...o, corpus: '' });
}

async function* cycleRows(t: Tensor<'float32'>, hooks: readonly string[], startRow: number, chunk: number): AsyncGenerator<ActivationGroup> {
  const [n, d] = t.shape;
  for (let row = startRow; ; row += chunk) {
    const out = new Float32Array(chunk * d);
    for (let i = 0; i < chunk; i++) out.set(t.data.subarray(((row + i) % n) * d, (((row + i) % n) + 1) * d), i * d);
    yield { acts: Object.fromEntries(hooks.map((h) => [h, out])), tokens: chunk, rowsConsumed: row + chunk };
  }
}

async function trainOn(target: TrainTarget, specs: readonly SaeSpec[], o: TrainOptions): Promise<TrainResult> {
  if (specs.length === 0) throw new Error('no SAEs to train');
  const B = o.batchSize ?? 4096;
  const seed = o.seed ?? 0;
  // A stream per hook an SAE reads, and per (input, output) pair a transcoder learns: its rows are the two
  // hooks' activations side by side, so shuffling keeps each input with its own output.
  const streamOf = (s: SaeSpec) => (s.hookOut ? pairKey(target.hook(s.hook).name, target.hook(s.hookOut).name) : target.hook(s.hook).name);
  const hooks = [...new Set(specs.map(streamOf))];
  const modelHooks = [...new Set(specs.flatMap((s) => (s.hookOut ? [target.hook(s.hook).name, target.hook(s.hookOut).name] : [target.hook(s.hook).name])))];
  const widthOfStream = (k: string) => splitPair(k).map((h) => target.hook(h).dIn).reduce((a, b) => a + b, 0);
  if (o.sweepPosition && specs.length !== 1) throw new Error('sweepPosition places one SAE of a sweep; give exactly one spec');
  const unitSeed = (i: number) => seed + 1000 * (o.sweepPosition?.unit ?? i);
  const hookSeed = (i: number) => seed + 7 + (o.sweepPosition?.hookIndex ?? i);
  const units = specs.map((s, i) => new TrainUnit(s, configFor(target, s, o), o, unitSeed(i), streamOf(s)));
  const buffers = new Map(hooks.map((h, i) => [h, new ShuffleBuffer(widthOfStream(h), B * (o.bufferBatches ?? 8), hookSeed(i), o.inOrder === true)]));
  const scales = new Map<string, number>(hooks.map((h) => [h, 1]));
  const totalSteps = Math.ceil(o.tokens / B);
  // Where the SAEs are saved is not part of the run: a resumed run may save elsewhere.
  const fingerprint = JSON.stringify({ model: target.modelPath, specs: specs.map(({ out: _out, ...rest }) => rest), corpus: o.corpus, activations: o.activations, inOrder: o.inOrder === true, ctx: o.contextSize ?? 128, B, seed, tokens: o.tokens, sweepPosition: o.sweepPosition });
  let step = 0;
  let rowsConsumed = 0;
  const ck = o.checkpointDir ? readCheckpoint(o.checkpointDir) : undefined;
  if (ck) {
    if (ck.state.fingerprint !== fingerprint) throw new Error(`${o.checkpointDir}: checkpoint belongs to another run configuration; use another --checkpoint-dir or delete it`);
    ({ step, rowsConsumed } = ck.state);
    restore(ck, units, buffers, scales);
  }
  const source = target.groups(modelHooks, rowsConsumed);
  const pull = async (): Promise<ActivationGroup> => {
    const g = await source.next();
    if (g.done) throw new Error(`corpus '${o.corpus}' yielded no activations`);
    rowsConsumed = g.value.rowsConsumed;
    return g.value;
  };
  const fill = async () => {
    while (![...buffers.values()].every((b) => b.full)) {
      const g = await pull();
      for (const h of hooks) buffers.get(h)!.push(streamRows(h, g.acts, (x) => target.hook(x).dIn));
    }
  };
  if (!ck) {
    await fill();
    for (const h of hooks) if (units.some((u) => u.cfg.normalizeActivations !== 'none' && u.streamKey === h)) scales.set(h, normScale(buffers.get(h)!));
  }
  // A resumed run's log keeps the lines up to the checkpoint's step, so no step is logged twice.
  if (ck && o.metricsLog && fs.existsSync(o.metricsLog)) truncateLog(o.metricsLog, step);
  const log = o.metricsLog ? fs.openSync(o.metricsLog, ck ? 'a' : 'w') : undefined;
  const everyCk = o.checkpointEveryTokens ?? 1_000_000;
  const t0 = performance.now();
  const startTokens = step * B;
  let last: StepMetrics | undefined;
  try {
    while (step < totalSteps) {
      if (o.signal?.aborted) {
        if (o.checkpointDir) checkpoint(o.checkpointDir, { fingerprint, step, tokens: step * B, rowsConsumed }, units, buffers, scales);
        throw new Error(`training stopped at step ${step}${o.checkpointDir ? `; checkpoint saved in ${o.checkpointDir}` : ''}`);
      }
      await fill();
      step++;
      const batches = new Map(hooks.map((h) => [h, scaled(buffers.get(h)!.take(B), scales.get(h)!, buffers.get(h)!.dIn)]));
      const io = (u: TrainUnit) => {
        const b = batches.get(u.streamKey)!;
        return u.cfg.hookNameOut === undefined ? { x: b, y: undefined } : splitColumns(b, u.cfg.dIn);
      };
      if (step === 1) units.forEach((u) => u.initDecoderBias(io(u).y ?? io(u).x));
      const saes = [];
      for (const u of units) saes.push(await u.step(io(u).x, step, totalSteps, io(u).y));
      const tokens = step * B;
      last = { step, tokens, totalTokens: totalSteps * B, tokensPerSecond: (tokens - startTokens) / ((performance.now() - t0) / 1000), saes };
      o.onStep?.(last);
      if (log !== undefined && (step % (o.logEverySteps ?? 10) === 0 || step === totalSteps)) fs.writeSync(log, JSON.stringify(last) + '\n');
      if (o.checkpointDir && Math.floor(tokens / everyCk) > Math.floor((tokens - B) / everyCk) && step < totalSteps) {
        checkpoint(o.checkpointDir, { fingerprint, step, tokens, rowsConsumed }, units, buffers, scales);
      }
    }
  } finally {
    if (log !== undefined) fs.closeSync(log);
  }
  const saes = units.map((u) => u.save(scales.get(u.streamKey)!));
  for (const u of units) await u.runner.dispose();
  return { saes, last, resumed: ck !== undefined, rowsConsumed };
}

function widthOf(model: HookedModel, hook: string): number {
  const p = model.resolveHooks([hook])[0];
  if (p.shape.includes('keyPos')) throw new Error(`cannot train an SAE on ${hook}: attention patterns have no fixed width`);
  return numel(hookInnerDims(p, model.spec));
}

/**
 * SAELens's model_name for a model: its hub id when known (loaded by id, an
 * HF cache snapshot, or `_name_or_path`), else the folder's base name with a
 * warning naming `--model-name`; never a machine's absolute path.
 */
export function saelensModelName(model: HookedModel, warn?: (m: string) => void): string {
  let id = model.hfId;
  if (!id) {
    try {
      id = modelSource(model.name).hfId;
    } catch {
      id = undefined;
    }
  }
  if (id) return id;
  const base = path.basename(path.resolve(model.name)).replace(/\.bin$/, '');
  warn?.(`the saved cfg.json names the model '${base}' (its folder's name): give --model-name ORG/NAME so SAELens and Neuronpedia can find it on the hub`);
  return base;
}

/** A corpus spec SAELens could resolve by name (a published npm corpus), else ''. */
function publicDataset(corpus: string | undefined): string {
  return corpus && corpus.startsWith('npm:') ? corpus.replace(/\[[^\]]*\]$/, '') : '';
}

/** The SAE config for a spec, checked against the model and hook. */
function configFor(target: TrainTarget, s: SaeSpec, o: TrainOptions): SaeConfig {
  const { name: hook, dIn } = target.hook(s.hook);
  if (!Number.isInteger(s.dSae) || s.dSae < 1) throw new Error(`d_sae must be a positive integer, got ${s.dSae}`);
  const withK = needsK(s.architecture);
  if (withK && (!Number.isInteger(s.k) || s.k! < 1 || s.k! > s.dSae)) throw new Error(`${s.architecture} needs k in [1, ${s.dSae}], got ${s.k}`);
  if (s.skip && s.hookOut === undefined) throw new Error('a skip connection is a transcoder\'s: give hookOut');
  let out: Pick<SaeConfig, 'hookNameOut' | 'dOut' | 'skip'> = {};
  if (s.hookOut !== undefined) {
    const o2 = target.hook(s.hookOut);
    if (o2.name === hook) throw new Error(`a transcoder reads one hook and writes another: ${hook} is both`);
    if ((s.normalizeActivations ?? 'none') !== 'none') throw new Error('transcoders train without activation normalization');
    out = { hookNameOut: o2.name, dOut: o2.dIn, ...(s.skip ? { skip: true } : {}) };
  }
  return {
    ...out,
    architecture: s.architecture, dIn, dSae: s.dSae, k: withK ? s.k : undefined, applyBDecToInput: s.hookOut === undefined,
    normalizeActivations: s.normalizeActivations ?? 'none', hookName: hook, modelName: target.modelName,
    contextSize: o.contextSize ?? 128, prependBos: true, datasetPath: publicDataset(o.corpus), dtype: 'float32',
    // SAELens, its evals and Neuronpedia resolve model_name and dataset_path as hub ids: a local corpus leaves
    // dataset_path empty, a public one (npm:) is named; the local sources are kept under saescope_ keys.
    extraMetadata: { saescope_model_path: target.modelPath, saescope_dataset: o.corpus },
  };
}

const PAIR = ' -> ';

/** The stream key of a transcoder's (input, output) hook pair. */
function pairKey(input: string, output: string): string {
  return input + PAIR + output;
}

/** A stream key's hooks: one for an SAE's stream, two for a transcoder's. */
function splitPair(key: string): string[] {
  return key.split(PAIR);
}

/** A stream's rows from one activation group: the hook's, or a pair's side by side ([n, dIn + dOut]). */
function streamRows(key: string, acts: Readonly<Record<string, Float32Array>>, width: (h: string) => number): Float32Array {
  const hs = splitPair(key);
  if (hs.length === 1) return acts[key];
  const [a, b] = [acts[hs[0]], acts[hs[1]]];
  const [da, db] = [width(hs[0]), width(hs[1])];
  const n = a.length / da;
  const out = new Float32Array(n * (da + db));
  for (let r = 0; r < n; r++) {
    out.set(a.subarray(r * da, (r + 1) * da), r * (da + db));
    out.set(b.subarray(r * db, (r + 1) * db), r * (da + db) + da);
  }
  return out;
}

/** A pair stream's batch split back into the input [B, dIn] and the output [B, rest]. */
function splitColumns(t: Tensor<'float32'>, dIn: number): { x: Tensor<'float32'>; y: Tensor<'float32'> } {
  const [n, w] = t.shape;
  const dOut = w - dIn;
  const x = new Float32Array(n * dIn);
  const y = new Float32Array(n * dOut);
  for (let r = 0; r < n; r++) {
    x.set(t.data.subarray(r * w, r * w + dIn), r * dIn);
    y.set(t.data.subarray(r * w + dIn, (r + 1) * w), r * dOut);
  }
  return { x: { dtype: 'float32', shape: [n, dIn], data: x }, y: { dtype: 'float32', shape: [n, dOut], data: y } };
}

/** sqrt(dIn) / mean ‖x‖ over the buffer (SAELens's expected_average_only_in). */
function normScale(b: ShuffleBuffer): number {
  const { rows } = b.snapshot();
  const d = b.dIn;
  let total = 0;
  const n = rows.length / d;
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += rows[r * d + i] ** 2;
    total += Math.sqrt(s);
  }
  return Math.sqrt(d) / (total / n);
}

function scaled(x: Float32Array, s: number, d: number) {
  if (s !== 1) for (let i = 0; i < x.length; i++) x[i] *= s;
  return { dtype: 'float32' as const, shape: [x.length / d, d], data: x };
}

function checkpoint(dir: string, head: Omit<CheckpointState, 'saes' | 'hooks'>, units: TrainUnit[], buffers: Map<string, ShuffleBuffer>, scales: Map<string, number>): void {
  const tensors: Record<string, Float32Array> = {};
  const saes = units.map((u, i) => {
    for (const [n, v] of Object.entries(u.runner.params)) tensors[`sae${i}.param.${n}`] = v;
    for (const [n, v] of Object.entries(u.runner.m)) tensors[`sae${i}.m.${n}`] = v;
    for (const [n, v] of Object.entries(u.runner.v)) tensors[`sae${i}.v.${n}`] = v;
    tensors[`sae${i}.sinceFired`] = Float32Array.from(u.tracker.sinceFired);
    tensors[`sae${i}.fireCount`] = Float32Array.from(u.tracker.fireCount);
    return { t: u.runner.t, threshold: u.threshold, trackerTokens: u.tracker.tokens };
  });
  const hooks: Record<string, { scale: number; rng: number[] }> = {};
  for (const [h, b] of buffers) {
    const snap = b.snapshot();
    tensors[`buffer.${h}`] = snap.rows;
    hooks[h] = { scale: scales.get(h)!, rng: snap.rng };
  }
  writeCheckpoint(dir, { ...head, saes, hooks }, tensors);
}

function restore(ck: NonNullable<ReturnType<typeof readCheckpoint>>, units: TrainUnit[], buffers: Map<string, ShuffleBuffer>, scales: Map<string, number>): void {
  const { state, tensors } = ck;
  units.forEach((u, i) => {
    for (const n of Object.keys(u.runner.params)) {
      u.runner.params[n] = tensors[`sae${i}.param.${n}`];
      u.runner.m[n] = tensors[`sae${i}.m.${n}`];
      u.runner.v[n] = tensors[`sae${i}.v.${n}`];
    }
    u.runner.t = state.saes[i].t;
    u.threshold = state.saes[i].threshold;
    u.tracker.sinceFired = Float64Array.from(tensors[`sae${i}.sinceFired`]);
    u.tracker.fireCount = Float64Array.from(tensors[`sae${i}.fireCount`]);
    u.tracker.tokens = state.saes[i].trackerTokens;
  });
  for (const [h, b] of buffers) {
    b.restore({ rows: tensors[`buffer.${h}`], rng: state.hooks[h].rng });
    scales.set(h, state.hooks[h].scale);
  }
}

/** Keeps the log lines whose step is at most `step` (a line that does not parse is dropped). */
function truncateLog(file: string, step: number): void {
  const keep = fs.readFileSync(file, 'utf8').split('\n').filter((line) => {
    if (!line.trim()) return false;
    try {
      return (JSON.parse(line) as { step?: number }).step! <= step;
    } catch {
      return false;
    }
  });
  writeTextAtomic(file, keep.map((l) => l + '\n').join(''));
}

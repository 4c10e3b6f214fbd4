/**
 * saescope side of bench/sweep: the workload of a sweep (features x prompts x
 * magnitudes, greedy, a feature added at every position, each output
 * measured: read-back, KL, perplexity, distinct-2), run in batches
 * (`sweepGenerations`, what `saescope sweep` runs) or one generation at a
 * time (`model.generate` and `measureOutput`, what it ran before). Or plain
 * batched generation (`mode: generate`) for the ratio to PyTorch.
 */
import { createHash } from 'node:crypto';
import { loadModel } from '../../src/model/load.ts';
import { generateBatch } from '../../src/model/generateBatch.ts';
import { loadSae } from '../../src/sae/load.ts';
import { measureOutput } from '../../src/steering/metrics.ts';
import { steeringInterventions } from '../../src/steering/steer.ts';
import { sweepBatchSize, sweepGenerations, type SweepJob } from '../../src/steering/sweep.ts';
import { Rng } from '../../src/tensor/random.ts';

const a = JSON.parse(process.argv[2]) as {
  model: string; sae?: string; weights?: 'f32' | 'int8'; mode: 'batched' | 'sequential' | 'batched-gen' | 'sequential-gen' | 'generate';
  features: number[]; prompts: number; promptLen: number; new: number; magnitudes: number; scale: number; limit?: number; batch?: number;
};
const model = await loadModel(a.model, { weights: a.weights ?? 'f32' });
const rng = new Rng(5);
const prompts = Array.from({ length: a.prompts }, () => Array.from({ length: a.promptLen }, () => rng.int(model.spec.dVocab)));
if (a.mode === 'generate') {
  // Plain greedy generation of the prompts as one batch: decode tokens/s over every row, the first step excluded.
  const rows = prompts.map((prompt) => ({ prompt, maxNewTokens: a.new, temperature: 0, stopAtEos: false }));
  await generateBatch(model, rows.map((r) => ({ ...r, maxNewTokens: 2 })), { maxBatch: rows.length });
  const times: number[] = [];
  let seen = 0;
  await generateBatch(model, rows, { maxBatch: rows.length, onToken: () => {
    if (seen++ % rows.length === 0) times.push(performance.now());
  } });
  console.log(JSON.stringify({ batch: rows.length, tokens_per_s: (rows.length * (a.new - 1)) / ((performance.now() - times[0]) / 1000) }));
  process.exit(0);
}
const sae = loadSae(a.sae!);
const mags = Array.from({ length: a.magnitudes }, (_, i) => (i * 8) / (a.magnitudes - 1));
const jobs: SweepJob[] = [];
for (const f of a.features) {
  for (let p = 0; p < prompts.length; p++) {
    for (const m of mags) {
      const strength = m * a.scale;
      const { interventions } = await steeringInterventions(model, sae, [{ feature: f, strength }], 'all', prompts[p].length);
      jobs.push({ feature: f, prompt: p, promptIds: prompts[p], magnitude: m, strength, interventions: strength === 0 ? [] : interventions });
    }
  }
}
const todo = jobs.slice(0, a.limit ?? jobs.length);
const naturals = new Map(a.features.map((f) => [f, 0.5]));
const t0 = performance.now();
let texts: number[][];
if (a.mode === 'batched-gen') {
  // The generations alone, as one-at-a-time below: no read-back.
  const out = await generateBatch(model, todo.map((j) => ({ prompt: j.promptIds, maxNewTokens: a.new, temperature: 0, seed: 0, interventions: j.interventions, stopAtEos: false })), { maxBatch: a.batch ?? sweepBatchSize(model, a.promptLen + a.new + 1) });
  texts = out.map((r) => [...Buffer.from(r.text)]);
} else if (a.mode === 'sequential-gen') {
  texts = [];
  for (const j of todo) texts.push([...Buffer.from((await model.generate(j.promptIds, { maxNewTokens: a.new, temperature: 0, seed: 0, interventions: j.interventions, stopAtEos: false })).text)]);
} else if (a.mode === 'batched') {
  const records = await sweepGenerations(model, sae, todo, { maxNewTokens: a.new, temperature: 0, seed: 0, naturals, batchSize: a.batch });
  texts = records.map((r) => [...Buffer.from(r.text)]);
} else {
  texts = [];
  for (const j of todo) {
    const out = await model.generate(j.promptIds, { maxNewTokens: a.new, temperature: 0, seed: 0, interventions: j.interventions, stopAtEos: false });
    await measureOutput(model, sae, j.feature, j.promptIds, out.ids, j.interventions, naturals.get(j.feature)!);
    texts.push([...Buffer.from(out.text)]);
  }
}
const seconds = (performance.now() - t0) / 1000;
// Each output's text, hashed in job order: equal hashes over the same jobs mean equal outputs.
const hashes = texts.map((t) => createHash('sha256').update(Uint8Array.from(t)).digest('hex').slice(0, 16));
console.log(JSON.stringify({ mode: a.mode, generations: todo.length, seconds, generations_per_s: todo.length / seconds, hashes }));

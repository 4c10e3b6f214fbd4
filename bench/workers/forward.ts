/**
 * saescope side of bench/forward: one mode per process.
 * modes: `forward` (batch x seq, full logits, one cached hook), `to-hook`
 * (the pass ends at the hook: no later layers, no logits), `generate`
 * (greedy, KV cache, prompt-len prompt, `new` tokens; decode tokens/s as the
 * reference measures it, excluding the prompt's prefill).
 */
import { loadModel } from '../../src/model/load.ts';
import { Rng } from '../../src/tensor/random.ts';

const a = JSON.parse(process.argv[2]) as { model: string; mode: string; batch: number; seq: number; iters: number; hook: string; promptLen: number; new: number };
const model = await loadModel(a.model);
const rng = new Rng(0);
const rand = (n: number) => Array.from({ length: n }, () => Math.floor(rng.next() * model.spec.dVocab));

if (a.mode === 'generate') {
  const prompt = rand(a.promptLen);
  await model.generate(prompt, { maxNewTokens: 4, temperature: 0, stopAtEos: false });
  const times: number[] = [];
  const t0 = performance.now();
  await model.generate(prompt, { maxNewTokens: a.new, temperature: 0, stopAtEos: false, onToken: () => times.push(performance.now()) });
  const dt = (times[times.length - 1] - times[0]) / 1000;
  console.log(JSON.stringify({ mode: a.mode, prompt_seconds: (times[0] - t0) / 1000, tokens_per_s: (a.new - 1) / dt }));
} else {
  const tokens = Array.from({ length: a.batch }, () => rand(a.seq));
  const opts = { cache: [a.hook], logits: a.mode === 'to-hook' ? ('none' as const) : ('all' as const) };
  await model.run(tokens, opts);
  const t = performance.now();
  for (let i = 0; i < a.iters; i++) await model.run(tokens, opts);
  const dt = (performance.now() - t) / 1000 / a.iters;
  console.log(JSON.stringify({ mode: a.mode, seconds_per_batch: dt, tokens_per_s: (a.batch * a.seq) / dt }));
}

/**
 * saescope side of bench/steer: greedy generation on the same model, prompt
 * and length, plain or steered (a feature of a random topk SAE added at
 * blocks.6.hook_resid_post at every position, or clamped). Decode tokens/s,
 * prefill excluded.
 */
import { loadModel } from '../../src/model/load.ts';
import { loadSae } from '../../src/sae/load.ts';
import { steeringInterventions } from '../../src/steering/steer.ts';
import { Rng } from '../../src/tensor/random.ts';

const a = JSON.parse(process.argv[2]) as { model: string; sae: string; mode: 'plain' | 'add' | 'clamp'; promptLen: number; new: number };
const model = await loadModel(a.model);
const sae = loadSae(a.sae);
const rng = new Rng(1);
const prompt = Array.from({ length: a.promptLen }, () => rng.int(model.spec.dVocab));
const steer = a.mode === 'add' ? [{ feature: 7, strength: 8 }] : [{ feature: 7, clamp: 5 }];
const interventions = a.mode === 'plain' ? [] : (await steeringInterventions(model, sae, steer, 'all', prompt.length)).interventions;
const run = async (n: number, onToken?: () => void) => model.generate(prompt, { maxNewTokens: n, temperature: 0, stopAtEos: false, interventions, onToken });
await run(4);
const times: number[] = [];
await run(a.new, () => times.push(performance.now()));
console.log(JSON.stringify({ mode: a.mode, tokens_per_s: (a.new - 1) / ((times[times.length - 1] - times[0]) / 1000) }));

/**
 * Collects a model's activations at one hook over a corpus (one pass, rows
 * of `contextSize` tokens, every kept position in order) into one
 * safetensors file with tensor `acts` [N, d_in]: the input format of
 * `torch_reference.py train-sae` and of `saescope train --activations FILE`.
 */
import { activationGroups } from '../../src/data/activationSource.ts';
import { writeSafetensors } from '../../src/io/safetensors.ts';
import { loadModel } from '../../src/model/load.ts';

const a = JSON.parse(process.argv[2]) as { model: string; hook: string; corpus: string; contextSize: number; out: string };
const model = await loadModel(a.model);
const parts: Float32Array[] = [];
let n = 0;
for await (const g of activationGroups(model, { corpus: a.corpus, hooks: [a.hook], contextSize: a.contextSize, epochs: 1 })) {
  parts.push(g.acts[a.hook]);
  n += g.acts[a.hook].length;
}
const d = model.spec.dModel;
const acts = new Float32Array(n);
let o = 0;
for (const p of parts) {
  acts.set(p, o);
  o += p.length;
}
writeSafetensors(a.out, { acts: { dtype: 'float32', shape: [n / d, d], data: acts } });
console.log(JSON.stringify({ rows: n / d, d_in: d }));

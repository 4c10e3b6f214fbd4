/**
 * saescope side of bench/scan. modes: `forward` (the bare pass to the hook,
 * no logits, over the scan's rows) and `scan` (the full one-pass scan).
 * Both read the same packed rows of the corpus.
 */
import { loadModel } from '../../src/model/load.ts';
import { loadSae } from '../../src/sae/load.ts';
import { scan } from '../../src/analysis/scan.ts';
import { readCorpus } from '../../src/data/corpus.ts';
import { packRows } from '../../src/data/pack.ts';

const a = JSON.parse(process.argv[2]) as { model: string; sae: string; corpus: string; tokens: number; mode: 'forward' | 'scan'; ctx: number };
const model = await loadModel(a.model);
const sae = loadSae(a.sae);
const hook = sae.cfg.hookName;
// The forward mode holds the rows it times; the scan mode packs only the warm-up rows,
// so its peak memory is the scan's own.
const rows: number[][] = [];
let kept = 0;
for await (const r of packRows(readCorpus(a.corpus), model.tokenizer!, { contextSize: a.ctx })) {
  rows.push(r);
  kept += r.filter((t) => t !== model.tokenizer!.bosId).length;
  if (kept >= a.tokens || (a.mode === 'scan' && rows.length >= 16)) break;
}
// Warm up the sessions both modes use, so neither pays for compilation.
await model.run(rows.slice(0, 16), { cache: [hook], logits: 'none' });
const t = performance.now();
if (a.mode === 'forward') {
  for (let i = 0; i < rows.length; i += 16) await model.run(rows.slice(i, i + 16), { cache: [hook], logits: 'none' });
} else {
  const warm = await model.run(rows.slice(0, 16), { cache: [hook], logits: 'none' });
  await sae.encode({ dtype: 'float32', shape: [warm.cache[hook].data.length / sae.cfg.dIn, sae.cfg.dIn], data: warm.cache[hook].data });
  const t0 = performance.now();
  const s = await scan(model, sae, { corpus: a.corpus, tokens: a.tokens, contextSize: a.ctx });
  if (s.tokens < a.tokens) throw new Error(`the corpus gave only ${s.tokens} tokens`);
  console.log(JSON.stringify({ mode: a.mode, seconds: (performance.now() - t0) / 1000, tokens: s.tokens }));
  process.exit(0);
}
console.log(JSON.stringify({ mode: a.mode, seconds: (performance.now() - t) / 1000, tokens: kept }));

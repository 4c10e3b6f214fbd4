/** Feature analysis on TinyStories-656K with an SAE trained by saescope: scans, dashboards, text features, comparisons. */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { scan } from '../src/analysis/scan.ts';
import { featureStatistics, weightStatistics } from '../src/analysis/stats.ts';
import { buildDashboards } from '../src/analysis/dashboard.ts';
import { activationAt, featuresForText } from '../src/analysis/textFeatures.ts';
import { compareCorpora, compareTexts } from '../src/analysis/compare.ts';
import { readCorpus } from '../src/data/corpus.ts';
import { packRows } from '../src/data/pack.ts';
import { modelAndSae, needsShared, storiesCorpus, tmpDir } from './helpers.ts';

const skip = needsShared();
const corpus = storiesCorpus + '[400:700]';

const setup = modelAndSae;

test('the scan is honest: re-encoding the top examples through the model and the SAE gives the recorded activations', { skip }, async () => {
  const { model, sae } = await setup();
  const s = await scan(model, sae, { corpus, tokens: 20000, contextSize: 128 });
  const rows: number[][] = [];
  for await (const r of packRows(readCorpus(corpus), model.tokenizer!, { contextSize: 128 })) rows.push(r);
  const busiest = s.features.map((f, i) => ({ i, n: f.count })).sort((a, b) => b.n - a.n).slice(0, 5).map((x) => x.i);
  let checked = 0;
  for (const f of busiest) {
    for (const e of s.features[f].top.sorted().slice(0, 4)) {
      const res = await model.run([rows[e.row]], { cache: [sae.cfg.hookName], logits: 'none' });
      const codes = await sae.encode({ dtype: 'float32', shape: [128, sae.cfg.dIn], data: res.cache[sae.cfg.hookName].data });
      assert.ok(Math.abs(activationAt(codes, e.pos, f) - e.act) < 1e-3 * Math.max(1, e.act), `feature ${f} row ${e.row} pos ${e.pos}`);
      e.acts.forEach((a, i) => assert.ok(Math.abs(activationAt(codes, e.start + i, f) - a) < 1e-3 * Math.max(1, a)));
      assert.deepEqual([...e.ids], rows[e.row].slice(e.start, e.start + e.ids.length));
      checked++;
    }
  }
  assert.equal(checked, 20);
});

test('scan statistics are consistent: quantile bins cover the range, histograms count every firing, mean L0 is the sum of densities', { skip }, async () => {
  const { model, sae } = await setup();
  let nnz = 0;
  const s = await scan(model, sae, { corpus, tokens: 8000, contextSize: 128 });
  for (const f of s.features) {
    nnz += f.count;
    if (f.count === 0) continue;
    const q = f.quantiles();
    assert.equal(q[0].lo, 0);
    assert.ok(q[q.length - 1].hi >= f.max, 'the last bin reaches the max');
    assert.equal(q.reduce((a, b) => a + b.count, 0), f.count);
    assert.equal(f.hist.reduce((a, b) => a + b, 0), f.count);
    for (const bin of q) for (const e of bin.examples) assert.ok(e.act >= bin.lo - 1e-6 && e.act <= bin.hi + 1e-6, 'examples lie in their bin');
    for (const bin of q) {
      // The token samples: min(firings, 32) per bin, each inside its bin and on a real token.
      assert.equal(bin.tokens.length, Math.min(bin.count, 32));
      for (const t of bin.tokens) assert.ok(t.act >= bin.lo - 1e-6 && t.act <= bin.hi + 1e-6 && t.id >= 0 && t.id < model.spec.dVocab, 'token samples lie in their bin');
    }
    assert.ok(f.top.sorted()[0].act === f.max);
  }
  const stats = featureStatistics(s);
  assert.ok(Math.abs(stats.meanL0 - nnz / s.tokens) < 1e-9);
  assert.ok(Math.abs(stats.meanL0 - sae.cfg.k!) < 1e-6, 'a topk SAE has L0 = k');
  assert.equal(stats.dead.length, stats.all.filter((a) => a.density === 0).length);
  assert.ok(stats.mostFrequent[0].density >= stats.mostFrequent[1].density);
  assert.ok(stats.interesting.length > 0 && stats.interesting[0].interest >= stats.interesting[1].interest);
  assert.equal(weightStatistics(sae).length, sae.cfg.dSae);
});

test('a killed scan resumes where it stopped and ends like an uninterrupted one', { skip }, async () => {
  const { model, sae } = await setup();
  const straight = await scan(model, sae, { corpus, tokens: 6000, contextSize: 128 });
  const state = path.join(tmpDir(), 'scan.state');
  await assert.rejects(scan(model, sae, { corpus, tokens: 6000, contextSize: 128, stateFile: state, saveEveryRows: 16, onProgress: (p) => { if (p.rows >= 32) throw new Error('killed'); } }), /killed/);
  const resumed = await scan(model, sae, { corpus, tokens: 6000, contextSize: 128, stateFile: state, saveEveryRows: 16 });
  assert.equal(resumed.tokens, straight.tokens);
  straight.features.forEach((f, i) => {
    const g = resumed.features[i];
    assert.equal(g.count, f.count);
    assert.ok(Math.abs(g.sum - f.sum) < 1e-6 * Math.max(1, f.sum));
    assert.deepEqual(g.top.sorted().map((e) => [e.row, e.pos]), f.top.sorted().map((e) => [e.row, e.pos]));
  });
});

test('dashboards: top and quantile examples with tokens, logit effects, nearest features', { skip }, async () => {
  const { model, sae } = await setup();
  const s = await scan(model, sae, { corpus, tokens: 4000, contextSize: 128 });
  const f = s.features.findIndex((x) => x.count > 20);
  const d = (await buildDashboards(model, sae, s, [f])).get(f)!;
  assert.equal(d.top[0].act, s.features[f].max);
  assert.equal(d.top[0].tokens.length, d.top[0].ids.length);
  assert.equal(d.top[0].acts[d.top[0].focus], d.top[0].act);
  assert.equal(d.logits.positive.length, 10);
  assert.ok(d.logits.positive[0].value >= d.logits.positive[9].value && d.logits.negative[0].value <= d.logits.negative[9].value);
  assert.ok(!d.neighbors.some((n) => n.feature === f) && d.neighbors[0].cosine >= d.neighbors[1].cosine);
  await assert.rejects(buildDashboards(model, sae, s, [sae.cfg.dSae]), /feature 512 is out of range \[0, 512\)/);
});

test('text to features: top features pooled without BOS and a per-row normalized heatmap', { skip }, async () => {
  const { model, sae } = await setup();
  const r = await featuresForText(model, sae, 'Once upon a time, there was a little dog named Max.', { top: 6 });
  assert.equal(r.tokens.length, r.ids.length);
  assert.equal(r.pooled[0], false, 'BOS is skipped');
  assert.equal(r.heatmap.values.length, 6);
  for (const row of r.heatmap.normalized) assert.equal(Math.max(...row), 1);
  assert.ok(r.top[0].score >= r.top[5].score);
  const sum = await featuresForText(model, sae, 'Once upon a time, there was a little dog named Max.', { top: 3, pool: 'sum' });
  assert.ok(sum.top[0].sum >= sum.top[1].sum);
  await assert.rejects(featuresForText(model, sae, '   '), /the text is empty/);
});

test('comparisons: a text against itself differs nowhere; corpora get effect sizes and bootstrap intervals', { skip }, async () => {
  const { model, sae } = await setup();
  const same = await compareTexts(model, sae, 'The cat sat.', 'The cat sat.');
  assert.ok(same.every((r) => r.diff === 0));
  const diff = await compareTexts(model, sae, 'The cat sat on the mat.', '"Hello!" said Tom. "Let\'s play!"');
  assert.ok(Math.abs(diff[0].diff) >= Math.abs(diff[diff.length - 1].diff) && Math.abs(diff[0].diff) > 0);
  // The sign is text 1 minus text 2 (seed 000's table): recompute from each text's own pooled activations.
  const one = new Map((await featuresForText(model, sae, 'The cat sat on the mat.', { top: sae.cfg.dSae })).top.map((t) => [t.feature, t.score]));
  const two = new Map((await featuresForText(model, sae, '"Hello!" said Tom. "Let\'s play!"', { top: sae.cfg.dSae })).top.map((t) => [t.feature, t.score]));
  for (const r of diff) assert.equal(r.diff, (one.get(r.feature) ?? 0) - (two.get(r.feature) ?? 0));
  const c = await compareCorpora(model, sae, storiesCorpus + '[0:60]', storiesCorpus + '[60:120]', { tokens: 3000, top: 5, resamples: 50 });
  assert.equal(c.length, 5);
  for (const r of c) {
    assert.ok(r.ci![0] <= r.ci![1]);
    assert.equal(r.diff, r.meanA - r.meanB, 'corpus A minus corpus B');
    assert.ok(Math.sign(r.effectSize) === Math.sign(r.diff) || r.diff === 0);
  }
  assert.ok(Math.abs(c[0].effectSize) >= Math.abs(c[4].effectSize));
});

/**
 * Conditional activation distributions and the density-vs-interpretability
 * view. The estimator is checked on a hand-made dashboard (each sample weighs
 * its bin's count over its bin's samples; stacks sum to the bins' counts). On
 * TinyStories-656K: scan, then `explain --score --conditional` against a
 * rule-based local endpoint, then `conditional --by token|explanation` (JSON
 * and CSV) and `registry scatter`, with the log-likelihood ratios recomputed
 * here from the judgements the endpoint gave.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { conditionalByExplanation, conditionalByToken, conditionalCsv } from '../src/analysis/conditional.ts';
import type { ExampleView, FeatureDashboard } from '../src/analysis/dashboard.ts';
import { Registry } from '../src/registry/registry.ts';
import { needsShared, storiesCorpus, tinyStories, tmpDir, trainedSae, saescopeCli, keysOf } from './helpers.ts';

const saescope = (...args: string[]) => saescopeCli(args);


function ex(row: number, token: string): ExampleView {
  return { act: 1, row, pos: 1, focus: 1, tokens: ['a', token, 'b'], ids: [0, 1, 2], acts: [0, 1, 0] };
}

function dashboard(quantiles: FeatureDashboard['quantiles']): FeatureDashboard {
  return { feature: 7, density: 0.1, count: 0, maxAct: 3, meanAct: 1, histogram: { edges: [], counts: [] }, top: [], quantiles, logits: { positive: [], negative: [] }, neighbors: [], negatives: [] };
}

test('by token: each sample weighs count/samples of its bin; the heaviest tokens get stacks, the rest is other', () => {
  const d = dashboard([
    { lo: 0, hi: 1, count: 100, examples: [ex(0, ' cat'), ex(1, ' cat'), ex(2, ' dog'), ex(3, ' sun')] },
    { lo: 1, hi: 2, count: 10, examples: [ex(4, ' dog'), ex(5, ' dog')] },
    { lo: 2, hi: 3, count: 0, examples: [] },
  ]);
  const c = conditionalByToken(d, 2);
  assert.deepEqual(c.series.map((s) => s.label), [' cat', ' dog', 'other']);
  assert.deepEqual(c.series.map((s) => s.counts), [[50, 0, 0], [25, 10, 0], [25, 0, 0]]);
  c.bins.forEach((b, i) => assert.equal(c.series.reduce((a, s) => a + s.counts[i], 0), b.count));
  assert.equal(conditionalCsv(c).split('\n')[0], 'lo,hi,count,sampled,low_sample, cat, dog,other');
  // Every bin says what it is estimated from; fewer than 32 samples (and fewer than its firings) is marked.
  assert.deepEqual(c.bins.map((b) => [b.sampled, b.lowSample]), [[4, true], [2, true], [0, false]]);
  assert.equal(c.minSamples, 32);
});

test('by token from the intervals\' token samples: 40 samples are read unmarked, and weigh count/40 each', () => {
  const toks = (n: number, word: (i: number) => string) => Array.from({ length: n }, (_, i) => ({ id: i, token: word(i), act: 1 }));
  const d = dashboard([
    { lo: 0, hi: 1, count: 400, examples: [ex(0, ' x')], tokens: toks(40, (i) => (i < 30 ? ' cat' : ' dog')) },
    { lo: 1, hi: 2, count: 20, examples: [ex(1, ' x')], tokens: toks(20, () => ' dog') },
  ]);
  const c = conditionalByToken(d, 1);
  assert.deepEqual(c.series.map((s) => [s.label, s.counts]), [[' cat', [300, 0]], ['other', [100, 20]]]);
  assert.deepEqual(c.bins.map((b) => [b.sampled, b.lowSample]), [[40, false], [20, false]], 'a bin whose every firing is sampled is not marked');
  assert.equal(conditionalByToken(d, 1, 64).bins[0].lowSample, true, 'the threshold is configurable');
});

test('by explanation: stacks by judgement and the smoothed log-likelihood ratio against contexts where the feature is off', () => {
  const d = dashboard([
    { lo: 0, hi: 1, count: 40, examples: [ex(0, 'a'), ex(1, 'b'), ex(2, 'c'), ex(3, 'd')] },
    { lo: 1, hi: 2, count: 6, examples: [ex(4, 'e'), ex(5, 'f')] },
  ]);
  const m = new Map([['0:1', true], ['1:1', false], ['2:1', false], ['4:1', true], ['5:1', true]]);
  const c = conditionalByExplanation(d, m, 1, 8);
  assert.deepEqual(c.series.map((s) => [s.label, s.counts]), [['matches explanation', [10, 6]], ['does not match', [20, 0]], ['unjudged', [10, 0]]]);
  const off = (1 + 1) / (8 + 2);
  assert.ok(Math.abs(c.logLikelihoodRatio![0]! - Math.log(((1 + 1) / (3 + 2)) / off)) < 1e-12);
  assert.ok(Math.abs(c.logLikelihoodRatio![1]! - Math.log(((2 + 1) / (2 + 2)) / off)) < 1e-12);
});

/** A detection scorer by rule: an excerpt "activates" when it contains " the " (any case). */
async function ruleEndpoint() {
  const judged: { texts: string[]; labels: number[] }[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (x) => (raw += x));
    req.on('end', () => {
      const task = String(req.headers['x-saescope-task'] ?? '');
      const user = JSON.parse(raw).messages.find((m: { role: string }) => m.role === 'user').content as string;
      const texts = user.split(/\nExcerpt \d+: /).slice(1);
      const labels = texts.map((t) => (/ the /i.test(t) ? 1 : 0));
      if (task.startsWith('conditional:')) judged.push({ texts, labels });
      const content = task.startsWith('explain') ? '[EXPLANATION]: the word "the"' : JSON.stringify(labels);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'rules', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, judged, close: () => new Promise<void>((r) => server.close(() => r())) };
}


test('saescope conditional and registry scatter on TinyStories-656K, with explanations judged by a local endpoint', { skip: needsShared() }, async () => {
  const sae = await trainedSae();
  const dir = tmpDir();
  const db = path.join(dir, 'reg.db');
  const m = ['--model', tinyStories, '--sae', sae, '--registry', db];
  const scan = await saescope('scan', ...m, '--corpus', storiesCorpus + '[400:500]', '--tokens', '4000', '--json');
  assert.equal(scan.code, 0, scan.stderr);
  const reg = Registry.open(db);
  const keys = await keysOf(reg, tinyStories, sae);
  const busiest = reg.browse(keys.model, keys.sae, { sort: 'density', desc: true, limit: 2 }).rows.map((r) => r.feature);
  reg.close();
  const tok = await saescope('conditional', ...m, '--feature', String(busiest[0]), '--json', '--csv', path.join(dir, 'tok.csv'));
  assert.equal(tok.code, 0, tok.stderr);
  const byTok = JSON.parse(tok.stdout);
  assert.equal(byTok.by, 'token');
  byTok.bins.forEach((b: { count: number }, i: number) => assert.ok(Math.abs(byTok.series.reduce((a: number, s: { counts: number[] }) => a + s.counts[i], 0) - b.count) < 1e-6 * Math.max(1, b.count)));
  assert.equal(fs.readFileSync(path.join(dir, 'tok.csv'), 'utf8').trim().split('\n').length, byTok.bins.length + 1);
  const none = await saescope('conditional', ...m, '--feature', String(busiest[0]), '--by', 'explanation');
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /no explanation judged example by example: run saescope score --conditional/);

  const llm = await ruleEndpoint();
  try {
    const ex = await saescope('explain', ...m, '--features', busiest.join(','), '--score', '--conditional', '--base-url', llm.url, '--api-key', 'k', '--llm-model', 'rules');
    assert.equal(ex.code, 0, ex.stderr);
    // explain prints what it stored: one row per feature, with the registry's explanation and detection/fuzzing accuracies.
    const stored = Registry.open(db);
    const printed = ex.stdout.trim().split('\n');
    assert.equal(printed[0], 'feature\tdetection\tfuzzing\texplanation');
    assert.deepEqual(printed.slice(1), [...busiest].sort((a, b) => a - b).map((f) => {
      const e = stored.explanations(keys.model, keys.sae, f).find((x) => x.source === 'llm')!;
      const acc = (x: unknown) => (x as { accuracy: number }).accuracy.toFixed(2);
      return `${f}\t${acc(e.scores.detection)}\t${acc(e.scores.fuzzing)}\tthe word "the"`;
    }));
    stored.close();
  } finally {
    await llm.close();
  }
  const c = await saescope('conditional', ...m, '--feature', String(busiest[0]), '--by', 'explanation', '--json', '--csv', path.join(dir, 'expl.csv'));
  assert.equal(c.code, 0, c.stderr);
  const byExpl = JSON.parse(c.stdout);
  // Recompute from the dashboard and the endpoint's own labels: each quantile example's text, then the off contexts.
  const d = Registry.open(db).dashboard<FeatureDashboard>(keys.model, keys.sae, busiest[0])!;
  const calls = llm.judged.filter((j) => j.texts.length > 0);
  const firing = d.quantiles.flatMap((q) => q.examples);
  const all = calls.flatMap((j) => j.labels);
  const allTexts = calls.flatMap((j) => j.texts);
  const mine = firing.map((e) => allTexts.indexOf(e.tokens.join('')));
  assert.ok(mine.every((i) => i >= 0), 'every quantile example was judged');
  const offLabels = d.negatives.slice(0, Math.max(4, Math.min(firing.length, d.negatives.length))).map((e) => all[allTexts.indexOf(e.tokens.join(''))]);
  const pOff = (offLabels.filter((l) => l === 1).length + 1) / (offLabels.length + 2);
  d.quantiles.forEach((q, b) => {
    if (!q.examples.length) return assert.equal(byExpl.logLikelihoodRatio[b], null);
    const hits = q.examples.filter((e) => / the /i.test(e.tokens.join(''))).length;
    assert.ok(Math.abs(byExpl.logLikelihoodRatio[b] - Math.log(((hits + 1) / (q.examples.length + 2)) / pOff)) < 1e-9, `LLR of bin ${b}`);
    assert.ok(Math.abs(byExpl.series[0].counts[b] - (q.count * hits) / q.examples.length) < 1e-6 * Math.max(1, q.count));
  });
  assert.match(fs.readFileSync(path.join(dir, 'expl.csv'), 'utf8').split('\n')[0], /matches explanation,does not match.*log_likelihood_ratio$/);

  const sc = await saescope('registry', 'scatter', '--registry', db, '--model', tinyStories, '--sae', sae, '--json', '--csv', path.join(dir, 'scatter.csv'));
  assert.equal(sc.code, 0, sc.stderr);
  const pts = JSON.parse(sc.stdout);
  assert.deepEqual(pts.map((p: { feature: number }) => p.feature).sort((a: number, b: number) => a - b), [...busiest].sort((a, b) => a - b));
  for (const p of pts) assert.ok(p.density > 0 && p.detection >= 0 && p.detection <= 1 && p.source === 'llm');
  assert.match(fs.readFileSync(path.join(dir, 'scatter.csv'), 'utf8'), /^feature,density,log10_density,detection,source\n\d+,/);
});

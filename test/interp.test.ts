/**
 * Automated interpretability against a local OpenAI-compatible server on
 * 127.0.0.1 that answers by rules: explanations and scores land in the
 * registry, failures (429 then 200, malformed JSON, a timeout) are reported
 * per feature while the others finish, reruns cost nothing, scores are right.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { loadSae } from '../src/sae/load.ts';
import { scan } from '../src/analysis/scan.ts';
import { buildDashboards } from '../src/analysis/dashboard.ts';
import { Registry } from '../src/registry/registry.ts';
import { LlmClient } from '../src/interp/llmClient.ts';
import { explainFeatures, nameHeuristically } from '../src/interp/batch.ts';
import { classificationScores } from '../src/interp/metrics.ts';
import { parseLabels } from '../src/interp/prompts.ts';
import { describeSteeringChange } from '../src/interp/steeringChange.ts';
import { needsShared, storiesCorpus, tinyStories, tmpDir, trainedSae } from './helpers.ts';

interface Seen {
  task: string;
  body: { messages: { role: string; content: string }[] };
}

/** Rules: `throttle` answers 429 once; `malformed` sends broken JSON; `hang` never answers. */
async function fakeLlm(rules: { throttle: number; malformed: number; hang: number }) {
  const seen: Seen[] = [];
  const throttled = new Set<string>();
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const task = String(req.headers['x-saescope-task'] ?? '');
      const [kind, f] = task.split(':');
      seen.push({ task, body: JSON.parse(raw) });
      const feature = Number(f);
      if (feature === rules.hang) return; // never answers
      if (feature === rules.throttle && !throttled.has(task)) {
        throttled.add(task);
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after-ms': '10' });
        return res.end(JSON.stringify({ error: { message: 'slow down' } }));
      }
      if (feature === rules.malformed) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"choices": [ {not json');
      }
      const user = JSON.parse(raw).messages.find((m: { role: string }) => m.role === 'user').content as string;
      const n = (user.match(/^Excerpt \d+:/gm) ?? []).length;
      const content = kind === 'explain' ? `Thinking...\n[EXPLANATION]: words for feature ${f}`
        : kind === 'detection' ? JSON.stringify(new Array(n).fill(1))
        : kind === 'fuzzing' ? JSON.stringify(new Array(n).fill(0))
        : 'The steered text is about wind.';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'rules', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }], usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 } }));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    seen,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

const cfg = (url: string) => ({ baseURL: url, apiKey: 'test', model: 'rules-llm', concurrency: 3, timeoutMs: 400, maxRetries: 1, pricePerMTokIn: 1, pricePerMTokOut: 2 });

test('explanations and scores land in the registry; failures are reported per feature; reruns cost nothing', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const saeDir = await trainedSae();
  const sae = loadSae(saeDir);
  const s = await scan(model, sae, { corpus: storiesCorpus + '[400:600]', tokens: 8000, contextSize: 128 });
  const live = s.features.map((f, i) => ({ i, n: f.count })).filter((x) => x.n > 30).map((x) => x.i).slice(0, 5);
  const [good, throttle, malformed, hang, other] = live;
  const registry = Registry.open(path.join(tmpDir(), 'r.db'));
  const keys = registry.file(model, sae, saeDir);
  registry.setDashboards(keys.model, keys.sae, await buildDashboards(model, sae, s, live));
  const llm = await fakeLlm({ throttle, malformed, hang });
  try {
    const target = { registry, model: keys.model, sae: keys.sae };
    const client = new LlmClient(cfg(llm.url), registry);
    const r = await explainFeatures(client, target, live, { score: true });
    assert.deepEqual(r.done, [good, throttle, other].sort((a, b) => a - b));
    assert.deepEqual(r.failures.map((x) => x.feature), [malformed, hang].sort((a, b) => a - b));
    assert.match(r.failures.find((x) => x.feature === hang)!.error, /timed out|timeout/i);
    assert.ok(r.failures.find((x) => x.feature === malformed)!.error.length > 0);
    for (const f of [good, throttle, other]) {
      const e = registry.explanations(keys.model, keys.sae, f)[0];
      assert.equal(e.explanation, `words for feature ${f}`);
      assert.equal(e.source, 'llm');
      assert.equal(e.explainerModel, 'rules-llm');
      assert.equal(e.promptVersion, 'saescope-v1');
      const det = e.scores.detection as { accuracy: number; precision: number; recall: number; f1: number; balancedAccuracy: number };
      assert.deepEqual([det.accuracy, det.precision, det.recall, det.balancedAccuracy], [0.5, 0.5, 1, 0.5]);
      assert.ok(Math.abs(det.f1 - 2 / 3) < 1e-12);
      const fz = e.scores.fuzzing as { accuracy: number; recall: number; f1: number; balancedAccuracy: number };
      assert.deepEqual([fz.accuracy, fz.recall, fz.f1, fz.balancedAccuracy], [0.5, 0, 0, 0.5]);
    }
    assert.equal(llm.seen.filter((x) => x.task === `explain:${throttle}`).length, 2, 'the 429 was retried');
    const explainPrompt = llm.seen.find((x) => x.task === `explain:${good}`)!.body.messages[1].content;
    assert.match(explainPrompt, /<<[^>]+>>/, 'the prompt shows marked examples');
    assert.match(explainPrompt, /Activations: \(/);
    assert.ok(client.tally.promptTokens > 0 && client.tally.cost > 0);
    const before = llm.seen.length;
    const again = await explainFeatures(new LlmClient(cfg(llm.url), registry), target, [good, throttle, other], { score: true });
    assert.equal(again.done.length, 3);
    assert.equal(llm.seen.length, before, 'a rerun makes no calls');
    const forced = new LlmClient(cfg(llm.url), registry);
    await explainFeatures(forced, target, [good], { score: true, force: true });
    assert.equal(llm.seen.length, before, 'even a forced rerun is served from the answer cache');
    assert.equal(forced.tally.cached, 3);
    assert.equal(await describeSteeringChange(forced, 'Once', 'a', 'b'), 'The steered text is about wind.');
    const h = nameHeuristically(target, [good]);
    assert.deepEqual(h.done, [good]);
    assert.equal(registry.explanations(keys.model, keys.sae, good)[0].source, 'heuristic');
  } finally {
    await llm.close();
  }
});

test('scores are computed correctly for known answers', () => {
  const s = classificationScores([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0]);
  assert.deepEqual([s.tp, s.fp, s.tn, s.fn], [2, 1, 2, 1]);
  assert.equal(s.accuracy, 4 / 6);
  assert.equal(s.precision, 2 / 3);
  assert.equal(s.recall, 2 / 3);
  assert.ok(Math.abs(s.f1 - 2 / 3) < 1e-12);
  assert.equal(s.balancedAccuracy, (2 / 3 + 2 / 3) / 2);
  assert.deepEqual(parseLabels('Sure! [1, 0,1]', 3), [1, 0, 1]);
  assert.throws(() => parseLabels('[1, 2]', 2), /malformed scorer answer/);
  assert.throws(() => parseLabels('yes', 1), /malformed scorer answer/);
});

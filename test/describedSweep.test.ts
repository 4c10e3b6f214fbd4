/**
 * `sweep --describe`: each steered output described by a rule-based local
 * OpenAI-compatible server on 127.0.0.1, stages named from the descriptions,
 * and each description compared with the feature's explanation by the cosine
 * of the server's `/v1/embeddings` vectors (deterministic; the expected
 * cosines are recomputed here from the same rule, independently of
 * src/interp/embeddings.ts). An endpoint without embeddings gets a clear
 * message and the lexical fallback, labelled as such.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { Registry } from '../src/registry/registry.ts';
import { needsShared, tinyStories, tmpDir, trainedSae, saescopeCli, keysOf } from './helpers.ts';

const saescope = (args: string[], env?: NodeJS.ProcessEnv) => saescopeCli(args, env);

const DIMS = 8;

/** The server's embedding rule: letter counts folded into 8 bins (a, i, q, y share a bin, ...), plus 1 in the last bin. */
function ruleVector(text: string): number[] {
  const v = new Array<number>(DIMS).fill(0);
  for (const ch of text.toLowerCase()) {
    const c = ch.charCodeAt(0);
    if (c >= 97 && c <= 122) v[(c - 97) % DIMS] += 1;
  }
  v[DIMS - 1] += 1;
  return v;
}

function cos(a: number[], b: number[]): number {
  const dot = a.reduce((s, x, i) => s + x * b[i], 0);
  return dot / Math.sqrt(a.reduce((s, x) => s + x * x, 0) * b.reduce((s, x) => s + x * x, 0));
}

/** The description rule: the steered output's words that the unsteered one lacks. */
function ruleDescription(unsteered: string, steered: string): string {
  const before = new Set(unsteered.toLowerCase().match(/[a-z]+/g) ?? []);
  const added = [...new Set(steered.toLowerCase().match(/[a-z]+/g) ?? [])].filter((w) => !before.has(w)).slice(0, 3);
  return added.length ? `The steered text adds ${added.join(' ')}.` : 'Nothing changed.';
}

async function fakeEndpoint(withEmbeddings: boolean) {
  const seen = { chat: 0, embeddings: 0 };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const send = (code: number, body: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const body = JSON.parse(raw || '{}');
      if (req.url === '/v1/embeddings') {
        if (!withEmbeddings) return send(404, { error: { message: 'no such route' } });
        seen.embeddings++;
        const input = body.input as string[];
        return send(200, { object: 'list', model: body.model, data: input.map((t, index) => ({ object: 'embedding', index, embedding: ruleVector(t) })), usage: { prompt_tokens: 1, total_tokens: 1 } });
      }
      seen.chat++;
      const user = body.messages.find((m: { role: string }) => m.role === 'user').content as string;
      const content = ruleDescription(...parseChange(user));
      send(200, { id: 'x', object: 'chat.completion', created: 0, model: 'rules', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The unsteered and steered continuations from the steering-change prompt (src/interp/prompts.ts:56). */
function parseChange(user: string): [string, string] {
  const m = /Normal continuation: ([\s\S]*?)\n\nSteered continuation: ([\s\S]*)$/.exec(user);
  assert.ok(m, `the steering-change prompt has a normal and a steered continuation: ${user}`);
  return [m[1], m[2]];
}

function withoutLlmModel(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.SAESCOPE_LLM_MODEL;
  return env;
}


test('sweep --describe: descriptions stored, stages named from them, cosines of endpoint embeddings against explanations', { skip: needsShared() }, async () => {
  const sae = await trainedSae();
  const dir = tmpDir();
  const db = path.join(dir, 'reg.db');
  const reg = Registry.open(db);
  const keys = await keysOf(reg, tinyStories, sae);
  const features = [3, 17];
  const explanation = new Map([[3, 'stories about a cat and a dog'], [17, 'the word park and playing outside']]);
  for (const f of features) reg.addExplanation(keys.model, keys.sae, f, { explanation: explanation.get(f)!, source: 'llm', explainerModel: 'rules', promptVersion: null, scores: {} });
  reg.close();
  const llm = await fakeEndpoint(true);
  try {
    const out = path.join(dir, 'sweep.json');
    const csv = path.join(dir, 'sweep.csv');
    const args = ['sweep', '--model', tinyStories, '--sae', sae, '--features', features.join(','), '--prompts', 'Once upon a time,|The little girl', '--magnitudes', '0,2,6,12',
      '--max-new-tokens', '8', '--registry', db, '--out', out, '--csv', csv, '--describe', '--embedding-model', 'rule-embed', '--base-url', llm.url, '--api-key', 'k', '--llm-model', 'rules'];
    const r = await saescope(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cosine of endpoint:rule-embed embeddings/);
    const j = JSON.parse(fs.readFileSync(out, 'utf8'));
    const d = j.described;
    assert.equal(d.method, 'endpoint:rule-embed');
    assert.equal(d.records.length, features.length * 2 * 3, 'one description per feature, prompt and non-zero magnitude');
    const unsteered = new Map<string, string>(j.records.filter((x: { magnitude: number }) => x.magnitude === 0).map((x: { feature: number; prompt: number; text: string }) => [`${x.feature}:${x.prompt}`, x.text]));
    for (const rec of d.records) {
      const steered = j.records.find((x: { feature: number; prompt: number; magnitude: number }) => x.feature === rec.feature && x.prompt === rec.promptIndex && x.magnitude === rec.magnitude).text;
      assert.equal(rec.description, ruleDescription(unsteered.get(`${rec.feature}:${rec.promptIndex}`)!, steered));
      assert.ok(Math.abs(rec.similarity - cos(ruleVector(rec.description), ruleVector(explanation.get(rec.feature)!))) < 1e-6, `similarity of ${rec.description}: ${rec.similarity} vs ${cos(ruleVector(rec.description), ruleVector(explanation.get(rec.feature)!))}`);
    }
    for (const f of d.features) {
      const mine = d.records.filter((x: { feature: number }) => x.feature === f.feature).map((x: { similarity: number }) => x.similarity);
      assert.ok(Math.abs(f.consistency - mine.reduce((a: number, b: number) => a + b, 0) / mine.length) < 1e-9);
      assert.equal(f.explanation, explanation.get(f.feature));
    }
    // Stages: a new stage wherever consecutive descriptions' cosine falls under 0.8; each named by its first description.
    for (const p of d.progressions) {
      const recs = d.records.filter((x: { feature: number; promptIndex: number }) => x.feature === p.feature && x.promptIndex === p.prompt);
      let expected = 1;
      for (let i = 1; i < recs.length; i++) if (cos(ruleVector(recs[i - 1].description), ruleVector(recs[i].description)) < 0.8) expected++;
      assert.equal(p.stages.length, expected);
      assert.equal(p.stages[0].name, recs[0].description);
    }
    assert.ok(typeof d.robustnessVsDensity.n === 'number' && typeof d.consistencyVsDensity.n === 'number');
    const lines = fs.readFileSync(csv, 'utf8').trim().split('\n');
    assert.match(lines[0], /,text,description,similarity$/);
    assert.equal(lines.length, 1 + features.length * 2 * 4);
    const first = d.records[0];
    assert.ok(lines.some((l) => l.startsWith(`${first.feature},${first.promptIndex},${first.magnitude},`) && l.includes(first.description) && l.endsWith(`,${first.similarity}`)), 'the CSV carries each description and its similarity');
    const stored = Registry.open(db);
    assert.equal(stored.steeringDescriptions(keys.model, keys.sae, 3).length, 6);
    stored.close();
    // A rerun answers from the cache: no new chat or embedding calls.
    const calls = { ...llm.seen };
    const again = await saescope(args);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(llm.seen.chat, calls.chat);
    assert.equal(llm.seen.embeddings, calls.embeddings, 'the probe and every vector come from the registry cache');
  } finally {
    await llm.close();
  }
});

test('sweep --describe against an endpoint without embeddings: a clear note and the lexical fallback, labelled', { skip: needsShared() }, async () => {
  const sae = await trainedSae();
  const dir = tmpDir();
  const llm = await fakeEndpoint(false);
  try {
    const r = await saescope(['sweep', '--model', tinyStories, '--sae', sae, '--features', '3', '--prompts', 'Once upon a time,', '--magnitudes', '0,4', '--max-new-tokens', '6',
      '--registry', path.join(dir, 'reg.db'), '--describe', '--embedding-model', 'none-here', '--base-url', llm.url, '--api-key', 'k', '--llm-model', 'rules', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /gives no embeddings .*404.*lexical fallback/);
    const j = JSON.parse(r.stdout);
    assert.equal(j.described.method, 'lexical');
    assert.equal(j.described.features[0].explanation, null, 'no explanation in a fresh registry');
    assert.equal(j.described.records[0].similarity, null);
    const missing = await saescope(['sweep', '--model', tinyStories, '--sae', sae, '--features', '3', '--prompts', 'Once', '--describe', '--api-key', 'k'], { ...withoutLlmModel(), SAESCOPE_CONFIG: path.join(dir, 'none.json') });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no LLM model/);
  } finally {
    await llm.close();
  }
});

/** Corpora, packing, the shuffle buffer and the on-disk activation store. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { readCorpus } from '../src/data/corpus.ts';
import { CHUNK_CHARS, locatePacked, MAX_DOC_CHARS, packRows, textChunks } from '../src/data/pack.ts';
import { exampleDocument } from '../src/analysis/documents.ts';
import { ShuffleBuffer } from '../src/data/shuffleBuffer.ts';
import { collectActivations, readManifest, readShards } from '../src/data/activationStore.ts';
import { loadModel } from '../src/model/load.ts';
import { loadSae } from '../src/sae/load.ts';
import { evaluateSae } from '../src/sae/eval/evaluate.ts';
import { trainSaes } from '../src/sae/train/trainer.ts';
import type { TextTokenizer } from '../src/tokenizer/types.ts';
import { fixtures, needsShared, shared, tinyStories, tmpDir } from './helpers.ts';

async function all(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('corpora: text files, folders, jsonl with a named field, slices, and an npm corpus', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'a.txt'), 'first doc\nstill first\n\nsecond doc\n');
  assert.deepEqual(await all(readCorpus(path.join(dir, 'a.txt'))), ['first doc\nstill first', 'second doc']);
  fs.mkdirSync(path.join(dir, 'f'));
  fs.writeFileSync(path.join(dir, 'f', '2.txt'), 'two');
  fs.writeFileSync(path.join(dir, 'f', '1.txt'), 'one');
  fs.writeFileSync(path.join(dir, 'f', 'skip.md'), 'not text');
  assert.deepEqual(await all(readCorpus(path.join(dir, 'f'))), ['one', 'two']);
  fs.writeFileSync(path.join(dir, 'c.jsonl'), '{"body":"x"}\n{"body":"y"}\n\n{"body":"z"}\n');
  assert.deepEqual(await all(readCorpus(path.join(dir, 'c.jsonl:body'))), ['x', 'y', 'z']);
  assert.deepEqual(await all(readCorpus(path.join(dir, 'c.jsonl:body') + '[1:]')), ['y', 'z']);
  assert.deepEqual(await all(readCorpus(path.join(dir, 'c.jsonl:body') + '[:1]')), ['x']);
  let n = 0;
  for await (const d of readCorpus('npm:nlp-corpus[0:50]')) n += d.length > 0 ? 1 : 0;
  assert.equal(n, 50);
});

test('bad corpora get clear errors', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'empty.txt'), '\n\n  \n');
  await assert.rejects(all(readCorpus(path.join(dir, 'empty.txt'))), /corpus '.*empty\.txt' is empty/);
  fs.writeFileSync(path.join(dir, 'latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
  await assert.rejects(all(readCorpus(path.join(dir, 'latin1.txt'))), /latin1\.txt: not UTF-8 text/);
  fs.writeFileSync(path.join(dir, 'bad.jsonl'), '{"text":"ok"}\n{oops\n');
  await assert.rejects(all(readCorpus(path.join(dir, 'bad.jsonl'))), /bad\.jsonl:2: not valid JSON/);
  fs.writeFileSync(path.join(dir, 'nofield.jsonl'), '{"body":"x"}\n');
  await assert.rejects(all(readCorpus(path.join(dir, 'nofield.jsonl'))), /nofield\.jsonl:1: no string field 'text'/);
  await assert.rejects(all(readCorpus(path.join(dir, 'absent.txt'))), /does not exist/);
  await assert.rejects(all(readCorpus('npm:nothing')), /unknown npm corpus 'npm:nothing'/);
});

test('packing: rows of exactly the context size, each starting with BOS, documents joined by BOS', async () => {
  const tok: TextTokenizer = { vocabSize: 100, bosId: 1, eosId: 2, encode: (t) => [...t].map((c) => c.charCodeAt(0) - 90), decode: () => '', idToToken: () => '' };
  const docs = (async function* () {
    yield 'abcde';
    yield 'fgh';
  })();
  const rows: number[][] = [];
  for await (const r of packRows(docs, tok, { contextSize: 4 })) rows.push(r);
  assert.deepEqual(rows, [[1, 7, 8, 9], [1, 10, 11, 1], [1, 12, 13, 14]]);
});

test('every packed token is traced back to its document and its index there; BOS positions belong to none', async () => {
  const tok: TextTokenizer = { vocabSize: 100, bosId: 1, eosId: 2, encode: (t) => [...t].map((c) => c.charCodeAt(0) - 90), decode: () => '', idToToken: () => '' };
  const texts = ['abcde', 'fgh', '', 'ijklmnopq', 'r', 'stuvw'];
  const docs = async function* () {
    yield* texts;
  };
  for (const prependBos of [true, false]) {
    const rows: number[][] = [];
    for await (const r of packRows(docs(), tok, { contextSize: 4, prependBos })) rows.push(r);
    const at = rows.flatMap((r, row) => r.map((_, pos) => ({ row, pos })));
    const found = await locatePacked(docs(), tok, { contextSize: 4, prependBos }, at);
    at.forEach(({ row, pos }, i) => {
      const o = found[i];
      if (o === null) {
        assert.equal(rows[row][pos], 1, `(${row}, ${pos}) is placed nowhere, so it must be a BOS`);
        return;
      }
      assert.equal(o.text, texts[o.doc]);
      assert.equal(tok.encode(o.text)[o.token], rows[row][pos], `(${row}, ${pos}) is token ${o.token} of document ${o.doc}`);
    });
    // Every document token that made it into a row is found exactly once.
    const seen = found.filter((x) => x !== null).map((x) => `${x.doc}:${x.token}`);
    assert.equal(new Set(seen).size, seen.length);
    assert.equal(seen.length, rows.flat().filter((v) => v !== 1).length, 'every non-BOS token is placed (letters never encode to 1)');
  }
  await assert.rejects(locatePacked(docs(), tok, { contextSize: 4 }, [{ row: 0, pos: 4 }]), /not in a packed row of 4 tokens/);
});

test('an example expands to its document: the window’s activations at its offset, a long document cut around the example', async () => {
  const tok: TextTokenizer = { vocabSize: 100, bosId: 1, eosId: 2, encode: (t) => [...t].map((c) => c.charCodeAt(0) - 90), decode: (ids) => ids.map((id) => String.fromCharCode(id + 90)).join(''), idToToken: (id) => String.fromCharCode(id + 90) };
  const dir = tmpDir();
  const file = path.join(dir, 'docs.txt');
  const texts = ['abc', 'defghijklmnopqrstuvwxyz', 'ab'];
  fs.writeFileSync(file, texts.join('\n\n'));
  // Rows of 4 (BOS + 3): document 1 starts at stream index 4 (after 'abc' and its separating BOS); row 3 holds stream 9..11 = 'ijk'.
  const e = { act: 5, row: 3, pos: 2, focus: 1, tokens: ['i', 'j', 'k'], ids: [], acts: [1, 5, 2] };
  const full = (await exampleDocument(tok, { corpus: file, contextSize: 4 }, e))!;
  assert.equal(full.doc, 1);
  assert.equal(full.tokens.join(''), texts[1]);
  assert.equal(full.first, 0);
  assert.equal(full.tokens[full.focus], 'j');
  assert.deepEqual(full.acts.map((a, i) => (a === null ? null : `${full.tokens[i]}${a}`)).filter((x) => x !== null), ['i1', 'j5', 'k2']);
  // Cut to 6 tokens around the firing token: 'ghijkl' (3 before it, 2 after).
  const cut = (await exampleDocument(tok, { corpus: file, contextSize: 4 }, e, 6))!;
  assert.equal(cut.tokens.join(''), 'ghijkl');
  assert.equal(cut.first, 3);
  assert.equal(cut.total, texts[1].length);
  assert.equal(cut.tokens[cut.focus], 'j');
  assert.deepEqual(cut.acts, [null, null, 1, 5, 2, null]);
  // A row's leading BOS is in no document.
  assert.equal(await exampleDocument(tok, { corpus: file, contextSize: 4 }, { ...e, pos: 0, focus: 0 }), null);
});

test('a long one-line document is tokenized in pieces cut at whitespace, packed the same, and cut at the length limit with a notice', async () => {
  const words = Array.from({ length: 300_000 }, (_, i) => `w${i % 97}`).join(' ');
  const pieces = [...textChunks(words)];
  assert.equal(pieces.join(''), words, 'nothing lost or repeated');
  assert.ok(pieces.length > 20 && pieces.every((p) => p.length <= CHUNK_CHARS));
  assert.ok(pieces.slice(0, -1).every((p) => p.endsWith(' ')), 'every cut falls after a space: no word is split');
  // A tokenizer that counts its calls: no call sees more than a piece.
  let longest = 0;
  const tok: TextTokenizer = { vocabSize: 1000, bosId: 1, encode: (t) => { longest = Math.max(longest, t.length); return [...t].map((c) => c.charCodeAt(0)); }, decode: () => '', idToToken: () => '' };
  const rows: number[][] = [];
  for await (const r of packRows((async function* () { yield words; })(), tok, { contextSize: 128 })) rows.push(r);
  assert.ok(longest <= CHUNK_CHARS);
  const flat = rows.flatMap((r) => r.slice(1));
  assert.deepEqual(flat, [...words.slice(0, flat.length)].map((c) => c.charCodeAt(0)), 'the rows hold the document in order');
  assert.equal(flat.length, Math.floor(words.length / 127) * 127);
  const notes: string[] = [];
  const big = 'a '.repeat(MAX_DOC_CHARS / 2 + 10);
  let n = 0;
  for await (const _r of packRows((async function* () { yield big; })(), tok, { contextSize: 4096, onNotice: (m) => notes.push(m) })) n++;
  assert.deepEqual(notes, [`document 0 has ${big.length} characters; only the first ${MAX_DOC_CHARS} are read`]);
  assert.equal(n, Math.floor(MAX_DOC_CHARS / 4095));
});

test('the shuffle buffer samples without replacement and restores exactly', () => {
  const b = new ShuffleBuffer(2, 4, 3);
  b.push(Float32Array.from([0, 0, 1, 1, 2, 2, 3, 3]));
  const snap = b.snapshot();
  const first = b.take(3);
  const seen = new Set([first[0], first[2], first[4]]);
  assert.equal(seen.size, 3);
  const again = new ShuffleBuffer(2, 4, 99);
  again.restore(snap);
  assert.deepEqual(again.take(3), first);
});

test('the activation store resumes a killed collection and matches an uninterrupted one', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const corpus = path.join(shared, 'corpora', 'tinystories-656K-samples.jsonl') + '[0:100]';
  const opts = { corpus, hook: 'blocks.0.hook_resid_post', contextSize: 64, tokens: 6000, shardTokens: 2000 };
  const straight = tmpDir();
  await collectActivations(model, straight, opts);
  const broken = tmpDir();
  await assert.rejects(collectActivations(model, broken, { ...opts, onShard: () => { throw new Error('killed'); } }), /killed/);
  assert.equal(readManifest(broken)!.shards.length, 1);
  const m = await collectActivations(model, broken, opts);
  assert.ok(m.done && m.tokens === 6000);
  const a = [...readShards(straight)];
  const b = [...readShards(broken)];
  assert.deepEqual(b.map((t) => t.shape), a.map((t) => t.shape));
  a.forEach((t, i) => assert.deepEqual(b[i].data, t.data));
  await assert.rejects(collectActivations(model, broken, { ...opts, hook: 'blocks.1.hook_resid_post' }), /refusing to mix/);
});

test('an SAE whose width does not match the hook, or an empty corpus, is refused clearly', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const sae = loadSae(path.join(fixtures, 'sae-topk')); // d_in 16, hook blocks.0.hook_resid_post
  await assert.rejects(evaluateSae(model, sae, { corpus: 'x', tokens: 10 }), /has d_in 16 but blocks\.0\.hook_resid_post of .* has width 128: it was trained on another model or hook/);
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'empty.jsonl'), '');
  await assert.rejects(trainSaes(model, [{ hook: 'blocks.0.hook_resid_post', architecture: 'topk', dSae: 64, k: 4, out: dir }], { corpus: path.join(dir, 'empty.jsonl'), tokens: 1000, batchSize: 64 }), /is empty/);
  await assert.rejects(trainSaes(model, [{ hook: 'blocks.0.hook_nope', architecture: 'topk', dSae: 64, k: 4, out: dir }], { corpus: 'x', tokens: 1000 }), /unknown hook 'blocks\.0\.hook_nope'/);
  await assert.rejects(trainSaes(model, [{ hook: 'blocks.0.hook_resid_post', architecture: 'topk', dSae: 64, k: 100, out: dir }], { corpus: 'x', tokens: 1000 }), /topk needs k in \[1, 64\], got 100/);
});

test('SAEs train from an on-disk activation store', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const corpus = path.join(shared, 'corpora', 'tinystories-656K-samples.jsonl') + '[0:100]';
  const store = tmpDir();
  await collectActivations(model, store, { corpus, hook: 'blocks.1.hook_resid_pre', contextSize: 64, tokens: 8192, shardTokens: 2048 });
  const out = tmpDir();
  const seen: number[] = [];
  await trainSaes(model, [{ hook: 'blocks.1.hook_resid_pre', architecture: 'topk', dSae: 128, k: 4, out, lr: 2e-3 }], {
    corpus, activations: store, tokens: 30 * 512, batchSize: 512, bufferBatches: 2, onStep: (m) => seen.push(m.saes[0].mseLoss),
  });
  assert.ok(seen[seen.length - 1] < seen[0]);
  assert.equal(loadSae(out).cfg.dSae, 128);
  await assert.rejects(trainSaes(model, [{ hook: 'blocks.0.hook_resid_pre', architecture: 'topk', dSae: 128, k: 4, out }], { corpus, activations: store, tokens: 512, batchSize: 512 }), /holds activations of blocks\.1\.hook_resid_pre, not blocks\.0\.hook_resid_pre/);
});

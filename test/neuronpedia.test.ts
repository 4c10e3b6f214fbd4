/**
 * Neuronpedia explanation exports into the registry. The record shape is the
 * one Neuronpedia's exports and API use (modelId, layer = the SAE's
 * Neuronpedia id, index as a string, description, explanationModelName,
 * typeName; SAELens sae_lens/analysis/neuronpedia_integration.py builds the
 * same keys), as a JSON array or gzipped JSONL.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { Registry } from '../src/registry/registry.ts';
import { importNeuronpedia } from '../src/registry/neuronpedia.ts';
import { writeSafetensors } from '../src/io/safetensors.ts';
import { fixtures, root, tmpDir, keysOf } from './helpers.ts';

const rec = (modelId: string, layer: string, index: string | number, description: string, extra: Record<string, unknown> = {}) => ({
  id: `x${index}`, modelId, layer, index, description, explanationModelName: 'gpt-4o-mini', typeName: 'oai_token-act-pair', authorId: 'a', ...extra,
});

test('a gzipped JSONL export imports matching explanations with source, explainer and scores; the rest is reported', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'explanations.jsonl.gz');
  const lines = [
    rec('gemma-2-2b', '20-gemmascope-mlp-16k', '4691', ' LaTeX formatting elements'),
    rec('gemma-2-2b', '20-gemmascope-mlp-16k', 5196, 'negations in statements', { scores: [{ value: 0.8, type: 'recall' }] }),
    rec('gemma-2-2b', '20-gemmascope-mlp-16k', '5196', 'a second opinion'),
    rec('gemma-2-2b', '20-gemmascope-res-16k', '7', 'another SAE'),
    rec('gpt2-small', '20-gemmascope-mlp-16k', '7', 'another model'),
    rec('gemma-2-2b', '20-gemmascope-mlp-16k', '12', ''),
    rec('gemma-2-2b', '20-gemmascope-mlp-16k', '99999', 'past the width'),
  ];
  fs.writeFileSync(file, zlib.gzipSync(lines.map((l) => JSON.stringify(l)).join('\n') + '\n\n'));
  const reg = Registry.open(path.join(dir, 'r.db'));
  const report = importNeuronpedia(reg, file, { model: 'gemma-2-2b', sae: 'mlp20', npModel: 'gemma-2-2b', npSae: '20-gemmascope-mlp-16k', dSae: 16384 });
  assert.equal(report.imported, 3);
  assert.equal(report.features, 2);
  assert.deepEqual(report.skipped, { 'another SAE (20-gemmascope-res-16k)': 1, 'another model (gpt2-small)': 1, 'empty description': 1, "index past the SAE's 16384 features": 1 });
  const ex = reg.explanations('gemma-2-2b', 'mlp20', 5196);
  assert.deepEqual(ex.map((e) => e.explanation).sort(), ['a second opinion', 'negations in statements']);
  assert.ok(ex.every((e) => e.source === 'neuronpedia' && e.explainerModel === 'gpt-4o-mini' && e.promptVersion === 'oai_token-act-pair'));
  assert.deepEqual(ex.find((e) => e.explanation === 'negations in statements')!.scores, { scores: [{ value: 0.8, type: 'recall' }] });
  assert.equal(reg.explanations('gemma-2-2b', 'mlp20', 4691)[0].explanation, 'LaTeX formatting elements');
  assert.ok(reg.list({ search: 'LaTeX' }).some((r) => r.feature === 4691), 'imported explanations are searchable');
  reg.close();
});

test('a file for another model or SAE is refused by name; the CLI takes the ids from the SAE folder', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'export.json');
  fs.writeFileSync(file, JSON.stringify([rec('gpt2-small', '6-res-jb', '204', 'time-related phrases')]));
  const reg = Registry.open(path.join(dir, 'r.db'));
  assert.throws(() => importNeuronpedia(reg, file, { model: 'm', sae: 's', npModel: 'gemma-2-2b', npSae: '6-res-jb' }), /no explanations for model gemma-2-2b \(the file is for gpt2-small\)/);
  assert.throws(() => importNeuronpedia(reg, file, { model: 'm', sae: 's', npModel: 'gpt2-small', npSae: '7-res-jb' }), /no explanations for SAE 7-res-jb of gpt2-small \(the file has 6-res-jb\)/);
  reg.close();
  // An SAE folder whose metadata names its Neuronpedia id.
  const sae = path.join(dir, 'sae');
  fs.mkdirSync(sae);
  fs.copyFileSync(path.join(fixtures, 'sae-standard', 'sae_weights.safetensors'), path.join(sae, 'sae_weights.safetensors'));
  const cfg = JSON.parse(fs.readFileSync(path.join(fixtures, 'sae-standard', 'cfg.json'), 'utf8'));
  cfg.metadata = { ...cfg.metadata, neuronpedia_id: 'gpt2-small/6-res-jb' };
  fs.writeFileSync(path.join(sae, 'cfg.json'), JSON.stringify(cfg));
  fs.writeFileSync(file, JSON.stringify([rec('gpt2-small', '6-res-jb', '3', 'time-related phrases')]));
  const db = path.join(dir, 'cli.db');
  const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), 'registry', 'import-neuronpedia', '--registry', db, '--model', 'gpt2', '--sae', sae, '--json', file], { encoding: 'utf8' });
  assert.equal(JSON.parse(out).imported, 1);
  const r2 = Registry.open(db);
  const k = await keysOf(r2, 'gpt2', sae);
  assert.equal(k.model, 'hf:gpt2', 'a hub id the cache lacks is filed without a revision');
  assert.equal(r2.explanations(k.model, k.sae, 3)[0].explanation, 'time-related phrases');
  r2.close();
});

test('Gemma 3 sources: a Gemma Scope 2 residual SAE folder names its Neuronpedia id (gemma-3-270m/3-gemmascope-2-res-16k), and its explanations import under it', async () => {
  const dir = tmpDir();
  const sae = path.join(dir, 'gemma-scope-2-270m-pt', 'resid_post', 'layer_3_width_16k_l0_medium');
  fs.mkdirSync(sae, { recursive: true });
  fs.writeFileSync(path.join(sae, 'config.json'), JSON.stringify({ architecture: 'jump_relu', model_name: 'gemma-3-270m' }));
  const [d, n] = [4, 6];
  const t = (shape: number[]) => ({ dtype: 'float32' as const, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i + 1)) });
  writeSafetensors(path.join(sae, 'params.safetensors'), { w_enc: t([d, n]), w_dec: t([n, d]), b_enc: t([n]), b_dec: t([d]), threshold: t([n]) });
  const file = path.join(dir, 'export.json');
  fs.writeFileSync(file, JSON.stringify([rec('gemma-3-270m', '3-gemmascope-2-res-16k', '2', 'the word "the"'), rec('gemma-3-270m', '3-gemmascope-2-res-16k', '9', 'out of range')]));
  const db = path.join(dir, 'r.db');
  const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), 'registry', 'import-neuronpedia', '--registry', db, '--model', 'google/gemma-3-270m', '--sae', sae, '--json', file], { encoding: 'utf8' });
  const report = JSON.parse(out) as { imported: number };
  assert.equal(report.imported, 1, 'feature 9 is outside the SAE\'s 6 latents');
  const reg = Registry.open(db);
  const k = await keysOf(reg, 'google/gemma-3-270m', sae);
  assert.equal(reg.explanations(k.model, k.sae, 2)[0].explanation, 'the word "the"');
  reg.close();
});

/**
 * The dictionary-size ladder. On synthetic rows made of sparse combinations
 * of F random unit directions plus noise, the description length is lowest at
 * the width nearest F, for two values of F (Anthropic's "bounce"). On
 * TinyStories-656K, `saescope ladder` writes ladder.json, ladder.csv and
 * report.html with the measurements in them; widths that do not increase are
 * refused before any work.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { writeSafetensors } from '../src/io/safetensors.ts';
import { bounceEvidence, rowsLadder } from '../src/analysis/ladder/ladder.ts';
import { Rng } from '../src/tensor/random.ts';
import { sparseFactorRows } from './ladderSynthetic.ts';
import { needsShared, storiesCorpus, tinyStories, tmpDir, saescopeCli } from './helpers.ts';

const saescope = (...args: string[]) => saescopeCli(args);

for (const F of [16, 32]) {
  test(`synthetic data with ${F} true factors: the description length is lowest at width ${F} of ${F / 2}, ${F}, ${2 * F}`, async () => {
    const dIn = 64;
    const WIDTHS = [F / 2, F, 2 * F];
    const train = sparseFactorRows({ F, dIn, s: 3, n: 20_000, noise: 0.02, seed: 1 });
    const held = sparseFactorRows({ F, dIn, s: 3, n: 4096, noise: 0.02, seed: 2, directions: train.directions });
    const l = await rowsLadder(train.rows, held.rows, {
      widths: WIDTHS, architecture: 'topk', k: 3, tokens: 2500 * 256, evalTokens: 4096, out: tmpDir(), lr: 1e-2,
      train: { batchSize: 256, seed: 0, deadWindowTokens: 20_000 },
    });
    const bits = l.rungs.map((r) => r.description_length.bits_per_token);
    const lowest = WIDTHS[bits.indexOf(Math.min(...bits))];
    assert.equal(lowest, F, `bits per token by width: ${bits.map((b) => b.toFixed(1)).join(', ')}`);
    assert.equal(l.bounce.description_length, F);
    const ev = l.bounce_evidence.description_length!;
    assert.ok(ev.significant && ev.vs_smaller![1] < 0 && ev.vs_larger![1] < 0, `the bounce stands out of the resampling noise: ${JSON.stringify(ev)}`);
    const atF = l.rungs[WIDTHS.indexOf(F)];
    assert.ok(atF.explained_variance > 0.98, `the width-${F} SAE recovers the factors (EV ${atF.explained_variance})`);
    // Below F the residual dominates: every narrower width pays more residual bits.
    for (const r of l.rungs.filter((x) => x.width < F)) assert.ok(r.description_length.bits_residual > atF.description_length.bits_residual);
    // The parts add up, and MMCS is defined against the neighbours only.
    for (const r of l.rungs) {
      const d = r.description_length;
      assert.ok(Math.abs(d.bits_support + d.bits_values + d.bits_residual + d.bits_dictionary - d.bits_per_token) < 1e-9);
    }
    assert.equal(l.rungs[0].mmcs_smaller, null);
    assert.equal(l.rungs[WIDTHS.length - 1].mmcs_larger, null);
  });
}


test('data with no planted number of factors (isotropic Gaussian rows) reports no bounce, with the bootstrap evidence', async () => {
  const dIn = 64;
  const gauss = (n: number, seed: number) => {
    const rng = new Rng(seed);
    return { dtype: 'float32' as const, shape: [n, dIn], data: Float32Array.from({ length: n * dIn }, () => rng.normal()) };
  };
  const l = await rowsLadder(gauss(20_000, 1), gauss(4096, 2), {
    widths: [8, 16, 32], architecture: 'topk', k: 3, tokens: 1500 * 256, evalTokens: 4096, out: tmpDir(), lr: 1e-2,
    train: { batchSize: 256, seed: 0, deadWindowTokens: 20_000 },
  });
  const e = l.bounce_evidence.description_length!;
  assert.equal(l.bounce.description_length, null, `no bounce: lowest at ${e.width}, differences ${JSON.stringify([e.vs_smaller, e.vs_larger])}`);
  assert.equal(l.bounce.mmcs, null, `no MMCS peak: ${JSON.stringify(l.bounce_evidence.mmcs)}`);
  assert.equal(e.resamples, 400);
  assert.ok(e.interval[0] <= e.value && e.value <= e.interval[1], 'the point estimate lies in its interval');
  // The evidence is recomputed from the rungs: the extreme width is the lowest description length.
  const bits = l.rungs.map((r) => r.description_length.bits_per_token);
  assert.equal(e.width, l.rungs[bits.indexOf(Math.min(...bits))].width);
});

test('a bounce must stand out of the resampling noise: an interior minimum within the noise is no bounce, the same minimum with tight resamples is one', () => {
  const rng = new Rng(3);
  const point = [10, 9.99, 10.01];
  const resample = (sd: number) => Array.from({ length: 400 }, () => point.map((y) => y + sd * rng.normal()));
  const noisy = bounceEvidence(point, resample(0.05), -1, [8, 16, 32], 32);
  assert.equal(noisy.width, 16);
  assert.equal(noisy.significant, false, JSON.stringify(noisy));
  assert.ok(noisy.vs_smaller![0] < 0 && noisy.vs_smaller![1] > 0, 'the difference from the smaller width straddles zero');
  const tight = bounceEvidence(point, resample(0.001), -1, [8, 16, 32], 32);
  assert.equal(tight.significant, true, JSON.stringify(tight));
  // A peak (MMCS) needs both differences above zero; an end is never a bounce.
  assert.equal(bounceEvidence([0.5, 0.6, 0.55], Array.from({ length: 400 }, () => [0.5, 0.6, 0.55]), 1, [8, 16, 32], 10).significant, true);
  assert.equal(bounceEvidence([0.5, 0.6, 0.7], Array.from({ length: 400 }, () => [0.5, 0.6, 0.7]), 1, [8, 16, 32], 10).significant, false);
});

test('saescope ladder on TinyStories-656K writes JSON, CSV and an HTML report', { skip: needsShared() }, async () => {
  const out = tmpDir();
  const r = await saescope('ladder', '--model', tinyStories, '--hook', 'blocks.1.hook_resid_pre', '--widths', '64,128,256', '--arch', 'topk', '--k', '8',
    '--corpus', storiesCorpus + '[0:300]', '--tokens', '24576', '--eval-tokens', '2048', '--batch-size', '1024', '--lr', '2e-3', '--out', out, '--json');
  assert.equal(r.code, 0, r.stderr);
  const l = JSON.parse(r.stdout);
  assert.deepEqual(l.rungs.map((x: { width: number }) => x.width), [64, 128, 256]);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'ladder.json'), 'utf8')), l);
  for (const rung of l.rungs) {
    assert.ok(rung.explained_variance > 0 && rung.explained_variance < 1, `EV ${rung.explained_variance}`);
    assert.ok(rung.ce_loss_score > 0 && rung.ce_loss_score <= 1.05, `CE recovered ${rung.ce_loss_score}`);
    assert.ok(Math.abs(rung.l0 - 8) < 1e-9, 'topk fires exactly k latents');
    assert.ok(rung.description_length.bits_per_token > 0);
    assert.ok(fs.existsSync(path.join(rung.dir, 'cfg.json')) && fs.existsSync(path.join(rung.dir, 'sae_weights.safetensors')));
  }
  assert.ok(l.rungs[1].mmcs_smaller > 0 && l.rungs[1].mmcs_larger > 0);
  const csv = fs.readFileSync(path.join(out, 'ladder.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0].split(',')[0], 'width');
  assert.equal(csv.length, 4);
  assert.equal(Number(csv[2].split(',')[0]), 128);
  assert.ok(Math.abs(Number(csv[2].split(',')[1]) - l.rungs[1].explained_variance) < 1e-5);
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.match(html, /Dictionary-size ladder: topk, k 8 SAEs at blocks\.1\.hook_resid_pre/);
  assert.ok(html.includes(String(l.rungs[2].description_length.bits_per_token)), 'the report carries the measured bits');
  assert.doesNotMatch(html, /<script src=/, 'Chart.js is inlined, the page loads nothing');
  // Every inline script parses (a stray quote in the page's text would break it).
  for (const m of html.matchAll(/<script>([\s\S]*?)<\/script>/g)) assert.doesNotThrow(() => new Function(m[1]), 'an inline script of report.html');
});

test('saescope ladder refuses widths that do not increase, before loading anything', async () => {
  const out = tmpDir();
  const r = await saescope('ladder', '--model', path.join(out, 'no-model'), '--hook', 'blocks.1.hook_resid_pre', '--widths', '128,64,256', '--corpus', 'x', '--tokens', '100', '--out', out);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /widths must be strictly increasing: 128 then 64/);
  const one = await saescope('ladder', '--model', 'm', '--hook', 'h', '--widths', '128', '--corpus', 'x', '--tokens', '100', '--out', out);
  assert.match(one.stderr, /at least two widths/);
  assert.deepEqual(fs.readdirSync(out), [], 'nothing written');
});

test('saescope ladder --rows trains on rows in a safetensors file: the same ladder as rowsLadder on the same split, and clear errors (a failure with a bar running still exits)', { timeout: 120_000 }, async () => {
  const dIn = 32;
  const F = 8;
  const { rows } = sparseFactorRows({ F, dIn, s: 2, n: 5000, noise: 0.02, seed: 5 });
  const dir = tmpDir();
  const file = path.join(dir, 'acts.safetensors');
  writeSafetensors(file, { acts: rows });
  const opts = { widths: [4, 8, 16], tokens: 40 * 256, evalTokens: 1000 };
  const out = path.join(dir, 'cli');
  const r = await saescope('ladder', '--rows', file, '--widths', opts.widths.join(','), '--arch', 'topk', '--k', '2', '--tokens', String(opts.tokens),
    '--eval-tokens', String(opts.evalTokens), '--batch-size', '256', '--lr', '1e-2', '--out', out, '--json');
  assert.equal(r.code, 0, r.stderr);
  const cli = JSON.parse(r.stdout);
  // Recomputed in process: the last 1000 rows held out (a fifth of 5000), the rest trained on.
  const cut = 5000 - 1000;
  const train = { dtype: 'float32' as const, shape: [cut, dIn], data: rows.data.subarray(0, cut * dIn) };
  const held = { dtype: 'float32' as const, shape: [1000, dIn], data: rows.data.subarray(cut * dIn) };
  const l = await rowsLadder(train, held, { widths: opts.widths, architecture: 'topk', k: 2, tokens: opts.tokens, evalTokens: opts.evalTokens, out: path.join(dir, 'lib'), lr: 1e-2, precision: 1 / 64, train: { batchSize: 256, seed: 0 } });
  assert.deepEqual(cli.rungs.map((x: { width: number }) => x.width), opts.widths);
  cli.rungs.forEach((x: { description_length: { bits_per_token: number }; explained_variance: number }, i: number) => {
    assert.ok(Math.abs(x.description_length.bits_per_token - l.rungs[i].description_length.bits_per_token) < 1e-6 * Math.abs(l.rungs[i].description_length.bits_per_token), `width ${opts.widths[i]}`);
    assert.ok(Math.abs(x.explained_variance - l.rungs[i].explained_variance) < 1e-6);
  });
  assert.ok(fs.existsSync(path.join(out, 'report.html')));
  writeSafetensors(path.join(dir, 'two.safetensors'), { a: rows, b: rows });
  const two = await saescope('ladder', '--rows', path.join(dir, 'two.safetensors'), '--widths', '4,8', '--k', '2', '--tokens', '100', '--out', path.join(dir, 'x'));
  assert.match(two.stderr, /holds 2 tensors \(a, b\): name one with --rows-tensor/);
  const both = await saescope('ladder', '--rows', file, '--model', tinyStories, '--widths', '4,8', '--k', '2', '--tokens', '100', '--out', path.join(dir, 'y'));
  assert.match(both.stderr, /give it without --model, --corpus and --eval-corpus/);
  const neither = await saescope('ladder', '--widths', '4,8', '--k', '2', '--tokens', '100', '--out', path.join(dir, 'z'));
  assert.match(neither.stderr, /give --model, --hook and --corpus \(or --rows FILE\.safetensors\)/);
});

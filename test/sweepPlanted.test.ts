/**
 * Steering calibration on a feature whose behaviour is known by construction
 * (issue 28). On TinyStories-656K at blocks.1.hook_resid_pre, a JumpReLU SAE
 * with one planted latent: its encoder is a linear detector of "ball" tokens
 * (Fisher's discriminant fitted here on the corpus, thresholded), its decoder
 * row the final norm's weight times the "ball" unembedding, a push that makes
 * the model write "ball". Every onset, breakpoint, usable range and stage
 * count the sweep reports is recomputed here from generations and read-backs
 * done without the sweep's code.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildDashboards } from '../src/analysis/dashboard.ts';
import { scan } from '../src/analysis/scan.ts';
import { readCorpus } from '../src/data/corpus.ts';
import { packRows } from '../src/data/pack.ts';
import { SafetensorsWeights } from '../src/io/weights.ts';
import { loadModel } from '../src/model/load.ts';
import { Registry } from '../src/registry/registry.ts';
import type { SaeConfig } from '../src/sae/config.ts';
import { Sae } from '../src/sae/sae.ts';
import { typicalMax } from '../src/steering/presets.ts';
import { sweep } from '../src/steering/sweep.ts';
import type { Tensor } from '../src/tensor/tensor.ts';
import { needsShared, storiesCorpus, tinyStories, tmpDir } from './helpers.ts';

const HOOK = 'blocks.1.hook_resid_pre';
const PLANTED = 2;
const f32 = (shape: number[], data: ArrayLike<number>): Tensor<'float32'> => ({ dtype: 'float32', shape, data: Float32Array.from(data) });

/** Solves A x = b (Gaussian elimination with partial pivoting). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((r, i) => [...r, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const k = M[r][c] / M[c][c];
      for (let j = c; j <= n; j++) M[r][j] -= k * M[c][j];
    }
  }
  return M.map((r, i) => r[n] / r[i]);
}

test('a planted "ball" latent: onset where "ball" starts to appear, breakpoint where the text breaks, the usable range between, stages only before it', { skip: needsShared(), timeout: 600_000 }, async () => {
  const model = await loadModel(tinyStories);
  const tok = model.tokenizer!;
  const d = model.spec.dModel;
  const ball = new Set<number>();
  for (let id = 0; id < model.spec.dVocab; id++) if (/ball/.test(tok.decode([id]))) ball.add(id);
  // Fisher's discriminant of "ball" tokens at the hook, from the corpus.
  const X: Float32Array[] = [];
  const y: boolean[] = [];
  for await (const row of packRows(readCorpus(`${storiesCorpus}[0:600]`), tok, { contextSize: 128 })) {
    const x = (await model.run([row], { cache: [HOOK] })).cache[HOOK].data;
    for (let i = 1; i < row.length; i++) {
      X.push(x.slice(i * d, (i + 1) * d));
      y.push(ball.has(row[i]));
    }
  }
  const mean = (sel: boolean) => {
    const m = new Array<number>(d).fill(0);
    let n = 0;
    X.forEach((x, k) => {
      if (y[k] !== sel) return;
      n++;
      for (let j = 0; j < d; j++) m[j] += x[j];
    });
    return m.map((v) => v / n);
  };
  const [mOn, mOff] = [mean(true), mean(false)];
  const S = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  X.forEach((x, k) => {
    const m = y[k] ? mOn : mOff;
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) S[a][b] += (x[a] - m[a]) * (x[b] - m[b]);
  });
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) S[a][b] = S[a][b] / X.length + (a === b ? 1e-2 : 0);
  const w = solve(S, mOn.map((v, j) => v - mOff[j]));
  const wn = Math.hypot(...w);
  const u = w.map((v) => v / wn);
  const project = (x: ArrayLike<number>, i: number) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[i * d + j] * u[j];
    return s;
  };
  const off = X.filter((_, k) => !y[k]).map((x) => project(x, 0)).sort((a, b) => a - b);
  const threshold = off[Math.floor(0.9999 * off.length)];
  // The push: the final norm's weight times the unembedding of "ball", unit length.
  const e = model.unembedding().weight.data.subarray(416 * d, 417 * d);
  assert.equal(tok.decode([416]), 'ball');
  const normW = SafetensorsWeights.fromFolder(tinyStories).get('model.norm.weight').data;
  const vRaw = Array.from({ length: d }, (_, j) => e[j] * normW[j]);
  const vn = Math.hypot(...vRaw);
  const v = vRaw.map((x) => x / vn);

  const dSae = 4;
  const W_enc = new Float32Array(d * dSae);
  for (let j = 0; j < d; j++) W_enc[j * dSae + PLANTED] = u[j];
  const W_dec = new Float32Array(dSae * d);
  W_dec.set(v, PLANTED * d);
  const thresholds = new Float32Array(dSae).fill(1e9);
  thresholds[PLANTED] = threshold;
  const cfg: SaeConfig = {
    architecture: 'jumprelu', dIn: d, dSae, applyBDecToInput: false, normalizeActivations: 'none', hookName: HOOK, modelName: 'TinyStories-656K',
    contextSize: 128, prependBos: true, datasetPath: '', dtype: 'float32',
  };
  const sae = new Sae(cfg, { W_enc: f32([d, dSae], W_enc), b_enc: f32([dSae], new Float32Array(dSae)), W_dec: f32([dSae, d], W_dec), b_dec: f32([d], new Float32Array(d)), threshold: f32([dSae], thresholds) });
  const reg = Registry.open(path.join(tmpDir(), 'r.db'));
  const keys = reg.file(model, sae);
  const s = await scan(model, sae, { corpus: `${storiesCorpus}[600:900]`, tokens: 20_000, contextSize: 128 });
  assert.ok(s.features[PLANTED].count >= 10, `the planted latent fires on the corpus (${s.features[PLANTED].count} times)`);
  reg.setDashboards(keys.model, keys.sae, await buildDashboards(model, sae, s, [PLANTED]));
  const scale = (await typicalMax(model, sae, [PLANTED], { registry: reg, keys })).values.get(PLANTED)!;
  const pushes = [0, 10, 20, 25, 30, 32.5, 35, 37.5, 40, 42.5, 45, 47.5, 50, 55, 60];
  const prompts = ['Once upon a time,', 'The little girl', 'Tom and Sue'];
  const r = await sweep(model, sae, { features: [PLANTED], prompts, magnitudes: pushes.map((p) => p / scale), maxNewTokens: 32, registry: reg, keys });
  const cal = r.features[0];
  assert.ok(Math.abs(cal.typicalMax - scale) < 1e-9);

  // Recompute each output: generate with the push, read it back with the clean model and the detector, perplexity and distinct-2.
  for (let p = 0; p < prompts.length; p++) {
    const promptIds = model.toTokens(prompts[p])[0];
    const rows: { m: number; shows: number; balls: number; ppl: number; distinct2: number; words: Set<string> }[] = [];
    for (const m of [...r.settings.magnitudes]) {
      const vector = Float32Array.from(v, (x) => x * m * cal.typicalMax);
      const out = await model.generate(promptIds, { maxNewTokens: 32, temperature: 0, stopAtEos: false, interventions: m === 0 ? [] : [{ kind: 'add', hook: HOOK, vector }] });
      const all = [...promptIds, ...out.ids];
      const clean = await model.run([all], { cache: [HOOK] });
      const x = clean.cache[HOOK].data;
      const V = model.spec.dVocab;
      let shows = 0;
      let nll = 0;
      for (let i = 0; i < out.ids.length; i++) {
        const pos = promptIds.length + i;
        const pre = project(x, pos);
        const act = pre > threshold ? pre : 0;
        if (act > 0 && act >= cal.natural) shows++;
        const row = clean.logits!.data.subarray((pos - 1) * V, pos * V);
        let mx = -Infinity;
        for (const z of row) mx = Math.max(mx, z);
        let sum = 0;
        for (const z of row) sum += Math.exp(z - mx);
        nll -= row[out.ids[i]] - mx - Math.log(sum);
      }
      const bigrams = out.ids.slice(1).map((t, i) => `${out.ids[i]},${t}`);
      rows.push({
        m, shows, balls: out.ids.filter((t) => ball.has(t)).length, ppl: Math.exp(nll / out.ids.length), distinct2: new Set(bigrams).size / bigrams.length,
        words: new Set(out.text.toLowerCase().match(/[a-z']+/g) ?? []),
      });
    }
    const base = rows[0];
    const onsetRow = rows.find((x) => x.m > 0 && x.shows >= base.shows + 2 + 2 * Math.sqrt(base.shows));
    const breakRow = rows.find((x) => x.m > 0 && (x.ppl > 3 * base.ppl || x.distinct2 < 0.5));
    const got = r.progressions.find((g) => g.prompt === p)!;
    assert.equal(got.onset, onsetRow?.m ?? null, `${prompts[p]}: onset`);
    assert.equal(got.breakpoint, breakRow?.m ?? null, `${prompts[p]}: breakpoint`);
    const before = breakRow ? rows.filter((x) => x.m < breakRow.m) : rows;
    let stages = before.length ? 1 : 0;
    for (let i = 1; i < before.length; i++) {
      const [a, b] = [before[i - 1].words, before[i].words];
      const inter = [...a].filter((w2) => b.has(w2)).length;
      const union = new Set([...a, ...b]).size;
      if ((union === 0 ? 1 : inter / union) < 0.5) stages++;
    }
    assert.equal(got.stages, stages, `${prompts[p]}: stages before the breakpoint`);
    assert.equal(got.degraded, rows.length - before.length, `${prompts[p]}: outputs at or past the breakpoint`);
    assert.deepEqual(got.usable, onsetRow && breakRow && onsetRow.m < breakRow.m ? [onsetRow.m, breakRow.m] : null);
    if (p === 0) {
      // By construction: "ball" is absent unsteered, starts to appear at the onset, and the text breaks later.
      assert.equal(base.balls, 0);
      assert.ok(onsetRow && onsetRow.balls >= 2, `"ball" appears at the onset (${onsetRow?.balls})`);
      assert.ok(rows.filter((x) => x.m < onsetRow.m).every((x) => x.balls < onsetRow.balls), 'and less before it');
      assert.ok(breakRow && onsetRow.m < breakRow.m, `onset ${onsetRow.m} before breakpoint ${breakRow?.m}`);
      assert.deepEqual(got.usable, [onsetRow.m, breakRow.m]);
      assert.ok(got.stages >= 1 && got.degraded >= 1);
    }
  }
  // Per feature: medians over the prompts, with counts; a usable range only when the onset comes first.
  const med = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const ons = r.progressions.map((g) => g.onset).filter((x): x is number => x !== null);
  const brs = r.progressions.map((g) => g.breakpoint).filter((x): x is number => x !== null);
  assert.equal(cal.onsetCount, ons.length);
  assert.equal(cal.breakpointCount, brs.length);
  assert.equal(cal.onset, ons.length ? med(ons) : null);
  assert.equal(cal.breakpoint, brs.length ? med(brs) : null);
  assert.deepEqual(cal.usable, cal.onset !== null && cal.breakpoint !== null && cal.onset < cal.breakpoint ? [cal.onset, cal.breakpoint] : null);
  assert.ok(cal.usable, `the planted latent has a usable range (onset ${cal.onset}, breakpoint ${cal.breakpoint})`);
  // Stored as a candidate: nothing applied until asked.
  assert.equal(reg.calibration(keys.model, keys.sae, PLANTED), undefined);
  assert.equal(reg.steering.calibrationHistory(keys.model, keys.sae, PLANTED)[0].id, cal.id);
  reg.close();
});

/** `eval` says when its loss-based scores mislead (issue 28): zero-ablation no worse than clean, or a clean loss above the unigram entropy. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModel } from '../src/model/load.ts';
import { evaluateSae, evalWarnings, unigramEntropy } from '../src/sae/eval/evaluate.ts';
import { loadSae } from '../src/sae/load.ts';
import { needsShared, storiesCorpus, tinyStories, trainedSae } from './helpers.ts';

test('unigram entropy and the two warnings, on hand-computed cases', () => {
  // p = (1/4, 1/4, 1/2): H = 2 (1/4) ln 4 + (1/2) ln 2 = 1.5 ln 2.
  assert.ok(Math.abs(unigramEntropy([1, 0, 1, 2]) - 1.5 * Math.LN2) < 1e-12);
  assert.equal(unigramEntropy([]), 0);
  assert.deepEqual(evalWarnings(3, 9, 5), []);
  const [zero] = evalWarnings(3, 2.5, 5);
  assert.match(zero, /zero-ablating the hook gives a loss \(2\.5000\) no higher than the clean model's \(3\.0000\): CE loss recovered \(ce_loss_score\) is meaningless here/);
  const [uni] = evalWarnings(6, 9, 5);
  assert.match(uni, /the clean model's loss \(6\.0000\) is above the unigram entropy of these tokens \(5\.0000\)/);
  assert.equal(evalWarnings(6, 5, 5).length, 2);
});

test('a real model and SAE: no warning, and the unigram entropy lies between the clean loss and log V', { skip: needsShared() }, async () => {
  const model = await loadModel(tinyStories);
  const r = await evaluateSae(model, loadSae(await trainedSae()), { corpus: `${storiesCorpus}[1150:1200]`, tokens: 3000, contextSize: 128 });
  assert.deepEqual(r.warnings, []);
  const clean = r.model_performance_preservation.ce_loss_without_sae;
  assert.ok(clean < r.unigram_entropy && r.unigram_entropy < Math.log(model.spec.dVocab), `clean ${clean}, unigram ${r.unigram_entropy}, log V ${Math.log(model.spec.dVocab)}`);
});

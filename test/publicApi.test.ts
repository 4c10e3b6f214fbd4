/**
 * The library as a user imports it: everything here comes from the package's
 * entry (src/index.ts), none from internal modules. A workflow of the seeds on
 * TinyStories-656K: activations from a model, an SAE trained on rows in
 * memory, saved and loaded (same identity), features of a text, a comparison,
 * top contexts traced to their documents, and a record in the registry.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import * as saescope from '../src/index.ts';
import { needsShared, storiesCorpus, tinyStories, tmpDir } from './helpers.ts';

test('the public entry covers a whole workflow: rows -> train -> save/load -> features, compare, scan, dashboards, registry', { skip: needsShared() }, async () => {
  const { loadModel, trainSaesOnRows, saveSae, loadSae, saeIdentity, featuresForText, compareTexts, scan, buildDashboards, locatePacked, readCorpus, Registry } = saescope;
  const model = await loadModel(tinyStories);
  const hook = 'blocks.1.hook_resid_pre';
  const texts = ['Once upon a time, there was a little dog named Max.', 'Lily liked to play in the park with her red ball.', 'The cat sat on the mat and looked at the bird.'];
  const parts = await Promise.all(texts.map((t) => model.run(t, { cache: [hook], logits: 'none' })));
  const d = model.spec.dModel;
  const data = Float32Array.from(parts.flatMap((p) => Array.from(p.cache[hook].data)));
  const rows = { dtype: 'float32' as const, shape: [data.length / d, d], data };
  const dir = tmpDir();
  const { saes } = await trainSaesOnRows(rows, [{ hook, architecture: 'topk', dSae: 64, k: 4, out: path.join(dir, 'sae') }], { tokens: 40 * rows.shape[0], batchSize: rows.shape[0] });
  const trained = saes[0];
  assert.equal(trained.cfg.dSae, 64);
  const again = path.join(dir, 'copy');
  saveSae(trained, again);
  const loaded = loadSae(again);
  assert.equal(saeIdentity(loaded), saeIdentity(trained), 'saved and loaded: the same SAE');
  const f = await featuresForText(model, loaded, texts[0], { top: 5 });
  assert.equal(f.top.length, 5);
  assert.ok(f.top.every((t) => t.count >= 1 && t.count <= 4 * f.tokens.length), 'each listed feature fired on some tokens');
  const same = await compareTexts(model, loaded, texts[1], texts[1]);
  assert.ok(same.every((r) => r.diff === 0), 'a text compared with itself differs nowhere');
  // Scans run on the SAE's own context size; this one was trained on rows, so give it one.
  const corpus = `${storiesCorpus}[0:30]`;
  const s = await scan(model, loaded, { corpus, tokens: 2000, topK: 3, contextSize: 64 });
  const busiest = s.features.map((x, i) => [x.count, i]).sort((a, b) => b[0] - a[0])[0][1];
  const dash = (await buildDashboards(model, loaded, s, [busiest])).get(busiest)!;
  assert.ok(dash.top.length > 0);
  const origins = await locatePacked(readCorpus(corpus), model.tokenizer!, { contextSize: 64 }, dash.top);
  for (const [i, e] of dash.top.entries()) {
    const o = origins[i]!;
    assert.equal(model.tokenizer!.encode(o.text, { bos: false })[o.token], e.ids[e.focus], 'the example names its document and token');
  }
  const reg = Registry.open(path.join(dir, 'r.db'));
  const keys = reg.file(model, loaded, again, 'api-test');
  reg.setDashboards(keys.model, keys.sae, new Map([[busiest, dash]]));
  assert.equal(reg.dashboards.count(keys.model, keys.sae), 1);
  reg.close();
  await model.dispose();
});

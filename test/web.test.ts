/**
 * The web app in a real browser (playwright-core driving Debian's chromium)
 * against a server running the real TinyStories-656K model and an SAE trained
 * by saescope; plus the API under load and bad input. Screenshots of every
 * page go to test-output/screenshots/.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadModel } from '../src/model/load.ts';
import { loadSae } from '../src/sae/load.ts';
import { scan } from '../src/analysis/scan.ts';
import { buildDashboards } from '../src/analysis/dashboard.ts';
import { featuresForText } from '../src/analysis/textFeatures.ts';
import { Registry } from '../src/registry/registry.ts';
import { buildServer } from '../src/server/app.ts';
import type { HookedModel } from '../src/model/hookedModel.ts';
import { needsShared, root, storiesCorpus, tinyStories, tmpDir, trainedSae } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = needsShared() || (fs.existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)`);
const shots = path.join(root, 'test-output', 'screenshots');

let browser: Browser;
let base: string;
let close: () => Promise<void>;
let model: HookedModel;
let saeDir: string;
let busiest: number;
let maxAct: number;
let data: string;

before(async () => {
  if (skip) return;
  if (!fs.existsSync(path.join(root, 'web', 'dist', 'index.html'))) execFileSync('npm', ['run', 'build:web'], { cwd: root, stdio: 'inherit' });
  fs.mkdirSync(shots, { recursive: true });
  model = await loadModel(tinyStories);
  saeDir = await trainedSae();
  const sae = loadSae(saeDir);
  const dbFile = path.join(tmpDir(), 'web.db');
  const reg = Registry.open(dbFile);
  const s = await scan(model, sae, { corpus: storiesCorpus + '[400:600]', tokens: 6000, contextSize: 128 });
  busiest = s.features.map((f, i) => ({ i, n: f.count })).sort((a, b) => b.n - a.n)[0].i;
  maxAct = s.features[busiest].max;
  reg.setDashboards(model.name, saeDir, await buildDashboards(model, sae, s));
  reg.close();
  data = tmpDir();
  fs.writeFileSync(path.join(data, 'stories.jsonl'), fs.readFileSync(storiesCorpus, 'utf8').split('\n').slice(0, 60).join('\n'));
  const { app } = await buildServer(model, { saes: { ts: saeDir }, registry: dbFile, dataDirs: [data], queueLimit: 64 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  close = () => app.close();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await close?.();
});

async function page(hash: string): Promise<Page> {
  const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await p.goto(`${base}/#/${hash}`);
  return p;
}

test('analyze: type a text and see the heatmap, with hover highlighting and links to features', { skip }, async () => {
  const p = await page('analyze');
  await p.fill('#text', 'Once upon a time, there was a little dog named Max.');
  await p.click('#analyze');
  await p.waitForSelector('#heatmap tr[data-feature]');
  const rows = await p.locator('#heatmap tr[data-feature]').count();
  assert.equal(rows, 12);
  const direct = await featuresForText(model, loadSae(saeDir), 'Once upon a time, there was a little dog named Max.', { top: 12 });
  assert.equal(await p.locator('#heatmap tr[data-feature]').first().getAttribute('data-feature'), String(direct.top[0].feature));
  await p.hover('#heatmap td[data-col="3"] >> nth=0');
  assert.ok((await p.locator('#heatmap .hover').count()) > 1, 'hovering highlights the token column');
  await p.screenshot({ path: path.join(shots, 'analyze.png'), fullPage: true });
  await p.click('#top-features a.feature-link >> nth=0');
  await p.waitForSelector('h1:has-text("Feature #")');
  await p.close();
});

test('feature: the dashboard matches the scan; a name edit persists after a reload', { skip }, async () => {
  const p = await page(`feature/ts/${busiest}`);
  await p.waitForSelector('#max-act');
  assert.equal(await p.textContent('#max-act'), maxAct.toFixed(3));
  assert.equal(await p.locator('#top-examples .example').count(), 20);
  assert.ok((await p.locator('#logits-pos li').count()) === 10 && (await p.locator('#neighbors li').count()) === 10);
  await p.waitForSelector('#histogram');
  await p.fill('#name', 'dog and animal words');
  await p.fill('#tags', 'animals, nouns');
  await p.click('#save');
  await p.waitForSelector('#saved:has-text("saved")');
  await p.reload();
  await p.waitForSelector('#max-act');
  assert.equal(await p.inputValue('#name'), 'dog and animal words');
  assert.equal(await p.inputValue('#tags'), 'animals, nouns');
  await p.screenshot({ path: path.join(shots, 'feature.png'), fullPage: true });
  await p.close();
});

test('steer: both outputs stream in side by side; a sweep plots its metrics', { skip }, async () => {
  const p = await page(`steer/ts/${busiest}`);
  await p.selectOption('#mode', 'strength');
  await p.fill('#value', '60');
  await p.click('#steer');
  await p.waitForSelector('#steer-status:has-text("strengths")', { timeout: 60_000 });
  const a = await p.textContent('#unsteered');
  const b = await p.textContent('#steered');
  assert.ok(a!.length > 'Once upon a time,'.length && b!.length > 'Once upon a time,'.length);
  assert.notEqual(a, b);
  await p.click('#run-sweep');
  await p.waitForSelector('#sweep-chart', { timeout: 60_000 });
  await p.screenshot({ path: path.join(shots, 'steer.png'), fullPage: true });
  await p.close();
});

test('compare, registry and jobs pages work', { skip }, async () => {
  const c = await page('compare');
  await c.click('#compare');
  await c.waitForSelector('#diff-table tr >> nth=3');
  await c.waitForSelector('#diff-chart');
  await c.screenshot({ path: path.join(shots, 'compare.png'), fullPage: true });
  await c.close();
  const r = await page('registry');
  await r.fill('#search', 'dog and animal');
  await r.click('#search-btn');
  await r.waitForSelector(`#registry-table a[data-feature="${busiest}"]`);
  await r.screenshot({ path: path.join(shots, 'registry.png'), fullPage: true });
  await r.close();
  const j = await page('jobs');
  await j.fill('#corpus', 'stories.jsonl');
  await j.fill('#tokens', String(6 * 1024));
  await j.fill('#dsae', '128');
  await j.fill('#out', 'web-sae');
  await j.click('#train');
  await j.waitForSelector('.job[data-status="done"]', { timeout: 120_000 });
  await j.waitForSelector('canvas[id^="curve-"]');
  assert.ok(fs.existsSync(path.join(data, 'web-sae', 'cfg.json')), 'the training job saved its SAE');
  await j.screenshot({ path: path.join(shots, 'jobs.png'), fullPage: true });
  await j.close();
});

test('bad input gets a clear error in the page', { skip }, async () => {
  const p = await page('analyze');
  await p.fill('#text', 'x'.repeat(5000));
  await p.click('#analyze');
  await p.waitForSelector('#error:has-text("the limit is 4000")');
  await p.goto(`${base}/#/feature/ts/99999`);
  await p.waitForSelector('#error:has-text("feature 99999 is out of range")');
  await p.goto(`${base}/#/jobs`);
  await p.fill('#corpus', '/etc/passwd');
  await p.click('#train');
  await p.waitForSelector('#error:has-text("outside the data folders")');
  await p.screenshot({ path: path.join(shots, 'errors.png'), fullPage: true });
  await p.close();
});

test('API: 50 concurrent analyze requests are all answered correctly; bad input is a 400', { skip }, async () => {
  const texts = Array.from({ length: 50 }, (_, i) => `Once upon a time, there were ${i} cats and a dog.`);
  const rssBefore = process.memoryUsage().rss;
  const res = await Promise.all(texts.map((text) => fetch(`${base}/api/analyze`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sae: 'ts', text, top: 3 }) })));
  assert.ok(res.every((r) => r.status === 200));
  const bodies = await Promise.all(res.map((r) => r.json() as Promise<{ top: { feature: number }[] }>));
  for (const i of [0, 17, 49]) {
    const direct = await featuresForText(model, loadSae(saeDir), texts[i], { top: 3 });
    assert.deepEqual(bodies[i].top.map((t) => t.feature), direct.top.map((t) => t.feature));
  }
  assert.ok(process.memoryUsage().rss - rssBefore < 200 * 2 ** 20, 'memory stays bounded');
  const post = (url: string, body: unknown) => fetch(`${base}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const big = await post('/api/analyze', { sae: 'ts', text: 'x'.repeat(5000) });
  assert.equal(big.status, 400);
  assert.match((await big.json()).error, /limit is 4000/);
  assert.equal((await fetch(`${base}/api/feature/ts/512`)).status, 400);
  const outside = await post('/api/jobs', { kind: 'scan', sae: 'ts', corpus: '../../etc/passwd', tokens: 10 });
  assert.equal(outside.status, 400);
  assert.match((await outside.json()).error, /outside the data folders/);
  assert.equal((await post('/api/analyze', { sae: 'nope', text: 'hi' })).status, 400);
});

test('API: past the queue limit, requests get 503 with Retry-After rather than a crash', { skip }, async () => {
  const dbFile = path.join(tmpDir(), 'q.db');
  const { app } = await buildServer(model, { saes: { ts: saeDir }, registry: dbFile, dataDirs: [data], queueLimit: 4 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  try {
    const res = await Promise.all(Array.from({ length: 30 }, (_, i) => fetch(`${url}/api/analyze`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sae: 'ts', text: `A story number ${i} about a cat.`, top: 3 }) })));
    const codes = res.map((r) => r.status);
    assert.ok(codes.every((c) => c === 200 || c === 503), String(codes));
    assert.ok(codes.filter((c) => c === 503).length > 0, 'some were refused');
    assert.ok(codes.filter((c) => c === 200).length >= 5, 'the queue still served its share');
    assert.ok(res.filter((r) => r.status === 503).every((r) => Number(r.headers.get('retry-after')) >= 1));
    assert.equal((await fetch(`${url}/api/info`)).status, 200, 'the server is still up');
  } finally {
    await app.close();
  }
});

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
import { heuristicNames } from '../src/interp/heuristic.ts';
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
let scannedCorpus: string;
let dbFile: string;
let scanned: number;
let judged: number[];

before(async () => {
  if (skip) return;
  // Build the web app when it is missing or older than its sources.
  const built = path.join(root, 'web', 'dist', 'index.html');
  const newest = (d: string): number => Math.max(0, ...fs.readdirSync(d, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(path.join(d, e.name)) : fs.statSync(path.join(d, e.name)).mtimeMs)));
  const sources = Math.max(newest(path.join(root, 'web', 'src')), newest(path.join(root, 'web', 'public')), fs.statSync(path.join(root, 'web', 'index.html')).mtimeMs, fs.statSync(path.join(root, 'src', 'server', 'contract.ts')).mtimeMs);
  if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < sources) execFileSync('npm', ['run', 'build:web'], { cwd: root, stdio: 'inherit' });
  fs.mkdirSync(shots, { recursive: true });
  model = await loadModel(tinyStories);
  saeDir = await trainedSae();
  const sae = loadSae(saeDir);
  dbFile = path.join(tmpDir(), 'web.db');
  const reg = Registry.open(dbFile);
  const k = reg.file(model, sae, saeDir);
  // The scanned corpus sits in the data folder, so examples expand to their documents.
  data = tmpDir();
  scannedCorpus = path.join(data, 'scanned.jsonl');
  fs.writeFileSync(scannedCorpus, fs.readFileSync(storiesCorpus, 'utf8').split('\n').slice(400, 600).join('\n'));
  const s = await scan(model, sae, { corpus: scannedCorpus, tokens: 6000, contextSize: 128 });
  busiest = s.features.map((f, i) => ({ i, n: f.count })).sort((a, b) => b.n - a.n)[0].i;
  maxAct = s.features[busiest].max;
  const dashboards = await buildDashboards(model, sae, s);
  reg.setDashboards(k.model, k.sae, dashboards);
  // As the demo and scan jobs do: every feature that fired gets a heuristic name.
  reg.setHeuristicNames(k.model, k.sae, heuristicNames(dashboards));
  scanned = dashboards.size;
  // Scored explanations for three features, one judged example by example (as score --conditional stores it).
  judged = [...dashboards.values()].filter((d) => d.count > 0).slice(0, 3).map((d) => d.feature);
  judged.forEach((f, i) => {
    const id = reg.addExplanation(k.model, k.sae, f, { explanation: `explanation ${f}`, source: 'llm', explainerModel: 'rules', promptVersion: null, scores: {} });
    const d = dashboards.get(f)!;
    const examples = d.quantiles.flatMap((q) => q.examples).map((e, j) => ({ row: e.row, pos: e.pos, match: j % 3 !== 0 }));
    reg.scoreExplanation(id, { detection: { balancedAccuracy: 0.5 + 0.2 * i }, ...(i === 0 ? { conditional: { examples, offTotal: 8, offMatched: 1 } } : {}) });
  });
  reg.close();
  fs.writeFileSync(path.join(data, 'stories.jsonl'), fs.readFileSync(storiesCorpus, 'utf8').split('\n').slice(0, 60).join('\n'));
  const { app } = await buildServer(model, { saes: [{ name: 'ts', dir: saeDir }], registry: dbFile, dataDirs: [data], queueLimit: 64 });
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

test('conditional distribution on the Feature page (by explanation when judged, by token otherwise); density vs detection scatter on the Registry page', { skip }, async () => {
  const p = await page(`feature/ts/${judged[0]}`);
  await p.waitForSelector('#conditional-chart[data-by="explanation"]');
  assert.deepEqual((await p.getAttribute('#conditional-chart', 'data-series'))!.split('\u0001'), ['matches explanation', 'does not match']);
  assert.match((await p.textContent('#conditional-note'))!, /log-likelihood ratio of a match, per interval/);
  await p.screenshot({ path: path.join(shots, 'conditional-explanation.png'), fullPage: true });
  await p.click('#cond-token');
  await p.waitForSelector('#conditional-chart[data-by="token"]');
  const api = await (await fetch(`${base}/api/feature/ts/${judged[0]}`)).json();
  assert.deepEqual((await p.getAttribute('#conditional-chart', 'data-series'))!.split('\u0001'), api.conditional.token.series.map((x: { label: string }) => x.label));
  await p.close();
  const other = await page(`feature/ts/${judged[1]}`);
  await other.waitForSelector('#conditional-chart[data-by="token"]');
  assert.equal(await other.isDisabled('#cond-explanation'), true, 'no judgements: only the token view');
  await other.close();
  const r = await page('registry');
  await r.waitForSelector('#scatter');
  assert.equal(await r.getAttribute('#scatter', 'data-points'), '3');
  const pts = (await (await fetch(`${base}/api/registry/scatter?sae=ts`)).json()).points;
  assert.deepEqual(pts.map((x: { feature: number }) => x.feature).sort((a: number, b: number) => a - b), [...judged].sort((a, b) => a - b));
  await r.screenshot({ path: path.join(shots, 'registry-scatter.png'), fullPage: true });
  await r.close();
});

test('steer: both outputs stream in side by side; a sweep plots its metrics', { skip }, async () => {
  const p = await page(`steer/ts/${busiest}`);
  await p.selectOption('#mode', 'strength');
  await p.fill('#value', '60');
  await p.click('#steer');
  await p.waitForSelector('#steer-status:has-text("strengths used")', { timeout: 60_000 });
  const a = await p.textContent('#unsteered');
  const b = await p.textContent('#steered');
  assert.ok(a!.length > 'Once upon a time,'.length && b!.length > 'Once upon a time,'.length);
  assert.notEqual(a, b);
  // Several values side by side: one column each, decoded in one batch; greedy, so the 60 column equals the single run.
  await p.fill('#value', '20, 60');
  await p.click('#steer');
  await p.waitForSelector('#steered-1');
  await p.waitForSelector('#steer-status:has-text("strengths used")', { timeout: 60_000 });
  assert.deepEqual(await p.locator('.variant-label').allTextContents(), [`#${busiest} +20`, `#${busiest} +60`]);
  assert.equal(await p.textContent('#unsteered'), a);
  assert.equal(await p.textContent('#steered-1'), b, 'the +60 column is the single +60 run');
  assert.notEqual(await p.textContent('#steered'), b);
  assert.match((await p.textContent('#steer-status'))!, new RegExp(`#${busiest} \\+20\\.00 \\| #${busiest} \\+60\\.00`));
  await p.fill('#value', '20, x');
  await p.click('#steer');
  await p.waitForSelector("#error:has-text(\"'x' is not a value\")");
  await p.fill('#value', '60');
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
  // The name searched for is set here (the same one the feature test saves), so this test needs no other test's state.
  const put = await fetch(`${base}/api/feature/ts/${busiest}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'dog and animal words' }) });
  assert.equal(put.status, 200, await put.text());
  const r = await page('registry');
  await r.fill('#search', 'dog and animal');
  await r.press('#search', 'Enter');
  await r.waitForSelector(`#registry-table a[data-feature="${busiest}"]`);
  await r.screenshot({ path: path.join(shots, 'registry.png'), fullPage: true });
  await r.close();
  const j = await page('jobs');
  await j.selectOption('#corpus', 'stories.jsonl');
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
  await p.waitForSelector('#no-feature:has-text("indices run from 0 to 511")');
  await p.goto(`${base}/#/jobs`);
  await p.fill('#dsae', '0');
  await p.click('#train');
  await p.waitForSelector('#error:has-text("dSae must be >= 1")');
  await p.screenshot({ path: path.join(shots, 'errors.png'), fullPage: true });
  await p.close();
});

// Issue 12, the web app as a new user found it: items 1-7, each done the way a user does it.

test('item 1: features carry names everywhere (heuristic names at least); no Explain button without an endpoint', { skip }, async () => {
  const p = await page('analyze');
  await p.fill('#text', 'Once upon a time, there was a little dog named Max.');
  await p.click('#analyze');
  await p.waitForSelector('#top-features td.name');
  const names = (await p.locator('#top-features td.name').allTextContents()).filter((t) => t.trim());
  assert.ok(names.length >= 6, `most top features are named: ${names.join(' | ')}`);
  assert.ok((await p.locator('#heatmap th.fname a').first().textContent())!.length > `#${busiest}`.length + 1, 'heatmap rows show names');
  await p.goto(`${base}/#/feature/ts/${busiest}`);
  await p.waitForSelector('#heuristic-name');
  assert.ok((await p.textContent('#feature-label'))!.trim().length > 0, 'the title carries the label');
  assert.ok((await p.locator('#neighbors .name').count()) > 0, 'neighbours carry names');
  assert.equal(await p.locator('#explain').count(), 0, 'no endpoint configured: no Explain button');
  await p.goto(`${base}/#/compare`);
  await p.click('#compare');
  await p.waitForSelector('#diff-table tr[data-feature]');
  const named = (await p.locator('#diff-table tr[data-feature] td:nth-child(2)').allTextContents()).filter((t) => t.trim());
  assert.ok(named.length > 0, 'compare rows carry names');
  await p.screenshot({ path: path.join(shots, 'item1-names.png'), fullPage: true });
  await p.close();
});

test('item 2: browse features by index (jump, previous, next, random); the registry lists every scanned feature, sorted and paged', { skip }, async () => {
  const p = await page('feature/ts/10');
  await p.waitForSelector('#feature-nav');
  await p.click('#next');
  await p.waitForSelector('h1:has-text("Feature #11")');
  await p.click('#prev');
  await p.click('#prev');
  await p.waitForSelector('h1:has-text("Feature #9")');
  await p.fill('#jump', '300');
  await p.press('#jump', 'Enter');
  await p.waitForSelector('h1:has-text("Feature #300")');
  await p.click('#random');
  await p.waitForFunction(() => !location.hash.endsWith('/300'));
  assert.match(p.url(), /#\/feature\/ts\/\d+$/);
  const r = await page('registry');
  await r.waitForSelector('#page-info');
  assert.equal(await r.textContent('#page-info'), `1-100 of ${scanned} features`, 'every scanned feature is listed, not only named ones');
  await r.click('th[data-sort="density"]');
  await r.waitForSelector('th[data-sort="density"]:has-text("▼")');
  const dens = (await r.locator('#registry-table tr[data-feature] td:nth-child(3)').allTextContents()).map((t) => parseFloat(t));
  assert.ok(dens.length === 100 && dens.every((d, i) => i === 0 || d <= dens[i - 1]), 'sorted by density, highest first');
  await r.click('#page-next');
  await r.waitForSelector(`#page-info:has-text("101-")`);
  await r.screenshot({ path: path.join(shots, 'item2-registry.png'), fullPage: true });
  await r.close();
  await p.close();
});

test('item 4: the jobs form offers the corpora; a finished job shows its explained variance, its SAE joins the menus, and it can be deleted', { skip }, async () => {
  const j = await page('jobs');
  await j.waitForSelector('#corpus option[value="stories.jsonl"]', { state: 'attached' });
  await j.selectOption('#corpus', 'stories.jsonl');
  await j.fill('#tokens', String(4 * 1024));
  await j.fill('#dsae', '64');
  await j.fill('#out', 'menu-sae');
  await j.click('#train');
  await j.waitForSelector('.job[data-status="done"] .final-ev', { timeout: 120_000 });
  assert.match((await j.textContent('.job[data-status="done"] .final-ev'))!, /explained variance 0\.\d{3}/);
  const report = await j.locator('.job[data-status="done"] a.report').first().getAttribute('href');
  const html = await (await fetch(`${base}${report}`)).text();
  assert.match(html, /saescope training report/, 'the job links to its training report');
  assert.match(html, /"curves":\{"tokens":\[\d/, 'with the curves of its log');
  await j.waitForSelector('#scan-sae option[value="menu-sae"]', { state: 'attached' });
  await j.reload();
  await j.waitForSelector('.job[data-status="done"]');
  const before = await j.locator('.job').count();
  await j.click('.job[data-status="done"] button.delete >> nth=0');
  await j.waitForFunction((n) => document.querySelectorAll('.job').length === n - 1, before);
  await j.goto(`${base}/#/analyze`);
  await j.waitForSelector('#sae option[value="menu-sae"]', { state: 'attached' });
  await j.screenshot({ path: path.join(shots, 'item4-jobs.png'), fullPage: true });
  await j.close();
});

test('item 5: a save from a second tab with stale fields is refused and wipes nothing', { skip }, async () => {
  const f = (busiest + 1) % 512;
  const a = await page(`feature/ts/${f}`);
  const b = await page(`feature/ts/${f}`);
  await a.waitForSelector('#save');
  await b.waitForSelector('#save');
  await a.fill('#name', 'first tab name');
  await a.click('#save');
  await a.waitForSelector('#saved:has-text("saved")');
  await b.fill('#notes', 'second tab notes');
  await b.click('#save');
  await b.waitForSelector('#error:has-text("changed elsewhere")');
  await b.screenshot({ path: path.join(shots, 'item5-conflict.png'), fullPage: true });
  await a.reload();
  await a.waitForSelector('#save');
  assert.equal(await a.inputValue('#name'), 'first tab name', "the first tab's edit survives");
  // The same tab saves again without conflict: only changed fields, from its fresh version.
  await a.fill('#notes', 'kept');
  await a.click('#save');
  await a.waitForSelector('#saved:has-text("saved")');
  await a.reload();
  await a.waitForSelector('#save');
  assert.equal(await a.inputValue('#name'), 'first tab name');
  assert.equal(await a.inputValue('#notes'), 'kept');
  await a.close();
  await b.close();
});

test('item 6 and 3: steer inputs are checked, presets show the strength used, and the prompt survives a reload', { skip }, async () => {
  const p = await page('steer/ts/abc');
  await p.waitForSelector('#features');
  assert.equal(await p.inputValue('#features'), '', 'a junk deep link leaves the features box empty');
  assert.ok(!(await p.content()).includes('NaN'), 'no NaN anywhere');
  assert.ok(await p.locator('#value-label').isHidden(), 'the value box hides for presets');
  await p.selectOption('#mode', 'strength');
  assert.ok(await p.locator('#value-label').isVisible());
  await p.selectOption('#mode', 'strong');
  await p.click('#steer');
  await p.waitForSelector('#error:has-text("give at least one feature index")');
  assert.equal(await p.textContent('#steer-status'), '', 'nothing is generating');
  assert.equal(await p.textContent('#steered'), '', 'feature 0 was not steered');
  await p.fill('#features', String(busiest));
  await p.fill('#length', '0');
  await p.click('#steer');
  await p.waitForSelector('#error:has-text("length must be an integer")');
  await p.fill('#length', '12');
  await p.fill('#temperature', '0');
  await p.fill('#prompt', 'The little bird');
  await p.click('#steer');
  await p.waitForSelector('#steer-status:has-text("strengths used")', { timeout: 60_000 });
  assert.match((await p.textContent('#steer-status'))!, new RegExp(`#${busiest} \\+\\d+\\.\\d\\d \\(strong: 0\\.60x typical max, default multiple: no applied calibration\\)`));
  // A server error clears "generating...".
  await p.fill('#features', '511');
  await p.route('**/api/steer', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'the model is busy' }) }));
  await p.click('#steer');
  await p.waitForSelector('#error:has-text("the model is busy")');
  assert.equal(await p.textContent('#steer-status'), '');
  await p.unroute('**/api/steer');
  await p.reload();
  await p.waitForSelector('#prompt');
  assert.equal(await p.inputValue('#prompt'), 'The little bird', 'the prompt is kept on reload');
  await p.screenshot({ path: path.join(shots, 'item6-steer.png'), fullPage: true });
  await p.close();
});

test('item 7: one white-to-red scale with a legend, visible spaces, a click lists a token\'s features, kept on Back; examples wrap at 390 px', { skip }, async () => {
  const p = await page('analyze');
  await p.fill('#text', 'Once upon a time, there was a little dog named Max.');
  await p.click('#analyze');
  await p.waitForSelector('#legend');
  assert.ok((await p.locator('#heatmap th.tok').allTextContents()).some((t) => t.startsWith('·')), 'spaces are visible');
  const shared = await p.locator('#heatmap tr[data-feature] td').evaluateAll((tds) => tds.map((td) => (td as HTMLElement).style.background));
  assert.ok(shared.every((c) => /^rgb\(/.test(c)), 'cells use the white-to-red scale');
  await p.check('#per-row');
  const perRow = await p.locator('#heatmap tr[data-feature] td').evaluateAll((tds) => tds.map((td) => (td as HTMLElement).style.background));
  assert.notDeepEqual(perRow, shared, 'per-row scaling is an option');
  await p.uncheck('#per-row');
  await p.click('#heatmap th.tok[data-col="4"]');
  await p.waitForSelector('#token-features h3:has-text("Features at token 4")');
  await p.click('#top-features a.feature-link >> nth=0');
  await p.waitForSelector('h1:has-text("Feature #")');
  await p.goBack();
  await p.waitForSelector('#token-features h3:has-text("Features at token 4")');
  assert.equal(await p.locator('#heatmap tr[data-feature]').count(), 12, 'the result is kept on Back');
  await p.screenshot({ path: path.join(shots, 'item7-heatmap.png'), fullPage: true });
  await p.setViewportSize({ width: 390, height: 800 });
  await p.goto(`${base}/#/feature/ts/${busiest}`);
  await p.waitForSelector('#top-examples .example');
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `feature examples wrap at 390 px (page overflows by ${overflow} px)`);
  await p.screenshot({ path: path.join(shots, 'item7-390px.png'), fullPage: true });
  await p.close();
});

test('item 8: a favicon is served', { skip }, async () => {
  const r = await fetch(`${base}/favicon.svg`);
  assert.equal(r.status, 200);
  assert.match(await r.text(), /<svg/);
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
  const { app } = await buildServer(model, { saes: [{ name: 'ts', dir: saeDir }], registry: dbFile, dataDirs: [data], queueLimit: 4 });
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

test('issue 28: a one-prompt sweep from the Steer page is weak evidence and changes no preset until applied; undo restores them', { skip }, async () => {
  const p = await page(`steer/ts/${busiest}`);
  await p.waitForSelector('#features');
  assert.equal(await p.inputValue('#temperature'), '0', 'steered-vs-unsteered comparisons are greedy by default');
  await p.selectOption('#mode', 'strong');
  await p.fill('#length', '12');
  const strengths = async () => {
    await p.evaluate(() => (document.getElementById('steer-status')!.textContent = ''));
    await p.click('#steer');
    await p.waitForSelector('#steer-status:has-text("strengths used")', { timeout: 60_000 });
    return (await p.textContent('#steer-status'))!;
  };
  const feature = async () => (await (await fetch(`${base}/api/feature/ts/${busiest}`)).json()) as { calibration: { usable: unknown } | null; calibrations: { id: number; applied: boolean }[] };
  const s0 = await strengths();
  assert.match(s0, /default multiple: no applied calibration/);
  const stored0 = (await feature()).calibrations.length;
  await p.click('#run-sweep');
  await p.waitForSelector('#sweep-summary', { timeout: 120_000 });
  assert.ok(await p.locator('#weak-evidence').isVisible(), 'one prompt x 20 tokens is labelled weak evidence');
  const swept = await feature();
  assert.equal(swept.calibrations.length, stored0 + 1, 'the sweep stored its calibration');
  assert.equal(swept.calibration, null, 'but applied nothing');
  assert.equal(await strengths(), s0, 'the presets are unchanged');
  await p.click('#apply-calibration');
  await p.waitForSelector('#calibration-state:has-text("applied")');
  const applied = await feature();
  assert.ok(applied.calibration && applied.calibrations[0].applied);
  assert.match(await strengths(), applied.calibration.usable ? /from the feature's applied calibration/ : /the applied calibration has no usable range/);
  await p.screenshot({ path: path.join(shots, 'steer-calibration-applied.png'), fullPage: true });
  await p.click('#undo-calibration');
  await p.waitForSelector('#calibration-state:has-text("undone")');
  assert.equal((await feature()).calibration, null, 'undo restores the defaults');
  assert.equal(await strengths(), s0);
});

test('issue 29: a slow answer for a page left behind never shows beside the new one; pages say they are loading; busy buttons take one click', { skip }, async () => {
  const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const slow = busiest === 0 ? 1 : 0;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await p.route(`**/api/feature/ts/${slow}`, async (route) => {
    await held;
    await route.continue();
  });
  await p.goto(`${base}/#/feature/ts/${slow}`);
  await p.waitForSelector('#loading');
  await p.evaluate((f) => (location.hash = `#/feature/ts/${f}`), busiest);
  await p.waitForSelector('h1:has-text("Feature #")');
  // Let the left-behind page's answer arrive and its code run to the end.
  const late = p.waitForResponse((r) => r.url().endsWith(`/api/feature/ts/${slow}`));
  release();
  await late;
  await p.evaluate(() => new Promise((r) => setTimeout(r, 0)));
  const h1s = await p.locator('h1').allTextContents();
  assert.equal(h1s.length, 1, `one heading: ${h1s.join(' | ')}`);
  assert.match(h1s[0], new RegExp(`Feature #${busiest}\\b`));
  assert.equal(await p.locator('#loading').count(), 0);
  assert.match(await p.title(), new RegExp(`^Feature ts #${busiest}`));
  // Analyze: busy while its request runs; a second click sends nothing; Ctrl+Enter submits.
  let analyses = 0;
  let go!: () => void;
  const gate = new Promise<void>((r) => (go = r));
  await p.route('**/api/analyze', async (route) => {
    analyses++;
    await gate;
    await route.continue();
  });
  await p.goto(`${base}/#/analyze`);
  await p.waitForSelector('#text');
  assert.equal(await p.title(), 'Analyze · saescope');
  await p.click('#analyze');
  await p.waitForSelector('#analyze[disabled]');
  await p.click('#analyze', { force: true });
  go();
  await p.waitForSelector('#heatmap');
  assert.equal(analyses, 1, 'a double click sends one request');
  await p.fill('#text', 'The dog ran to the park.');
  await p.focus('#text');
  await p.keyboard.press('Control+Enter');
  await p.waitForFunction(() => [...document.querySelectorAll('#heatmap th.tok')].some((t) => t.textContent?.includes('dog')));
  assert.equal(analyses, 2);
  await p.unroute('**/api/analyze');
  // Six rows shown; a click on a token lists every feature active there (k = 8 for this topk SAE).
  await p.selectOption('#rows', '6');
  await p.click('#analyze');
  await p.waitForFunction(() => document.querySelectorAll('#heatmap tr[data-feature]').length === 6);
  await p.click('#heatmap th.tok[data-col="2"]');
  assert.equal(await p.locator('#token-features tr[data-feature]').count(), 8);
  await p.close();
});

test('issue 29: keyboard, links that name nothing, settings that survive a reload, identical texts', { skip }, async () => {
  const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await p.goto(`${base}/#/feature/ts/abc`);
  await p.waitForSelector('#no-feature');
  assert.match((await p.textContent('#no-feature'))!, /'abc' is not a feature index: ts has features 0 to 511/);
  await p.goto(`${base}/#/steer/nosuch/5`);
  await p.waitForSelector('#link-problem');
  assert.match((await p.textContent('#link-problem'))!, /No SAE named 'nosuch' here \(known: ts[^)]*\); showing ts\./);
  // Steer: Enter in the prompt steers once; the settings survive a reload.
  let steers = 0;
  p.on('request', (r) => {
    if (r.url().endsWith('/api/steer')) steers++;
  });
  await p.goto(`${base}/#/steer`);
  await p.waitForSelector('#features');
  await p.fill('#features', String(busiest));
  await p.selectOption('#mode', 'strength');
  await p.fill('#value', '3');
  await p.dispatchEvent('#value', 'change');
  await p.fill('#length', '6');
  await p.dispatchEvent('#length', 'change');
  // The first steer is held at the network until both presses are made, so the second lands while it is in flight.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await p.route('**/api/steer', async (route) => {
    await held;
    await route.continue();
  });
  await p.focus('#prompt');
  await p.keyboard.press('Enter');
  await p.keyboard.press('Enter');
  release();
  await p.waitForSelector('#steer-status:has-text("strengths used")', { timeout: 60_000 });
  await p.unroute('**/api/steer');
  assert.equal(steers, 1, 'Enter twice while it streams starts one stream');
  await p.reload();
  await p.waitForSelector('#features');
  assert.deepEqual([await p.inputValue('#features'), await p.inputValue('#mode'), await p.inputValue('#value'), await p.inputValue('#length')], [String(busiest), 'strength', '3', '6']);
  // Compare: identical texts say so; the texts survive a reload; Ctrl+Enter runs it.
  await p.goto(`${base}/#/compare`);
  await p.waitForSelector('#text-a');
  await p.fill('#text-a', 'The same words.');
  await p.fill('#text-b', 'The same words.');
  await p.focus('#text-b');
  await p.keyboard.press('Control+Enter');
  await p.waitForSelector('#no-difference');
  await p.reload();
  await p.waitForSelector('#text-a');
  assert.equal(await p.inputValue('#text-b'), 'The same words.');
  await p.close();
});

test('issue 29: the Registry keeps its sort and page on Back, pages at the bottom too, and searches % literally', { skip }, async () => {
  const p = await page('registry');
  await p.waitForSelector('#registry-table');
  await p.click('th[data-sort="density"]');
  await p.waitForSelector('th[data-sort="density"]:has-text("▼")');
  await p.click('#page-next-bottom');
  await p.waitForSelector('#page-info:has-text("101-")');
  const first = await p.locator('#registry-table tr[data-feature]').first().getAttribute('data-feature');
  await p.click(`#registry-table tr[data-feature="${first}"] a`);
  await p.waitForSelector('h1:has-text("Feature #")');
  await p.goBack();
  await p.waitForSelector('#page-info:has-text("101-")');
  assert.equal(await p.locator('#registry-table tr[data-feature]').first().getAttribute('data-feature'), first, 'the same page, in the same order');
  assert.match((await p.textContent('th[data-sort="density"]'))!, /▼/);
  await p.fill('#search', '%');
  await p.click('#search-btn');
  await p.waitForSelector('#registry-empty');
  assert.equal(await p.textContent('#registry-empty'), 'Nothing matches.', "'%' is a character, not a wildcard");
  await p.fill('#search', '');
  await p.click('#search-btn');
  await p.close();
});

test('issue 29: what a Neuronpedia user expects on the feature page: a test box on one\'s own text, a log-scale histogram, every explanation listed; search by explanation across SAEs', { skip }, async () => {
  const f = judged[0];
  const p = await page(`feature/ts/${f}`);
  await p.waitForSelector('#test-text');
  const text = 'Once upon a time, there was a little dog named Max.';
  await p.fill('#test-text', text);
  await p.click('#test-run');
  await p.waitForSelector('#test-result .tok');
  const shown = await p.locator('#test-result .tok').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-act'))));
  // The activations, recomputed here with the library.
  const r = await featuresForText(model, loadSae(saeDir), text, { top: 1 });
  const want = r.tokens.map((_, t) => {
    for (let q = r.codes.offsets[t]; q < r.codes.offsets[t + 1]; q++) if (r.codes.indices[q] === f) return r.codes.values[q];
    return 0;
  });
  assert.equal(shown.length, want.length);
  shown.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-4, `token ${i}: ${v} vs ${want[i]}`));
  await p.check('#hist-log');
  assert.equal(await p.getAttribute('#histogram', 'data-scale'), 'logarithmic');
  const api = (await (await fetch(`${base}/api/feature/ts/${f}`)).json()) as { explanations: unknown[] };
  await p.click('#all-explanations summary');
  assert.equal(await p.locator('#all-explanations tr[data-source]').count(), api.explanations.length);
  assert.ok(await p.locator('#all-explanations tr[data-source="llm"] td', { hasText: 'rules' }).count() > 0, 'the explainer is listed');
  // A shareable link: the same feature, the same text tested, the log scale on.
  await p.click('#test-run');
  await p.waitForFunction((l) => document.getElementById('share')?.getAttribute('href') === l, `#/feature/ts/${f}?${new URLSearchParams({ text, log: '1' })}`);
  const shared = await browser.newPage();
  await shared.goto(`${base}/${(await p.getAttribute('#share', 'href'))!}`);
  await shared.waitForSelector('#test-result .tok');
  assert.equal(await shared.inputValue('#test-text'), text);
  assert.equal(await shared.getAttribute('#histogram', 'data-scale'), 'logarithmic');
  await shared.close();
  await p.goto(`${base}/#/registry`);
  await p.waitForSelector('#search-all');
  await p.fill('#search-all', `explanation ${f}`);
  await p.click('#search-all-btn');
  await p.waitForSelector(`#search-all-results tr[data-feature="${f}"][data-sae="ts"]`);
  await p.close();
});

test('issue 29: top activations expand to their whole documents (read from the scan\'s corpus, only inside --data)', { skip }, async () => {
  const p = await page(`feature/ts/${busiest}`);
  await p.waitForSelector('#top-examples .example .expand');
  const feature = (await (await fetch(`${base}/api/feature/ts/${busiest}`)).json()) as { documents: boolean; dashboard: { top: { row: number; pos: number; act: number; focus: number; acts: number[] }[] } };
  assert.equal(feature.documents, true);
  const e = feature.dashboard.top[0];
  await p.locator('#top-examples .example .expand').first().click();
  await p.waitForSelector('#top-examples .example .document');
  const doc = (await (await fetch(`${base}/api/feature/ts/${busiest}/document?row=${e.row}&pos=${e.pos}`)).json()) as { doc: number; total: number; first: number; tokens: string[]; acts: (number | null)[]; focus: number };
  // Independently: the document is that line of the corpus file, and its tokens are the model's tokenization of it.
  const text = (JSON.parse(fs.readFileSync(scannedCorpus, 'utf8').split('\n')[doc.doc]) as { text: string }).text;
  assert.equal(doc.tokens.join(''), text);
  assert.equal(doc.total, model.tokenizer!.encode(text, { bos: false }).length);
  // The example's window keeps its activations at its place in the document; the firing token carries the example's activation.
  assert.ok(Math.abs(doc.acts[doc.focus]! - e.act) < 1e-6);
  e.acts.forEach((a, i) => {
    const at = doc.focus + i - e.focus;
    if (at >= 0 && at < doc.tokens.length) assert.ok(Math.abs(doc.acts[at]! - a) < 1e-6, `window token ${i}`);
  });
  assert.equal(await p.locator('#top-examples .example').first().locator('.document .tok').count(), doc.tokens.length);
  assert.match((await p.locator('#top-examples .example').first().locator('.doc-head').textContent())!, new RegExp(`document ${doc.doc}, ${doc.total} tokens`));
  await p.screenshot({ path: path.join(shots, 'feature-document.png') });
  // Toggled back, the window alone shows again.
  await p.locator('#top-examples .example .expand').first().click();
  assert.equal(await p.locator('#top-examples .example').first().locator('.document').count(), 0);
  await p.close();
  // Only the dashboard's own examples are served.
  assert.equal((await fetch(`${base}/api/feature/ts/${busiest}/document?row=${e.row + 100000}&pos=${e.pos}`)).status, 404);
  // A server whose data folders do not hold the scan's corpus offers no documents and reads none.
  const other = await buildServer(model, { saes: [{ name: 'ts', dir: saeDir }], registry: dbFile, dataDirs: [tmpDir()], queueLimit: 4 });
  try {
    const r = await other.app.inject({ method: 'GET', url: `/api/feature/ts/${busiest}` });
    assert.equal((r.json() as { documents: boolean }).documents, false);
    const d = await other.app.inject({ method: 'GET', url: `/api/feature/ts/${busiest}/document?row=${e.row}&pos=${e.pos}` });
    assert.equal(d.statusCode, 404);
    assert.match((d.json() as { error: string }).error, /not one this server may read/);
  } finally {
    await other.app.close();
  }
});

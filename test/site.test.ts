/**
 * The static site (`saescope export-site`, `saescope serve-site`) in Debian's
 * Chromium: the model and a trained SAE run in the page on onnxruntime-web.
 * The heatmap of a typed text equals `saescope features --json` in Node to
 * 1e-4; steering at strength 0 reproduces the unsteered greedy text and the
 * strong preset changes it; a reload works offline after the first visit; no
 * request leaves the site's own origin; a missing or corrupted weight file is
 * named in the page.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { serveSite } from '../src/site/serveSite.ts';
import { needsShared, root, storiesCorpus, tinyStories, tmpDir, trainedSae, saescopeCli } from './helpers.ts';

const saescope = (...args: string[]) => saescopeCli(args);

const CHROMIUM = '/usr/bin/chromium';
const skip = needsShared() || (fs.existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)`);
const shots = path.join(root, 'test-output', 'screenshots');
const TEXT = 'Once upon a time, there was a little dog named Max. He liked to run in the park.';

let browser: Browser;
let site: string;
let sae: string;


before(async () => {
  if (skip) return;
  const built = path.join(root, 'web', 'dist-site', 'site.html');
  if (!fs.existsSync(built)) await promisify(execFile)('npm', ['run', 'build:web'], { cwd: root });
  fs.mkdirSync(shots, { recursive: true });
  sae = await trainedSae();
  const dir = tmpDir();
  const db = path.join(dir, 'reg.db');
  const scan = await saescope('scan', '--model', tinyStories, '--sae', sae, '--corpus', storiesCorpus + '[400:500]', '--tokens', '4000', '--registry', db, '--json');
  assert.equal(scan.code, 0, scan.stderr);
  site = path.join(dir, 'site');
  const ex = await saescope('export-site', '--model', tinyStories, '--sae', `ts=${sae}`, '--registry', db, '--out', site, '--json');
  assert.equal(ex.code, 0, ex.stderr);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

/** Opens the site in a fresh context, recording every request; waits until the engine is ready (or failed). */
async function open(url: string, ctx?: BrowserContext): Promise<{ page: Page; ctx: BrowserContext; requests: string[] }> {
  const context = ctx ?? (await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  const requests: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 120_000 });
  return { page, ctx: context, requests };
}

async function heatmapOf(page: Page, text: string): Promise<Map<number, number[]>> {
  await page.goto(page.url().replace(/#.*$/, '') + '#/analyze');
  await page.fill('#text', text);
  await page.click('#analyze');
  await page.waitForSelector('#heatmap tr[data-feature]', { timeout: 60_000 });
  const rows = await page.$$eval('#heatmap tr[data-feature]', (trs) => trs.map((tr) => [Number(tr.getAttribute('data-feature')), [...tr.querySelectorAll('td[data-value]')].map((td) => Number(td.getAttribute('data-value')))] as [number, number[]]));
  return new Map(rows);
}

async function steerOnce(page: Page, mode: string, value: string, feature: number): Promise<{ steered: string; unsteered: string }> {
  await page.goto(page.url().replace(/#.*$/, '') + '#/steer');
  await page.waitForSelector('#features');
  await page.fill('#prompt', 'Once upon a time,');
  await page.fill('#features', String(feature));
  await page.selectOption('#mode', mode);
  if (mode === 'strength') await page.fill('#value', value);
  await page.fill('#temperature', '0');
  await page.fill('#length', '20');
  await page.click('#steer');
  await page.waitForSelector('#steer-status:has-text("strengths used")', { timeout: 120_000 });
  return { steered: (await page.textContent('#steered'))!, unsteered: (await page.textContent('#unsteered'))! };
}

test('the exported site runs the model and SAE in the page: the heatmap equals Node\'s, steering at 0 is exact, offline reload, no foreign request', { skip }, async () => {
  const { app, url } = await serveSite(site, { port: 0 });
  let closed = false;
  try {
    const { page, ctx, requests } = await open(url + '/');
    assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', await page.textContent('#error') ?? '');
    // The heatmap, against the CLI in Node on the same text.
    const cli = await saescope('features', '--model', tinyStories, '--sae', sae, '--top', '12', '--json', TEXT);
    assert.equal(cli.code, 0, cli.stderr);
    const node = JSON.parse(cli.stdout) as { heatmap: { features: number[]; values: number[][] } };
    const inPage = await heatmapOf(page, TEXT);
    assert.deepEqual([...inPage.keys()], node.heatmap.features, 'the same features, in the same order');
    let worst = 0;
    node.heatmap.features.forEach((f, i) => {
      const a = inPage.get(f)!;
      assert.equal(a.length, node.heatmap.values[i].length);
      a.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - node.heatmap.values[i][j]))));
    });
    assert.ok(worst < 1e-4, `heatmap differs from Node by ${worst}`);
    await page.screenshot({ path: path.join(shots, 'site-analyze.png'), fullPage: true });
    // Steering: strength 0 is the unsteered greedy text exactly; the strong preset changes it.
    const f = node.heatmap.features[0];
    const zero = await steerOnce(page, 'strength', '0', f);
    assert.ok(zero.unsteered.length > 'Once upon a time,'.length);
    assert.equal(zero.steered, zero.unsteered);
    const strong = await steerOnce(page, 'strong', '', f);
    assert.equal(strong.unsteered, zero.unsteered, 'greedy is deterministic');
    assert.notEqual(strong.steered, strong.unsteered, 'the strong preset changes the text');
    await page.screenshot({ path: path.join(shots, 'site-steer.png'), fullPage: true });
    // A feature dashboard from the exported registry.
    await page.goto(url + `/#/feature/ts/${f}`);
    await page.waitForSelector('#max-act');
    await page.waitForSelector('#conditional-chart[data-by="token"]');
    // The site cannot save or sweep, so it offers neither.
    assert.equal(await page.locator('#save').count(), 0);
    assert.equal(await page.locator('#record-view').count(), 1);
    await page.goto(url + `/#/steer/ts/${f}`);
    await page.waitForSelector('#steer');
    assert.equal(await page.locator('#run-sweep').count(), 0);
    // Every request so far went to the site itself.
    const foreign = requests.filter((r) => !r.startsWith(url + '/'));
    assert.deepEqual(foreign, [], 'no request to another host');
    // Offline: the server stops, the browser goes offline, and a reload still starts and analyzes.
    await app.close();
    closed = true;
    await ctx.setOffline(true);
    await page.goto(url + '/#/analyze');
    await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', `offline reload: ${await page.textContent('#error')}`);
    const again = await heatmapOf(page, TEXT);
    assert.deepEqual([...again.keys()], node.heatmap.features);
    await page.screenshot({ path: path.join(shots, 'site-offline.png'), fullPage: true });
    await ctx.close();
  } finally {
    if (!closed) await app.close();
  }
});

test('--weights int8: the site ships the block-quantized weights and matches Node\'s int8 model', { skip }, async () => {
  const dir = tmpDir();
  const out = path.join(dir, 'site8');
  const ex = await saescope('export-site', '--model', tinyStories, '--weights', 'int8', '--sae', `ts=${sae}`, '--out', out, '--allow-empty', '--json');
  assert.equal(ex.code, 0, ex.stderr);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'data', 'manifest.json'), 'utf8'));
  assert.equal(m.model.quant.entries.bits, 8);
  assert.equal(m.model.quant.mode, 'int8', 'the manifest names the weight mode the page rebuilds (int4 and int4-f32 share a file)');
  assert.deepEqual(m.model.weights.map((w: { path: string }) => w.path), ['data/model/rest.safetensors'], 'no float copy of the quantized tensors');
  assert.ok(m.model.quant.declared.some((d: { name: string }) => d.name === 'lm_head.weight'));
  const { app, url } = await serveSite(out, { port: 0 });
  try {
    const { page, ctx } = await open(url + '/');
    assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', (await page.textContent('#error')) ?? '');
    const cli = await saescope('features', '--model', tinyStories, '--weights', 'int8', '--sae', sae, '--top', '12', '--json', TEXT);
    assert.equal(cli.code, 0, cli.stderr);
    const node = JSON.parse(cli.stdout) as { heatmap: { features: number[]; values: number[][] } };
    const inPage = await heatmapOf(page, TEXT);
    let worst = 0;
    let scale = 0;
    node.heatmap.features.forEach((f, i) => node.heatmap.values[i].forEach((v, j) => {
      scale = Math.max(scale, Math.abs(v));
      worst = Math.max(worst, Math.abs(v - (inPage.get(f)?.[j] ?? 0)));
    }));
    // The same int8 weights; WebAssembly's and the native MatMulNBits kernels may round int8 activations differently.
    assert.ok(worst <= 0.02 * scale, `int8 heatmap differs from Node's int8 by ${worst} (largest value ${scale})`);
    await ctx.close();
  } finally {
    await app.close();
  }
});

test('?ep=webgpu without a GPU adapter (this headless Chromium has none): a notice, then WebAssembly, and the page works', { skip }, async () => {
  const { app, url } = await serveSite(site, { port: 0 });
  try {
    const { page, ctx } = await open(url + '/?ep=webgpu');
    assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', (await page.textContent('#error')) ?? '');
    assert.match((await page.textContent('.site-notice'))!, /WebGPU was asked for \(\?ep=webgpu\), but this browser offers no (GPU adapter|WebGPU): running on WebAssembly/);
    assert.equal(await page.evaluate(() => (window as unknown as { saescopeBackend: string }).saescopeBackend), 'wasm');
    assert.ok((await heatmapOf(page, TEXT)).size > 0);
    await ctx.close();
  } finally {
    await app.close();
  }
});

test('?ep=webgpu on a WebGPU adapter (SwiftShader\'s, in software): the model runs on onnxruntime-web\'s WebGPU build and matches Node', { skip }, async (t) => {
  const gpuBrowser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
  const { app, url } = await serveSite(site, { port: 0 });
  try {
    const ctx = await gpuBrowser.newContext();
    const page = await ctx.newPage();
    await page.goto(url + '/?ep=webgpu');
    const probe = await page.evaluate(`(async () => { const g = navigator.gpu; return g ? ((await g.requestAdapter()) ? 'adapter' : 'no adapter') : 'no navigator.gpu'; })()`);
    if (probe !== 'adapter') return t.skip(`this Chromium offers no software WebGPU adapter (${probe})`);
    await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', (await page.textContent('#error')) ?? '');
    assert.equal(await page.evaluate(() => (window as unknown as { saescopeBackend: string }).saescopeBackend), 'webgpu');
    const cli = await saescope('features', '--model', tinyStories, '--sae', sae, '--top', '12', '--json', TEXT);
    const node = JSON.parse(cli.stdout) as { heatmap: { features: number[]; values: number[][] } };
    const inPage = await heatmapOf(page, TEXT);
    let worst = 0;
    node.heatmap.features.forEach((f, i) => node.heatmap.values[i].forEach((v, j) => (worst = Math.max(worst, Math.abs(v - (inPage.get(f)?.[j] ?? 0))))));
    t.diagnostic(`largest difference from Node: ${worst}`);
    // Float32 on another device: the same features, values to GPU rounding.
    assert.ok(worst < 1e-2, `WebGPU heatmap differs from Node's by ${worst}`);
    await ctx.close();
  } finally {
    await app.close();
    await gpuBrowser.close();
  }
});

test('a site with a corrupted or missing weight file says which file in the page', { skip }, async () => {
  for (const damage of ['corrupt', 'missing'] as const) {
    const copy = path.join(tmpDir(), 'site');
    fs.cpSync(site, copy, { recursive: true });
    const weights = path.join(copy, 'data', 'model', 'model.safetensors');
    if (damage === 'missing') fs.rmSync(weights);
    else {
      const b = fs.readFileSync(weights);
      b[b.length - 10] ^= 0xff;
      fs.writeFileSync(weights, b);
    }
    const { app, url } = await serveSite(copy, { port: 0 });
    try {
      const { page, ctx } = await open(url + '/');
      assert.equal(await page.evaluate(() => document.body.dataset.ready), 'failed');
      const msg = (await page.textContent('#error'))!;
      assert.match(msg, damage === 'missing' ? /data\/model\/model\.safetensors: HTTP 404/ : /data\/model\/model\.safetensors: its SHA-256 does not match/);
      assert.ok(await page.isVisible('#error'));
      await page.screenshot({ path: path.join(shots, `site-${damage}.png`) });
      await ctx.close();
    } finally {
      await app.close();
    }
  }
});

test('export-site refuses what it cannot publish, naming it', { skip: needsShared() }, async () => {
  const out = path.join(tmpDir(), 'site');
  const noSae = await saescope('export-site', '--model', tinyStories, '--sae', `ts=${path.join(out, 'nope')}`, '--out', out);
  assert.notEqual(noSae.code, 0);
  assert.match(noSae.stderr, /no such SAE folder/);
  const noReg = await saescope('export-site', '--model', tinyStories, '--sae', `ts=${await trainedSae()}`, '--registry', path.join(out, 'none.db'), '--out', out);
  assert.match(noReg.stderr, /--registry .*none\.db: no such file/);
  const notSite = await saescope('serve-site', tmpDir());
  assert.match(notSite.stderr, /not a site written by saescope export-site/);
});

test('export-site over an existing site is written beside it and swapped in whole: a failure midway leaves the old site as it was', { skip: needsShared() }, async () => {
  const { loadModel } = await import('../src/model/load.ts');
  const { loadSae } = await import('../src/sae/load.ts');
  const { Registry } = await import('../src/registry/registry.ts');
  const { exportSite, defaultAppDir } = await import('../src/site/exportSite.ts');
  if (!fs.existsSync(path.join(defaultAppDir(), 'site.html'))) await promisify(execFile)('npm', ['run', 'build:web'], { cwd: root });
  const dir = tmpDir();
  const out = path.join(dir, 'site');
  const model = await loadModel(tinyStories);
  const s = loadSae(await trainedSae());
  const reg = Registry.open(path.join(dir, 'r.db'));
  const keys = reg.file(model, s);
  reg.setDashboards(keys.model, keys.sae, new Map([[1, { density: 0.1, maxAct: 2 }]]));
  await exportSite({ model, modelDir: tinyStories, saes: [{ name: 'ts', keys, sae: s }], registry: reg, out });
  const before = fs.readFileSync(path.join(out, 'data', 'manifest.json'));
  // A registry that fails after the app and the model were copied.
  const failing = new Proxy(reg, { get: (t, k) => (k === 'browse' ? () => { throw new Error('the registry went away'); } : Reflect.get(t, k)) });
  await assert.rejects(exportSite({ model, modelDir: tinyStories, saes: [{ name: 'ts', keys, sae: s }], registry: failing, out }), /the registry went away/);
  assert.deepEqual(fs.readFileSync(path.join(out, 'data', 'manifest.json')), before, 'the old site is whole');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['r.db', 'r.db-shm', 'r.db-wal', 'site'].filter((f) => fs.existsSync(path.join(dir, f))), 'nothing half-written is left beside it');
  // A folder that is not a site is not written over.
  fs.mkdirSync(path.join(dir, 'mine'));
  fs.writeFileSync(path.join(dir, 'mine', 'notes.txt'), 'x');
  await assert.rejects(exportSite({ model, modelDir: tinyStories, saes: [{ name: 'ts', keys, sae: s }], registry: reg, out: path.join(dir, 'mine') }), /mine exists and is not a site written by export-site/);
  reg.close();
});

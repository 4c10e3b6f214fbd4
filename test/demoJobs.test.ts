/**
 * `saescope demo` as a new user meets it, in Debian's Chromium: the Jobs page
 * offers the corpus the demo was given, trains an SAE with it and scans it;
 * a second training into the same folder asks before replacing it; after the
 * demo restarts, the trained SAE is still in the menus.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from './localRedis.ts';
import { needsShared, root, storiesCorpus, tinyStories, tmpDir } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = needsShared() || (fs.existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)`);
const shots = path.join(root, 'test-output', 'screenshots');

let browser: Browser | undefined;
const demos: ChildProcess[] = [];

after(async () => {
  await browser?.close();
  for (const d of demos) d.kill('SIGKILL');
});

/** Starts the demo and resolves with its address once it serves. */
async function startDemo(dir: string, corpus: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(root, 'bin', 'saescope.js'), 'demo', '--model', tinyStories, '--corpus', corpus, '--tokens', '16384', '--dir', dir, '--port', String(port)],
    { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  demos.push(proc);
  let err = '';
  return new Promise((resolve, reject) => {
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /open (http:\/\/\S+)/.exec(err);
      if (m) resolve({ url: m[1], proc });
    });
    proc.on('exit', (code) => reject(new Error(`demo exited ${code}: ${err.slice(-2000)}`)));
  });
}

async function stopDemo(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.on('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

/** Waits until the job card `id` reports `done` (or fails the test with its message). */
async function jobDone(page: Page, kind: string): Promise<string> {
  const card = page.locator(`.job[data-status="done"], .job[data-status="failed"]`).filter({ hasText: kind }).first();
  await card.waitFor({ timeout: 240_000 });
  const status = await card.getAttribute('data-status');
  assert.equal(status, 'done', await card.textContent() ?? '');
  return (await card.getAttribute('data-id'))!;
}

test('the demo\'s Jobs page trains and scans with its own corpus; a second training asks before replacing; the SAE is in the menus after a restart', { skip, timeout: 600_000 }, async () => {
  const dir = tmpDir('saescope-demo-');
  const corpus = `${storiesCorpus}[0:60]`;
  let demo = await startDemo(dir, corpus);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('dialog', (d) => void d.accept());
  await page.goto(`${demo.url}/#/jobs`);
  await page.locator('#corpus option').first().waitFor({ state: 'attached' });
  const options = await page.locator('#corpus option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
  assert.ok(options.includes(path.resolve(storiesCorpus) + '[0:60]'), `the demo's corpus is offered: ${options.join(', ')}`);
  await page.fill('#tokens', '8192');
  await page.fill('#dsae', '256');
  await page.fill('#out', 'runs/web-sae');
  await page.click('#train');
  const trainId = await jobDone(page, 'train');
  // The trained SAE is in the scan menu; scan it with the same corpus.
  await page.locator('#scan-sae option[value="web-sae"]').waitFor({ state: 'attached' });
  await page.selectOption('#scan-sae', 'web-sae');
  await page.fill('#tokens', '3000');
  await page.click('#scan');
  await jobDone(page, 'scan');
  await page.screenshot({ path: path.join(shots, 'demo-jobs.png'), fullPage: true });
  // The same folder again: the server answers 409, the page asks (accepted here) and the job replaces it.
  await page.fill('#tokens', '4096');
  await page.fill('#dsae', '128');
  await page.click('#train');
  await page.locator('.job[data-status="done"]').filter({ hasText: 'train' }).nth(1).waitFor({ timeout: 240_000 });
  const cards = await page.locator('.job').evaluateAll((cs) => cs.map((c) => ({ id: c.getAttribute('data-id'), status: c.getAttribute('data-status') })));
  assert.equal(cards.filter((c) => c.status === 'done').length, 3, JSON.stringify(cards));
  // Restart: the trained SAE (now the 128-latent one) is in Analyze's menu; the first job's report is its own.
  await stopDemo(demo.proc);
  demo = await startDemo(dir, corpus);
  await page.goto(`${demo.url}/#/analyze`);
  await page.locator('#sae option').first().waitFor({ state: 'attached' });
  const saes = await page.locator('#sae option').evaluateAll((os) => os.map((o) => o.textContent ?? ''));
  assert.ok(saes.some((s) => /^web-sae \(blocks\.1\.hook_resid_pre, 128\)/.test(s)), `menus after a restart: ${saes.join(' | ')}`);
  assert.ok(saes.some((s) => /^demo /.test(s)));
  // The replaced SAE's scan stays with the old weights: the new ones have none, and the page offers one.
  await page.goto(`${demo.url}/#/feature/web-sae/0`);
  await page.locator('#no-dashboard').waitFor();
  assert.match((await page.textContent('#no-dashboard')) ?? '', /No scan for these weights \(SAE web-sae, sae-[0-9a-f]{32}\)/);
  await page.click('#offer-scan');
  await page.locator('#scan-sae option').first().waitFor({ state: 'attached' });
  assert.equal(await page.inputValue('#scan-sae'), 'web-sae', 'the Jobs page opens with this SAE chosen for a scan');
  const report = await page.request.get(`${demo.url}/api/jobs/${trainId}/report`);
  assert.equal(report.status(), 200);
  assert.match(await report.text(), /topk SAE, 128 x 256, k 8/, 'the first job\'s report describes its 256-latent SAE');
  await stopDemo(demo.proc);
});

/**
 * Browser side of bench/browser: serves an exported site, opens it in
 * Chromium, and times the in-page model's forward (the engine the pages use).
 * `threads` 0 lets the page choose (all it may use when isolated), else that many.
 */
import { chromium } from 'playwright-core';
import { serveSite } from '../../src/site/serveSite.ts';

const a = JSON.parse(process.argv[2]) as { site: string; batch: number; seq: number; iters: number; hook: string; threads: number };
const { app, url } = await serveSite(a.site, { port: 0 });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const t0 = performance.now();
  await page.goto(`${url}/${a.threads ? `?threads=${a.threads}` : ''}`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 600_000 });
  if ((await page.evaluate(() => document.body.dataset.ready)) !== 'true') throw new Error(`the site did not start: ${await page.textContent('#error')}`);
  const loadSeconds = (performance.now() - t0) / 1000;
  // A string, not a function: tsx's transform would add helpers the page does not have.
  const r = (await page.evaluate(`(async (o) => {
    const engine = window.saescopeEngine;
    let seed = 1;
    const tokens = [];
    for (let b = 0; b < o.batch; b++) {
      const row = [];
      for (let i = 0; i < o.seq; i++) row.push((seed = (seed * 1103515245 + 12345) % 2147483648) % engine.model.spec.dVocab);
      tokens.push(row);
    }
    const opts = { cache: [o.hook], logits: 'all' };
    await engine.model.run(tokens, opts);
    const t = performance.now();
    for (let i = 0; i < o.iters; i++) await engine.model.run(tokens, opts);
    return { seconds: (performance.now() - t) / 1000 / o.iters, isolated: crossOriginIsolated, threads: window.saescopeThreads };
  })(${JSON.stringify(a)})`)) as { seconds: number; isolated: boolean; threads: number };
  console.log(JSON.stringify({ tokens_per_s: (a.batch * a.seq) / r.seconds, seconds_per_batch: r.seconds, isolated: r.isolated, threads: r.threads, load_seconds: loadSeconds }));
} finally {
  await browser.close();
  await app.close();
}

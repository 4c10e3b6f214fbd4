/**
 * `saescope train --report` and `saescope report`: one self-contained HTML
 * page whose every chart draws non-empty data in Chromium, with no request
 * leaving the file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { needsShared, root, storiesCorpus, tinyStories, tmpDir } from './helpers.ts';
import { readTrainingLog } from '../src/sae/report.ts';

const BIN = path.join(root, 'bin', 'saescope.js');
const CHROMIUM = '/usr/bin/chromium';
const skip = needsShared() || (fs.existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)`);

async function saescope(...args: string[]): Promise<string> {
  return (await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: root, maxBuffer: 1 << 26 })).stdout;
}

test('train --report writes a self-contained page whose every chart draws data; report adds the evaluation', { skip }, async () => {
  const dir = tmpDir();
  const out = path.join(dir, 'sae');
  await saescope('train', '--model', tinyStories, '--hook', 'blocks.1.hook_resid_pre', '--corpus', `${storiesCorpus}[0:200]`, '--tokens', String(40 * 1024),
    '--batch-size', '1024', '--arch', 'topk', '--k', '8', '--expansion', '4', '--log-every', '2', '--report', '--quiet', '--out', out);
  const logLines = fs.readFileSync(path.join(out, 'train_log.jsonl'), 'utf8').trim().split('\n');
  assert.equal(logLines.length, 20, 'every second step of 40 is logged, in the SAE folder');
  assert.ok(fs.existsSync(path.join(out, 'report.html')));
  const evalJson = path.join(dir, 'eval.json');
  fs.writeFileSync(evalJson, await saescope('eval', '--model', tinyStories, '--sae', out, '--corpus', `${storiesCorpus}[1150:1180]`, '--tokens', '4000', '--json'));
  const page2 = path.join(dir, 'with-eval.html');
  await saescope('report', '--run', out, '--eval', evalJson, '--out', page2);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const p = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    p.on('request', (r) => requests.push(r.url()));
    await p.goto(`file://${page2}`);
    await p.waitForFunction(() => document.querySelectorAll('canvas').length >= 8);
    const charts = await p.evaluate(() => [...document.querySelectorAll('canvas')].map((c) => {
      const chart = (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): { data: { datasets: { data: (number | null)[] }[] } } | undefined } }).Chart.getChart(c);
      const ctx = c.getContext('2d')!;
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      let inked = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
      return { id: c.id, points: chart?.data.datasets[0].data.filter((v) => v !== null && Number.isFinite(v)).length ?? 0, inked };
    }));
    assert.deepEqual(charts.map((c) => c.id).sort(), ['chart-cosines', 'chart-dead_fraction', 'chart-density', 'chart-explained_variance', 'chart-l0', 'chart-loss', 'chart-mse_loss', 'chart-norms']);
    for (const c of charts) {
      assert.ok(c.points > 0, `${c.id} has data`);
      assert.ok(c.inked > 500, `${c.id} drew something (${c.inked} pixels)`);
    }
    // The decoder-norm histogram's bars are labelled by their ranges, each different (norms all near 1 once printed as "1.00").
    const labels = await p.evaluate(() => (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): { data: { labels: string[] } } } }).Chart.getChart(document.getElementById('chart-norms') as HTMLCanvasElement).data.labels);
    assert.equal(new Set(labels).size, labels.length, `distinct bin labels: ${labels.slice(0, 4).join(', ')}`);
    assert.match(labels[0], /^-?\d+\.\d+-\d+\.\d+$/);
    const evalRows = await p.locator('#evaluation tr').count();
    assert.ok(evalRows > 15, 'the evaluation table lists SAELens metrics');
    assert.ok((await p.textContent('#evaluation'))!.includes('model_performance_preservation.ce_loss_score'));
    assert.equal(await p.locator('#top tr').count(), 21, 'the 20 most frequent features');
    assert.deepEqual(requests.filter((u) => !u.startsWith('file://')), [], 'the page needs no network');
    await p.screenshot({ path: path.join(root, 'test-output', 'screenshots', 'report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});

test("a training log's mse_loss series is read under its name, and logs from before the rename (mse) still read", () => {
  const dir = tmpDir();
  const line = (mse: Record<string, number>, tokens: number) => JSON.stringify({ step: tokens / 8, tokens, saes: [{ out: dir, loss: 9, ...mse, l0: 4, explainedVariance: 0.5, deadFraction: 0 }] });
  const file = path.join(dir, 'train_log.jsonl');
  fs.writeFileSync(file, `${line({ mse: 3 }, 8)}\n${line({ mseLoss: 2 }, 16)}\n`);
  const r = readTrainingLog(file, dir);
  assert.deepEqual(r.tokens, [8, 16]);
  assert.deepEqual(r.series.mse_loss, [3, 2]);
  assert.equal(r.series.mse, undefined, 'one name per metric');
});

/**
 * bench/browser: the GPT-2-small-shaped benchmark model exported as a static
 * site and run in Debian's Chromium (onnxruntime-web, WebAssembly SIMD, with
 * threads: the page is cross-origin isolated), against saescope in Node in the
 * same run. `ratio` is the page's forward tokens/s (batch x seq, full logits,
 * caching blocks.6.hook_resid_post, as bench/forward) over Node's;
 * `ratio_one_thread` the page with one thread. Also the download size of the
 * exported site in f32 and int8 (app, data and total, MiB).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CACHE, ROOT, gpt2SmallRandom, r3, randomSae, worker } from './common.ts';

const BIN = path.join(ROOT, 'bin', 'saescope.js');

function exported(model: string, sae: string, weights: 'f32' | 'int8'): { dir: string; appMiB: number; dataMiB: number } {
  const dir = path.join(CACHE, `site-gpt2-${weights}`);
  const r = JSON.parse(execFileSync(process.execPath, [BIN, 'export-site', '--model', model, '--weights', weights, '--sae', `gpt2=${sae}`, '--out', dir, '--allow-empty', '--json'], { encoding: 'utf8', maxBuffer: 1 << 24 })) as { appBytes: number; dataBytes: number };
  return { dir, appMiB: r3(r.appBytes / 2 ** 20), dataMiB: r3(r.dataBytes / 2 ** 20) };
}

export function benchBrowser(): Record<string, unknown> {
  if (!fs.existsSync(path.join(ROOT, 'web', 'dist-site', 'site.html'))) execFileSync('npm', ['run', 'build:web'], { cwd: ROOT, stdio: 'inherit' });
  const model = gpt2SmallRandom();
  const sae = randomSae('sae-gpt2-topk-3072', ['--arch', 'topk', '--d-in', '768', '--d-sae', '3072', '--k', '32', '--hook', 'blocks.6.hook_resid_post']);
  const f32 = exported(model, sae, 'f32');
  const int8 = exported(model, sae, 'int8');
  const shape = { batch: 8, seq: 128, iters: 3, hook: 'blocks.6.hook_resid_post' };
  const node = worker('forward', { model, mode: 'forward', ...shape });
  const page = worker('browser', { site: f32.dir, ...shape, threads: 0 });
  const page1 = worker('browser', { site: f32.dir, ...shape, threads: 1 });
  const tps = (m: { result: Record<string, unknown> }) => Number(m.result.tokens_per_s);
  return {
    bench: 'browser',
    model: 'gpt2-small shape, random weights; batch 8 x 128, full logits',
    ratio: r3(tps(page) / tps(node)),
    ratio_one_thread: r3(tps(page1) / tps(node)),
    tokens_per_s: { node: r3(tps(node)), browser: r3(tps(page)), browser_one_thread: r3(tps(page1)) },
    browser_threads: page.result.threads,
    browser_load_seconds: page.result.load_seconds,
    site_mib: {
      f32: { app: f32.appMiB, data: f32.dataMiB, total: r3(f32.appMiB + f32.dataMiB) },
      int8: { app: int8.appMiB, data: int8.dataMiB, total: r3(int8.appMiB + int8.dataMiB) },
    },
  };
}

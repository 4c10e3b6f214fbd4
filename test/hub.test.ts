/**
 * The hub downloader against a local HTTP server on 127.0.0.1 that serves a
 * folder in the hub's URL layout (`/api/models/ID/revision/REV`,
 * `/ID/resolve/SHA/FILE` with Range support).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { downloadModel } from '../src/io/hub.ts';
import { loadModel } from '../src/model/load.ts';
import { fixtures, tmpDir } from './helpers.ts';

const ID = 'tiny-org/tiny-llama';
const SHA = '0123456789abcdef0123456789abcdef01234567';
/** The served repository: the tiny llama's config and weights. */
const SRC = tmpDir();
for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(fixtures, 'tiny-llama', f), path.join(SRC, f));

interface Hub {
  url: string;
  ranges: string[];
  requests: string[];
  close(): Promise<void>;
}

async function startHub(opts: { dropAfter?: number } = {}): Promise<Hub> {
  const ranges: string[] = [];
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(req.url ?? '');
    requests.push(url);
    if (url === `/api/models/${ID}/revision/main`) {
      const siblings = [...fs.readdirSync(SRC), 'pytorch_model.bin'].map((rfilename) => ({ rfilename }));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: ID, sha: SHA, siblings }));
      return;
    }
    const prefix = `/${ID}/resolve/${SHA}/`;
    const file = url.startsWith(prefix) ? path.join(SRC, url.slice(prefix.length)) : '';
    if (!file || !fs.existsSync(file) || path.relative(SRC, file).startsWith('..')) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    const body = fs.readFileSync(file);
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    if (range) {
      ranges.push(`${path.basename(file)}:${range[1]}`);
      const start = Number(range[1]);
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
      res.setHeader('content-length', body.length - start);
      res.end(body.subarray(start));
      return;
    }
    res.setHeader('content-length', body.length);
    if (opts.dropAfter !== undefined && file.endsWith('.safetensors')) {
      res.write(body.subarray(0, opts.dropAfter), () => res.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, ranges, requests, close: () => new Promise((r) => server.close(() => r())) };
}

test('downloads a model into the HF cache layout with progress, then loads it from the cache', async () => {
  const hub = await startHub();
  const cache = tmpDir();
  const seen: number[] = [];
  try {
    const snap = await downloadModel(ID, { endpoint: hub.url, cacheDir: cache, onProgress: (p) => seen.push(p.bytes) });
    assert.equal(snap, path.join(cache, 'models--tiny-org--tiny-llama', 'snapshots', SHA));
    assert.equal(fs.readFileSync(path.join(cache, 'models--tiny-org--tiny-llama', 'refs', 'main'), 'utf8'), SHA);
    for (const f of ['config.json', 'model.safetensors']) assert.deepEqual(fs.readFileSync(path.join(snap, f)), fs.readFileSync(path.join(SRC, f)));
    assert.ok(!fs.existsSync(path.join(snap, 'pytorch_model.bin')), 'skips pickled weights');
    assert.ok(seen.length > 0);
    const before = hub.requests.length;
    const m = await loadModel(ID, { endpoint: hub.url, cacheDir: cache });
    assert.equal(m.spec.modelType, 'llama');
    assert.equal(hub.requests.length, before, 'a cached model makes no request');
  } finally {
    await hub.close();
  }
});

test('a broken download resumes with a Range request and ends whole', async () => {
  const cache = tmpDir();
  const broken = await startHub({ dropAfter: 1000 });
  try {
    await assert.rejects(downloadModel(ID, { endpoint: broken.url, cacheDir: cache }));
  } finally {
    await broken.close();
  }
  const part = path.join(cache, 'models--tiny-org--tiny-llama', 'snapshots', SHA, 'model.safetensors.incomplete');
  assert.ok(fs.existsSync(part) && fs.statSync(part).size === 1000, 'the partial file is kept');
  const hub = await startHub();
  try {
    const snap = await downloadModel(ID, { endpoint: hub.url, cacheDir: cache });
    assert.deepEqual(hub.ranges, ['model.safetensors:1000']);
    assert.deepEqual(fs.readFileSync(path.join(snap, 'model.safetensors')), fs.readFileSync(path.join(SRC, 'model.safetensors')));
  } finally {
    await hub.close();
  }
});

test('an unknown repository is a clear error', async () => {
  const hub = await startHub();
  try {
    await assert.rejects(downloadModel('nobody/nothing', { endpoint: hub.url, cacheDir: tmpDir() }), /not found \(404\)/);
  } finally {
    await hub.close();
  }
});

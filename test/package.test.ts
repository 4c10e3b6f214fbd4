/**
 * The package as a user gets it: `npm pack` (prepack builds the library and
 * the web app), then `npm install` of the tarball into an empty project. The
 * README's library example is type-checked against the installed types and
 * run in plain Node (no tsx); `npx saescope demo` trains, scans and serves
 * the web app from the installed package.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { needsShared, root, storiesCorpus, tinyStories, tmpDir } from './helpers.ts';

/** The README's library example: the ```ts block after the `<!-- library-example -->` marker. */
export function readmeExample(): string {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = /<!-- library-example -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README.md has no ```ts block after <!-- library-example -->');
  return m[1];
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

test('npm pack, install in an empty project: the README example type-checks and runs in plain Node; npx saescope demo serves the web app; export-site writes a whole site', { skip: needsShared() }, async (t) => {
  const work = tmpDir();
  const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });
  // Lifecycle scripts (prepack builds the library, prepare the web app) print before pack's JSON.
  const out = npm(['pack', '--json', '--pack-destination', work], root);
  const packed = JSON.parse(out.slice(out.search(/^\[/m))) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  const files = packed[0].files.map((f) => f.path);
  // What a user runs, and nothing else: the compiled library, the command, the built web app and site.
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'bin/saescope.js', 'web/dist/index.html', 'web/dist-site/site.html', 'package.json']) assert.ok(files.includes(f), `the tarball has ${f}`);
  for (const f of files) assert.ok(!/^(src|test|bench)\//.test(f), `the tarball carries no ${f}`);
  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  // As a user's project would: ONNX Runtime's CUDA download skipped, better-sqlite3's build allowed.
  fs.writeFileSync(path.join(app, '.npmrc'), 'onnxruntime-node-install=skip\n');
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', allowScripts: { 'better-sqlite3': true, 'onnxruntime-node': false, protobufjs: false } }));
  // A TypeScript user's project has Node's types; saescope's declarations bring the rest.
  const nodeTypes = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['@types/node'];
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(work, packed[0].filename), `@types/node@${nodeTypes}`], app);
  const installed = Number(execFileSync('du', ['-sk', path.join(app, 'node_modules')], { encoding: 'utf8' }).split('\t')[0]) * 1024;
  t.diagnostic(`tarball ${(packed[0].size / 2 ** 20).toFixed(1)} MiB, unpacked ${(packed[0].unpackedSize / 2 ** 20).toFixed(1)} MiB, installed with dependencies ${(installed / 2 ** 20).toFixed(0)} MiB`);
  // The README's example, its model path pointed at ../shared, checked against the installed types.
  const example = readmeExample().replaceAll("'../shared/models/TinyStories-656K'", JSON.stringify(tinyStories)) + '\nconsole.log(JSON.stringify({ logits: logits!.shape, cached: Object.keys(cache).length, text: out.text }));\n';
  fs.writeFileSync(path.join(app, 'example.ts'), example);
  const opts: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, skipLibCheck: false, types: ['node'] };
  const program = ts.createProgram([path.join(app, 'example.ts')], opts);
  const diags = ts.getPreEmitDiagnostics(program).filter((d) => !d.file || !d.file.fileName.includes('/node_modules/') || d.file.fileName.includes('/node_modules/saescope/'));
  assert.deepEqual(diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')), [], 'the example type-checks against the installed declarations');
  fs.writeFileSync(path.join(app, 'example.mjs'), ts.transpileModule(example, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText);
  const ran = JSON.parse(execFileSync(process.execPath, ['example.mjs'], { cwd: app, encoding: 'utf8' }).trim().split('\n').pop()!) as { logits: number[]; cached: number; text: string };
  assert.equal(ran.logits.length, 3);
  assert.ok(ran.cached > 0 && ran.text.length > 0);
  // npx saescope demo: trains a small SAE, scans it and serves the web app, all from the installed package.
  const port = await freePort();
  const demo = spawn('npx', ['saescope', 'demo', '--model', tinyStories, '--corpus', `${storiesCorpus}[0:300]`, '--tokens', '20000', '--dir', path.join(work, 'demo'), '--port', String(port)], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let log = '';
  demo.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  demo.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  try {
    const base = `http://127.0.0.1:${port}`;
    let page: string | undefined;
    for (let i = 0; i < 600 && page === undefined; i++) {
      if (demo.exitCode !== null) assert.fail(`demo exited with ${demo.exitCode}:\n${log}`);
      page = await fetch(base).then((r) => (r.ok ? r.text() : undefined), () => undefined);
      if (page === undefined) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(page?.includes('id="app"'), `the web app's page is served:\n${log}`);
    const script = /src="([^"]+\.js)"/.exec(page!)![1];
    assert.equal((await fetch(new URL(script, base))).status, 200, 'with its script');
    const info = (await (await fetch(`${base}/api/info`)).json()) as { saes: { scanned: boolean }[] };
    assert.ok(info.saes.length === 1 && info.saes[0].scanned, 'the demo SAE is served, scanned');
  } finally {
    process.kill(-demo.pid!, 'SIGTERM');
    await new Promise((r) => demo.once('exit', r));
  }
  // The package ships the site app without ONNX Runtime's WebAssembly; export-site takes it from onnxruntime-web.
  const site = path.join(work, 'site');
  execFileSync('npx', ['saescope', 'export-site', '--model', tinyStories, '--sae', `demo=${path.join(work, 'demo', 'sae')}`, '--registry', path.join(work, 'demo', 'registry.db'), '--out', site], { cwd: app, stdio: 'ignore' });
  for (const f of ['index.html', 'data/manifest.json', 'ort/ort-wasm-simd-threaded.wasm', 'ort/ort-wasm-simd-threaded.mjs']) assert.ok(fs.existsSync(path.join(site, f)), `the site has ${f}`);
  const shell = JSON.parse(fs.readFileSync(path.join(site, 'shell.json'), 'utf8')) as string[];
  assert.ok(shell.includes('ort/ort-wasm-simd-threaded.wasm'), 'the service worker keeps the WebAssembly offline');
});

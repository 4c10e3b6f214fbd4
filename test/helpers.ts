/** Shared test helpers: fixture paths, the ../shared skip rule, comparisons. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { transpose, type Params } from '../src/sae/train/params.ts';
import type { SaeConfig } from '../src/sae/config.ts';
import type { SaeWeights } from '../src/sae/sae.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The project root. */
export const root = ROOT;
/** Committed fixtures. */
export const fixtures = path.join(ROOT, 'test', 'fixtures');
/** max |a - b| relative to the reference's largest magnitude (b is the reference). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let d = 0;
  let m = 1e-12;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

/** A training step's raw parameter gradients in SAELens's layouts (W_enc as [d_in, d_sae]). */
export function stepGrads(raw: Readonly<Record<string, { data: Float32Array }>>, dSae: number, dIn: number): Record<'W_enc' | 'b_enc' | 'W_dec' | 'b_dec', Float32Array> {
  return { W_enc: transpose(raw['grad.W_encT'].data, dSae, dIn), b_enc: raw['grad.b_enc'].data, W_dec: raw['grad.W_dec'].data, b_dec: raw['grad.b_dec'].data };
}

/** ../shared beside the project (CI always has it; a user's clone may not). */
export const shared = path.resolve(ROOT, '..', 'shared');
/** The real TinyStories-656K model folder. */
export const tinyStories = path.join(shared, 'models', 'TinyStories-656K');

/** The PyTorch reference script (../shared/reference/torch_reference.py). */
export const torchReference = path.join(shared, 'reference', 'torch_reference.py');

let torchChecked: boolean | undefined;
/** Skips (a reason) unless /usr/bin/python3 has torch (CI installs python3-torch); checked once per process. */
export function torchSkip(): false | string {
  torchChecked ??= spawnSync('/usr/bin/python3', ['-c', 'import torch']).status === 0;
  return torchChecked ? false : 'needs /usr/bin/python3 with torch (apt-get install python3-torch)';
}

/** A `skip` option for tests that need ../shared: false when present, else the reason. */
export function needsShared(): false | string {
  return fs.existsSync(tinyStories) ? false : `needs ../shared/models/TinyStories-656K beside the project (absent at ${shared})`;
}

const made = new Set<string>();
// Each test file runs in its own process: its temporary folders go when it exits (some hold models of hundreds of MB).
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary folder, removed when the test process exits. */
export function tmpDir(prefix = 'saescope-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.add(d);
  return d;
}

/** Largest |a - b| over arrays, broadcasting `b` when it is shorter and divides `a`. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length % b.length !== 0) throw new Error(`cannot compare ${a.length} with ${b.length} elements`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i % b.length]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** A hash of the files under these paths of src/ (folders walked in name order): what a cached test artefact is keyed by. */
async function sourceHash(parts: readonly string[]): Promise<string> {
  const { createHash } = await import('node:crypto');
  const h = createHash('sha256');
  const walk = (p: string) => {
    if (fs.statSync(p).isFile()) return void h.update(fs.readFileSync(p));
    for (const f of fs.readdirSync(p).sort()) walk(path.join(p, f));
  };
  for (const part of parts) walk(path.join(ROOT, 'src', part));
  return h.digest('hex').slice(0, 16);
}

/**
 * A small topk SAE trained by saescope on TinyStories-656K at
 * blocks.1.hook_resid_pre (d_sae 512, k 8), cached in the temp folder under a
 * hash of the SAE source so every test file reuses one training run.
 */
/**
 * Removes cached test artefacts of one kind (`saescope-test-sae-*`) made for
 * other sources and untouched for a day: each change to the sources they are
 * keyed by leaves one behind (about 800 MB had piled up here). A day's grace
 * spares another checkout's run that may be reading one now.
 */
function pruneStale(prefix: string, keep: string): void {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const name of fs.readdirSync(os.tmpdir())) {
    const p = path.join(os.tmpdir(), name);
    if (!name.startsWith(prefix) || p === keep) continue;
    try {
      if (fs.statSync(p).mtimeMs < dayAgo) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // removed meanwhile by another run
    }
  }
}

export async function trainedSae(): Promise<string> {
  // Keyed by every source that decides the trained weights: the trainer, the data path, the model and its runtime.
  const dir = path.join(os.tmpdir(), `saescope-test-sae-${await sourceHash(['sae', 'data', 'model', 'runtime', 'tokenizer', 'io', 'tensor'])}`);
  if (!fs.existsSync(path.join(dir, 'cfg.json'))) {
    pruneStale('saescope-test-sae-', dir);
    const { loadModel } = await import('../src/model/load.ts');
    const { trainSaes } = await import('../src/sae/train/trainer.ts');
    const model = await loadModel(tinyStories);
    const tmp = `${dir}.${process.pid}.tmp`;
    await trainSaes(model, [{ hook: 'blocks.1.hook_resid_pre', architecture: 'topk', dSae: 512, k: 8, out: tmp, lr: 2e-3 }], {
      corpus: storiesCorpus + '[0:400]', tokens: 100 * 1024, batchSize: 1024, contextSize: 128, bufferBatches: 4, deadWindowTokens: 30_000,
    });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  }
  return dir;
}

/** The shared TinyStories corpus. */
export const storiesCorpus = path.join(shared, 'corpora', 'tinystories-656K-samples.jsonl');

/** TinyStories-656K and the shared trained SAE. */
export async function modelAndSae() {
  const { loadModel } = await import('../src/model/load.ts');
  const { loadSae } = await import('../src/sae/load.ts');
  return { model: await loadModel(tinyStories), sae: loadSae(await trainedSae()) };
}

/** Runs the `saescope` command (bin/saescope.js) in the repository; resolves with its output and exit code, never rejects. */
export async function saescopeCli(args: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd: string = ROOT): Promise<{ stdout: string; stderr: string; code: number }> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  try {
    const r = await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin', 'saescope.js'), ...args], { cwd, maxBuffer: 1 << 26, env });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

/** The registry keys a command files a model folder and an SAE folder under (computed as the commands do, without loading the model). */
export async function keysOf(reg: import('../src/registry/registry.ts').Registry, modelDir: string, saeDir: string): Promise<{ model: string; sae: string; name: string }> {
  const { loadSae } = await import('../src/sae/load.ts');
  const s = reg.saeEntry(loadSae(saeDir), saeDir);
  return { model: reg.modelAt(modelDir).id, sae: s.id, name: s.name };
}

/**
 * The SAE `saescope demo` trains (demoSpec/demoTraining, 400k tokens) on the
 * shared TinyStories corpus, scanned as the demo scans it into `registry.db`
 * beside it; cached in the temp folder under a hash of the sources that make it.
 */
export async function demoSae(): Promise<{ dir: string; registry: string }> {
  const root = path.join(os.tmpdir(), `saescope-test-demo-${await sourceHash(['sae', 'data', 'analysis', 'registry', 'model', 'runtime', 'tokenizer', 'io', 'tensor', 'cli/commands/demo.ts'])}`);
  const dir = path.join(root, 'sae');
  const registry = path.join(root, 'registry.db');
  if (!fs.existsSync(path.join(root, 'done'))) {
    pruneStale('saescope-test-demo-', root);
    const { loadModel } = await import('../src/model/load.ts');
    const { loadSae } = await import('../src/sae/load.ts');
    const { trainSaes } = await import('../src/sae/train/trainer.ts');
    const { scan } = await import('../src/analysis/scan.ts');
    const { buildDashboards } = await import('../src/analysis/dashboard.ts');
    const { Registry } = await import('../src/registry/registry.ts');
    const { demoSpec, demoTraining, DEMO_SCAN_TOKENS } = await import('../src/cli/commands/demo.ts');
    const model = await loadModel(tinyStories);
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root, { recursive: true });
    await trainSaes(model, [demoSpec(model, dir)], demoTraining(model, storiesCorpus + '[0:1150]', 400_000));
    const sae = loadSae(dir);
    const s = await scan(model, sae, { corpus: storiesCorpus + '[0:1150]', tokens: DEMO_SCAN_TOKENS });
    const reg = Registry.open(registry);
    const keys = reg.file(model, sae, dir, 'demo');
    reg.setDashboards(keys.model, keys.sae, await buildDashboards(model, sae, s));
    reg.close();
    fs.writeFileSync(path.join(root, 'done'), '');
  }
  return { dir, registry };
}

/** Trainer parameters from SAELens weights (to fine-tune or test a loaded SAE). */
export function fromSaeWeights(cfg: SaeConfig, w: SaeWeights): Params {
  const p: Params = {
    W_encT: transpose(w.W_enc.data, cfg.dIn, cfg.dSae),
    b_enc: Float32Array.from(w.b_enc.data),
    W_dec: Float32Array.from(w.W_dec.data),
    b_dec: Float32Array.from(w.b_dec.data),
  };
  if (cfg.architecture === 'jumprelu' && w.threshold) p.log_threshold = w.threshold.data.map((x) => Math.log(Math.max(x, 1e-12)));
  return p;
}

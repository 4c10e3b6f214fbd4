/**
 * `saescope export-site`: a folder of static files that runs the model and its
 * SAEs in the reader's browser (onnxruntime-web). It holds the prebuilt site
 * app (web/dist-site), the model's checkpoint files as they are (BF16 stays
 * BF16; the page widens it), the tokenizer, each SAE with its load-time folds
 * applied, and each SAE's dashboards and registry records as JSON.
 * `data/manifest.json` is written last and names every file with its size and
 * SHA-256, so a half-written or altered site is refused by name in the page.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { FeatureDashboard } from '../analysis/dashboard.ts';
import { writeFileAtomic, writeTextAtomic } from '../io/atomicFile.ts';
import { writeSafetensors } from '../io/safetensors.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import { QuantCache } from '../model/quant/quantCache.ts';
import { SafetensorsWeights } from '../io/weights.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { RecordKeys, Registry } from '../registry/registry.ts';
import type { Sae } from '../sae/sae.ts';
import type { FeatureCalibration } from '../steering/sweep.ts';
import { PACKAGE_ROOT, VERSION } from '../version.ts';
import type { SiteFeatures, SiteFile, SiteManifest } from './manifest.ts';

/** What to put in the site. */
export interface ExportSiteOptions {
  /** The model, loaded from `modelDir` (an HF folder); loaded with int8/int4 weights, the site gets those. */
  readonly model: HookedModel;
  readonly modelDir: string;
  /** SAEs by the name the pages show, each with the identities its record is filed under. */
  readonly saes: readonly { readonly name: string; readonly keys: RecordKeys; readonly sae: Sae }[];
  /** Export an SAE that has no scan in the registry (no dashboards, names or explanations) instead of refusing. */
  readonly allowEmpty?: boolean;
  /** Told about each SAE exported without a scan (with `allowEmpty`). */
  readonly onWarning?: (message: string) => void;
  /** Dashboards, names, explanations and calibrations come from here. */
  readonly registry?: Registry;
  readonly out: string;
  /** The prebuilt site app (default web/dist-site of this installation). */
  readonly appDir?: string;
  readonly maxTextChars?: number;
  readonly maxNewTokens?: number;
}

/** What was written. */
export interface ExportSiteResult {
  readonly out: string;
  /** Bytes of the app (pages, scripts, ONNX Runtime's WebAssembly) and of the data (model, SAEs, dashboards). */
  readonly appBytes: number;
  readonly dataBytes: number;
  readonly files: number;
}

/** The site app built by `npm run build:web`, beside this installation's sources. */
export function defaultAppDir(): string {
  return path.join(PACKAGE_ROOT, 'web', 'dist-site');
}

/** Writes the site. */
export async function exportSite(o: ExportSiteOptions): Promise<ExportSiteResult> {
  const app = o.appDir ?? defaultAppDir();
  if (!fs.existsSync(path.join(app, 'site.html'))) throw new Error(`${app}: the site app is not built (run npm run build:web in the saescope folder)`);
  if (!fs.existsSync(path.join(o.modelDir, 'config.json'))) throw new Error(`${o.modelDir}: export-site needs an HF model folder (config.json, *.safetensors, tokenizer.json)`);
  if (!fs.existsSync(path.join(o.modelDir, 'tokenizer.json'))) throw new Error(`${o.modelDir}: no tokenizer.json, so the site could not turn typed text into tokens`);
  if (o.saes.length === 0) throw new Error('export-site needs at least one --sae name=DIR');
  // Every SAE's record is found by identity; one without a scan is refused before anything is written, unless allowed.
  for (const s of o.saes) {
    if (o.registry && o.registry.dashboards.count(s.keys.model, s.keys.sae) > 0) continue;
    const why = o.registry ? `has no scan in ${o.registry.path} for these weights (${s.keys.sae})` : 'has no registry to take dashboards from (--registry)';
    if (!o.allowEmpty) throw new Error(`SAE ${s.name} ${why}: run saescope scan first, or pass --allow-empty to export it without dashboards, names or explanations`);
    o.onWarning?.(`SAE ${s.name} ${why}: its pages will have no dashboards, names or explanations`);
  }
  // The site is written beside the target and swapped in whole: a kill or a full disk leaves the previous site as it was.
  const final = path.resolve(o.out);
  if (fs.existsSync(final) && (!fs.statSync(final).isDirectory() || (fs.readdirSync(final).length > 0 && !fs.existsSync(path.join(final, 'data', 'manifest.json'))))) {
    throw new Error(`${o.out} exists and is not a site written by export-site; give an empty or new folder`);
  }
  const work = `${final}.${process.pid}.writing`;
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(path.join(work, 'data'), { recursive: true });
  let result: { appBytes: number; dataBytes: number; files: number };
  try {
    const appBytes = copyApp(app, work);
    const files: SiteFile[] = [];
    const put = (rel: string, parts: Uint8Array[]): SiteFile => {
      writeFileAtomic(path.join(work, rel), parts);
      const f = describe(work, rel);
      files.push(f);
      return f;
    };
    const copy = (from: string, rel: string): SiteFile => {
      fs.mkdirSync(path.dirname(path.join(work, rel)), { recursive: true });
      fs.copyFileSync(from, path.join(work, rel));
      fs.chmodSync(path.join(work, rel), 0o644);
      const f = describe(work, rel);
      files.push(f);
      return f;
    };
    const putTensors = (rel: string, tensors: Record<string, Tensor<'float32'>>): SiteFile => {
      fs.mkdirSync(path.dirname(path.join(work, rel)), { recursive: true });
      writeSafetensors(path.join(work, rel), tensors);
      const f = describe(work, rel);
      files.push(f);
      return f;
    };
    const src = SafetensorsWeights.fromFolder(o.modelDir);
    let weights: SiteFile[];
    let quant: SiteManifest['model']['quant'];
    if (o.model.weightMode === 'f32') {
      weights = src.files().map((f) => copy(f, `data/model/${path.basename(f)}`));
    } else {
      // The quantized data file as the cache built it, and the tensors it does not replace (norms, biases) as f32.
      const q = o.model.quantized();
      if (!(q instanceof QuantCache)) throw new Error('internal: a quantized export needs the on-disk weights cache');
      const { file, entries } = q.contents();
      const location = path.basename(file);
      const qfile = copy(file, `data/model/${location}`);
      const replaced = new Set([...Object.keys(entries.linears), ...Object.keys(entries.embeddings)]);
      const rest: Record<string, Tensor<'float32'>> = {};
      for (const n of src.names()) if (!replaced.has(n)) rest[n] = src.get(n);
      weights = [putTensors('data/model/rest.safetensors', rest)];
      quant = { file: qfile, location, entries, declared: [...replaced].map((n) => ({ name: n, shape: src.shape(n), dtype: src.dtype(n) })), mode: o.model.weightMode };
    }
    const tokenizer = copy(path.join(o.modelDir, 'tokenizer.json'), 'data/model/tokenizer.json');
    const tcfg = path.join(o.modelDir, 'tokenizer_config.json');
    const tokenizerConfig = fs.existsSync(tcfg) ? copy(tcfg, 'data/model/tokenizer_config.json') : null;
    const saes = o.saes.map((s, i) => {
      const w = putTensors(`data/sae/${i}.safetensors`, { ...s.sae.weights });
      const feats = put(`data/sae/${i}.features.json`, [new TextEncoder().encode(JSON.stringify(siteFeatures(o.registry, s.keys, s.sae.cfg.dSae)))]);
      return { name: s.name, id: s.keys.sae, cfg: s.sae.cfg, weights: w, features: feats };
    });
    const config = JSON.parse(fs.readFileSync(path.join(o.modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const id = createHash('sha256').update(files.map((f) => `${f.path}:${f.sha256}`).join('\n')).digest('hex').slice(0, 16);
    const manifest: SiteManifest = {
      format: 'saescope-site', version: 1, saescope: VERSION, id,
      model: { name: o.model.hfId ?? path.basename(path.resolve(o.modelDir)), config, weights, tokenizer, tokenizerConfig, ...(quant ? { quant } : {}) },
      saes, limits: { maxTextChars: o.maxTextChars ?? 4000, maxNewTokens: o.maxNewTokens ?? 200 },
    };
    writeTextAtomic(path.join(work, 'data', 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
    result = { appBytes, dataBytes: files.reduce((a, f) => a + f.bytes, 0), files: files.length };
    swapIn(work, final);
  } catch (e) {
    fs.rmSync(work, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || /disk full/.test((e as Error).message)) throw new Error(`export-site: the disk is full (${(e as Error).message}); nothing was changed at ${o.out}`);
    throw e;
  }
  return { out: o.out, ...result };
}

/** Puts the finished folder `work` at `final`, replacing what was there in one step each way. */
function swapIn(work: string, final: string): void {
  if (!fs.existsSync(final)) return fs.renameSync(work, final);
  const old = `${final}.${process.pid}.old`;
  fs.renameSync(final, old);
  fs.renameSync(work, final);
  fs.rmSync(old, { recursive: true, force: true });
}

/** Copies the app (site.html becomes index.html) and lists its files in shell.json for the service worker. */
function copyApp(app: string, out: string): number {
  const shell: string[] = ['./'];
  let bytes = 0;
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(app, rel), { withFileTypes: true })) {
      const from = path.join(rel, e.name);
      if (e.isDirectory()) {
        walk(from);
        continue;
      }
      const to = from === 'site.html' ? 'index.html' : from;
      fs.mkdirSync(path.dirname(path.join(out, to)), { recursive: true });
      fs.copyFileSync(path.join(app, from), path.join(out, to));
      bytes += fs.statSync(path.join(out, to)).size;
      // The WebGPU build's WebAssembly is fetched (and then cached) only by pages that ask for WebGPU.
      if (to !== 'sw.js' && !to.includes('.asyncify.')) shell.push(to.split(path.sep).join('/'));
    }
  };
  walk('');
  // The installed package ships the app without ONNX Runtime's WebAssembly (41 MB): it is onnxruntime-web's own, a dependency.
  if (!fs.existsSync(path.join(app, 'ort'))) {
    const dist = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
    fs.mkdirSync(path.join(out, 'ort'), { recursive: true });
    for (const f of ORT_FILES) {
      fs.copyFileSync(path.join(dist, f), path.join(out, 'ort', f));
      bytes += fs.statSync(path.join(out, 'ort', f)).size;
      if (!f.includes('.asyncify.')) shell.push(`ort/${f}`);
    }
  }
  writeTextAtomic(path.join(out, 'shell.json'), JSON.stringify(shell) + '\n');
  return bytes;
}

/** ONNX Runtime's loader and WebAssembly, as the site build puts them in ort/ (web/vite.site.config.ts). */
const ORT_FILES = ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.asyncify.wasm', 'ort-wasm-simd-threaded.asyncify.mjs'];

function describe(out: string, rel: string): SiteFile {
  const h = createHash('sha256');
  const fd = fs.openSync(path.join(out, rel), 'r');
  const buf = Buffer.alloc(1 << 22);
  let bytes = 0;
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, bytes)) > 0; bytes += n) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return { path: rel, bytes, sha256: h.digest('hex') };
}

/** One SAE's registry data as the pages read it. */
function siteFeatures(reg: Registry | undefined, keys: RecordKeys, dSae: number): SiteFeatures {
  if (!reg) return { rows: [], labels: {}, features: {}, scatter: [] };
  const { model, sae } = keys;
  const rows = reg.browse(model, sae, { limit: dSae + 1 }).rows;
  const features: Record<string, SiteFeatures['features'][string]> = {};
  for (const r of rows) {
    features[String(r.feature)] = {
      dashboard: reg.dashboard<FeatureDashboard>(model, sae, r.feature) ?? null,
      record: reg.get(model, sae, r.feature) ?? null,
      explanations: reg.explanations(model, sae, r.feature),
      calibration: reg.calibration<FeatureCalibration>(model, sae, r.feature) ?? null,
    };
  }
  return { rows, labels: Object.fromEntries(reg.labels(model, sae)), features, scatter: reg.densityVsDetection(model, sae) };
}

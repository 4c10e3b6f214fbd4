/**
 * The static site: registers the offline service worker, downloads the model
 * and SAEs named by data/manifest.json once (with a progress bar; Cache
 * Storage keeps them, so later visits start offline), loads them into the
 * in-page engine, and serves the same pages as the server's app from it. A
 * missing or corrupted file stops the load with a message naming it.
 */
import '../style.css';
import { api } from '../api.ts';
import { startApp } from '../app.ts';
import { SiteEngine } from '../../../src/site/engine.ts';
import type { SiteFile, SiteManifest } from '../../../src/site/manifest.ts';
import { defaultThreads, ort, useOrt } from '../../../src/runtime/ort.ts';

const status = document.getElementById('site-status')!;
/** Files the browser would not keep (storage quota): this visit works, the next needs the network. */
const notKept: string[] = [];
const bar = document.getElementById('site-progress') as HTMLProgressElement;

async function registerWorker(): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register('./sw.js');
  } catch (e) {
    console.warn('saescope: no offline support (service worker not registered):', e);
  }
}

async function manifest(): Promise<SiteManifest> {
  const url = new URL('data/manifest.json', location.href).href;
  let res: Response | undefined;
  try {
    res = await fetch(url, { cache: 'no-store' });
  } catch {
    res = await caches.match(url);
  }
  if (!res || !res.ok) throw new Error(`data/manifest.json: ${res ? `HTTP ${res.status}` : 'not reachable and not cached'} (is this folder a site written by saescope export-site?)`);
  const text = await res.clone().text();
  // The copy an offline visit reads; failing to keep it (a full quota) costs only that.
  await (await caches.open('saescope-manifest')).put(url, new Response(text, { headers: { 'content-type': 'application/json' } })).catch(() => undefined);
  return JSON.parse(text) as SiteManifest;
}

/** Every file's bytes, from Cache Storage or downloaded (and cached), with the total's progress. */
function fetcher(m: SiteManifest): (f: SiteFile) => Promise<Uint8Array> {
  const files = [...m.model.weights, ...(m.model.quant ? [m.model.quant.file] : []), m.model.tokenizer, ...(m.model.tokenizerConfig ? [m.model.tokenizerConfig] : []), ...m.saes.flatMap((s) => [s.weights, s.features])];
  const total = files.reduce((a, f) => a + f.bytes, 0);
  let done = 0;
  bar.max = total;
  const cacheName = `saescope-data-${m.id}`;
  return async (f) => {
    const url = new URL(f.path, location.href).href;
    const cache = await caches.open(cacheName);
    let res = await cache.match(url);
    const cached = res !== undefined;
    if (!res) {
      try {
        res = await fetch(url, { cache: 'no-store' });
      } catch (e) {
        throw new Error(`${f.path}: could not be downloaded (${(e as Error).message})`);
      }
      if (!res.ok) throw new Error(`${f.path}: HTTP ${res.status} (a missing file: export the site again)`);
    }
    const bytes = new Uint8Array(f.bytes);
    let at = 0;
    const reader = res.body!.getReader();
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      if (at + value.byteLength > bytes.byteLength) throw new Error(`${f.path}: longer than the ${f.bytes} bytes the manifest says (a replaced file: export the site again)`);
      bytes.set(value, at);
      at += value.byteLength;
      done += value.byteLength;
      bar.value = done;
      status.textContent = `${cached ? 'Reading' : 'Downloading'} the model and SAE: ${(done / 2 ** 20).toFixed(1)} of ${(total / 2 ** 20).toFixed(1)} MiB`;
    }
    const got = bytes.subarray(0, at);
    if (!cached && at === f.bytes) {
      // Keeping a copy is what makes later visits offline; a full quota only loses that, not this visit.
      try {
        await cache.put(url, new Response(got.slice()));
      } catch (e) {
        notKept.push(`${f.path} (${(e as Error).message})`);
      }
    }
    return got;
  };
}

async function boot(): Promise<void> {
  await registerWorker();
  ort.env.wasm.wasmPaths = new URL('ort/', location.href).href;
  // ?threads=N chooses the WebAssembly threads (benchmarks); by default all the page may use.
  const asked = Number(new URLSearchParams(location.search).get('threads'));
  ort.env.wasm.numThreads = Number.isInteger(asked) && asked > 0 ? asked : defaultThreads();
  (window as unknown as { saescopeThreads: number }).saescopeThreads = ort.env.wasm.numThreads;
  const m = await manifest();
  const engine = await SiteEngine.open(m, fetcher(m), { executionProviders: await backend() });
  // A republished site has a new id: the previous one's data is never read again.
  for (const name of await caches.keys()) if (name.startsWith('saescope-data-') && name !== `saescope-data-${m.id}`) await caches.delete(name);
  Object.assign(api, {
    info: async () => engine.info(),
    analyze: (r: Parameters<typeof api.analyze>[0]) => engine.analyze(r),
    compare: (r: Parameters<typeof api.compare>[0]) => engine.compare(r),
    feature: async (sae: string, f: number) => engine.feature(sae, f),
    registry: async (q: Parameters<typeof api.registry>[0]) => engine.registry(q),
    scatter: async (sae: string) => engine.scatter(sae),
    steer: (r: Parameters<typeof api.steer>[0], onEvent: Parameters<typeof api.steer>[1]) => engine.steer(r, onEvent),
    exportUrl: () => null,
    editFeature: readOnly, explain: readOnly, sweep: readOnly, data: readOnly, jobs: readOnly, startJob: readOnly, deleteJob: readOnly,
  });
  (window as unknown as { saescopeEngine: SiteEngine }).saescopeEngine = engine;
  // This visit works; the next one needs the network for these files.
  if (notKept.length) notice(`Not kept for offline use (the browser's storage is full or limited): ${notKept.join(', ')}`);
  document.getElementById('site-loading')!.hidden = true;
  document.body.dataset.ready = 'true';
  startApp({ jobs: false });
}

/**
 * WebAssembly, or WebGPU (then WebAssembly for the operators it lacks) when
 * the page is opened with ?ep=webgpu and the browser offers a GPU adapter;
 * otherwise a notice says why it runs on WebAssembly.
 */
async function backend(): Promise<string[]> {
  let providers = ['wasm'];
  if (new URLSearchParams(location.search).get('ep') === 'webgpu') {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
    if (adapter) {
      const webgpu = await import('onnxruntime-web/webgpu');
      webgpu.env.wasm.wasmPaths = ort.env.wasm.wasmPaths;
      webgpu.env.wasm.numThreads = ort.env.wasm.numThreads;
      useOrt(webgpu as unknown as Parameters<typeof useOrt>[0]);
      providers = ['webgpu', 'wasm'];
    } else {
      notice(`WebGPU was asked for (?ep=webgpu), but this browser offers ${gpu ? 'no GPU adapter' : 'no WebGPU'}: running on WebAssembly.`);
    }
  }
  (window as unknown as { saescopeBackend: string }).saescopeBackend = providers[0];
  return providers;
}

function notice(msg: string): void {
  console.warn(`saescope: ${msg}`);
  document.getElementById('site-loading')!.after(Object.assign(document.createElement('p'), { className: 'site-notice note', textContent: msg }));
}

async function readOnly(): Promise<never> {
  throw new Error('This is a static saescope site: it runs the model in your browser, and cannot save, explain or run jobs (use saescope serve for those).');
}

boot().catch((e: unknown) => {
  status.textContent = '';
  const err = document.getElementById('error')!;
  err.hidden = false;
  err.id = 'error';
  err.textContent = `This site could not start: ${(e as Error).message}`;
  document.body.dataset.ready = 'failed';
});

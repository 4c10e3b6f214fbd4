/**
 * The static site's build: the same pages and library, with runtime/ort.ts
 * swapped for ort.browser.ts (onnxruntime-web, its WebAssembly in ort/).
 * `saescope export-site` copies this build into a site.
 */
import * as fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import * as path from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const ROOT = path.resolve(__dirname, '..');
const ORT_NODE = path.join(ROOT, 'src', 'runtime', 'ort.ts');
const ORT_BROWSER = path.join(ROOT, 'src', 'runtime', 'ort.browser.ts');
const ORT_DIST = path.join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');

/** Resolves the Node binding to the browser one, wherever it is imported from. */
function browserOrt(): Plugin {
  return {
    name: 'saescope-browser-ort',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      const r = await this.resolve(source, importer, { ...options, skipSelf: true });
      return r && path.resolve(r.id) === ORT_NODE ? ORT_BROWSER : null;
    },
  };
}

/**
 * Node's built-in modules, as stand-ins whose functions throw when called:
 * the browser's code paths never call them (files come through fetch), but
 * the modules that do (the CLI's and the server's paths) are still imported.
 */
function nodeBuiltinsUnavailable(): Plugin {
  const require = createRequire(import.meta.url);
  const PREFIX = '\0saescope-node-stub:';
  return {
    name: 'saescope-node-stubs',
    enforce: 'pre',
    resolveId(id) {
      const bare = id.replace(/^node:/, '');
      return builtinModules.includes(bare) ? PREFIX + bare : null;
    },
    load(id) {
      if (!id.startsWith(PREFIX)) return null;
      const name = id.slice(PREFIX.length);
      const mod = require(name) as Record<string, unknown>;
      const keys = Object.keys(mod).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && k !== 'default');
      return [
        `const fail = (n) => function () { throw new Error('saescope in the browser: ' + n + ' is not available here'); };`,
        ...keys.map((k) => `export const ${k} = ${typeof mod[k] === 'function' ? `fail('${name}.${k}')` : 'undefined'};`),
        `export default { ${keys.join(', ')} };`,
      ].join('\n');
    },
  };
}

/**
 * onnxruntime-web's loader and WebAssembly as files of their own in ort/
 * (the page sets wasmPaths there): its thread workers then load that loader,
 * not the app's bundle (which touches the DOM). The copy Vite would emit into
 * assets/ is dropped.
 */
function ortWasm(): Plugin {
  return {
    name: 'saescope-ort-wasm',
    generateBundle(_opts, bundle) {
      for (const name of Object.keys(bundle)) if (/^assets\/ort-wasm.*\.wasm$/.test(name)) delete bundle[name];
      // The plain build for everyone; the asyncify build is what onnxruntime-web/webgpu loads (only when a page asks for WebGPU).
      for (const f of ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.asyncify.wasm', 'ort-wasm-simd-threaded.asyncify.mjs']) {
        this.emitFile({ type: 'asset', fileName: `ort/${f}`, source: fs.readFileSync(path.join(ORT_DIST, f)) });
      }
    },
  };
}

export default defineConfig({
  root: __dirname,
  base: './',
  publicDir: 'site-public',
  plugins: [browserOrt(), nodeBuiltinsUnavailable(), ortWasm()],
  define: { 'process.env': '{}' },
  build: { outDir: 'dist-site', emptyOutDir: true, chunkSizeWarningLimit: 4000, rollupOptions: { input: path.join(__dirname, 'site.html') } },
});

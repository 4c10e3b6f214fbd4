/**
 * The browser's ONNX Runtime binding (onnxruntime-web, WebAssembly with SIMD,
 * and threads when the page is cross-origin isolated), with the API of
 * ort.ts; the static site's build aliases ort.ts to this file. A page that
 * asks for WebGPU swaps in onnxruntime-web's WebGPU build with `useOrt`.
 */
import * as wasmOrt from 'onnxruntime-web/wasm';

/** The binding sessions are created with (a live binding: `useOrt` replaces it for later sessions). */
export let ort: typeof wasmOrt = wasmOrt;

/** Creates later sessions with another build of the same API (onnxruntime-web/webgpu). */
export function useOrt(binding: typeof wasmOrt): void {
  ort = binding;
}

/** Threads: up to 4 when the page may share memory (COOP/COEP), else 1. */
export function defaultThreads(): number {
  return globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, globalThis.navigator?.hardwareConcurrency ?? 1)) : 1;
}

/** External data on disk does not exist in a browser. */
export function externalDataOptions(folder: string): Record<string, unknown> {
  throw new Error(`external data folders (${folder}) are not available in the browser: export the site with f32 or int8 weights`);
}

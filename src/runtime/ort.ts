/**
 * The ONNX Runtime binding: onnxruntime-node here. The browser build swaps
 * this file for ort.browser.ts (onnxruntime-web, same API), so sessions,
 * models and SAEs run unchanged in a page.
 */
import * as os from 'node:os';
import ortNode from 'onnxruntime-node';

/** The binding sessions are created with (a live binding: `useOrt` replaces it for later sessions). */
export let ort: typeof ortNode = ortNode;

/** Creates later sessions with another binding of the same API (the browser swaps in WebGPU's build this way). */
export function useOrt(binding: typeof ortNode): void {
  ort = binding;
}

/** Intra-op threads by default: $SAESCOPE_THREADS, else every core. */
export function defaultThreads(): number {
  return Number(process.env.SAESCOPE_THREADS) || Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

/** Session options that point external-data initializers at a folder on disk. */
export function externalDataOptions(folder: string): Record<string, unknown> {
  return { extra: { session: { model_external_initializers_file_folder_path: folder } } };
}

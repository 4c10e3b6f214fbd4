/**
 * The two passes of a training step that run in JavaScript, the sparse
 * gradient scatter and clipped Adam, split over two threads: a worker takes
 * everything of W_dec (its gradient scatter, its share of the squared norm,
 * its Adam update and the unit-norm rescale) while the main thread does the
 * other parameters. The split is fixed, each element is written by one thread
 * in the same order as the sequential code, and the norm's partial sums are
 * added in a fixed order, so a run gives the same bits every time.
 * W_dec and its gradient and moments live in SharedArrayBuffers; the worker's
 * code is plain JavaScript, so it needs no TypeScript loader.
 */
import { Worker } from 'node:worker_threads';
import { adamUpdate, normalizeRows } from './kernels.ts';

/** The worker's source, built when it starts. */
const workerSource = (): string => `
const { parentPort } = require('node:worker_threads');
${adamUpdate.toString()}
${normalizeRows.toString()}
parentPort.on('message', (m) => {
  if (m.op === 'scatter') {
    const g = m.g;
    g.fill(0);
    for (const t of m.terms) {
      const k = t.values.length / (t.dOut.length / m.dIn);
      for (let i = 0; i < t.values.length; i++) {
        const v = t.values[i];
        if (v === 0 && t.dPre[i] === 0) continue;
        const row = Number(t.indices[i]) * m.dIn;
        const src = ((i / k) | 0) * m.dIn;
        for (let j = 0; j < m.dIn; j++) g[row + j] += v * t.dOut[src + j];
      }
    }
    let sq = 0;
    for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
    parentPort.postMessage({ sq });
  } else if (m.op === 'adam') {
    adamUpdate(m.p, m.g, m.mm, m.vv, m.clip, m.b1, m.b2, m.c1, m.c2, m.lr, m.eps);
    if (m.unit) normalizeRows(m.p, m.dIn);
    parentPort.postMessage({ done: true });
  }
});
`;

let worker: Worker | undefined;
/** Calls in the order they were made; the head is the one the worker is running. */
const queue: { msg: Record<string, unknown>; resolve: (v: { sq?: number }) => void; reject: (e: Error) => void }[] = [];

function start(): Worker {
  const w = new Worker(workerSource(), { eval: true });
  w.on('message', (v: { sq?: number }) => {
    queue.shift()?.resolve(v);
    next();
  });
  w.on('error', (e) => {
    worker = undefined;
    const err = new Error(`training worker failed: ${e.message}`);
    for (const c of queue.splice(0)) c.reject(err);
  });
  return w;
}

/** Sends the queue's head; the worker is held (ref) only while a call is out, so an idle one never keeps the process alive. */
function next(): void {
  if (!queue.length) {
    worker?.unref();
    return;
  }
  worker ??= start();
  worker.ref();
  worker.postMessage(queue[0].msg);
}

function call(msg: Record<string, unknown>): Promise<{ sq?: number }> {
  return new Promise((resolve, reject) => {
    queue.push({ msg, resolve, reject });
    if (queue.length === 1) next();
  });
}

/** `a` backed by a SharedArrayBuffer (copied into one when it is not). */
export function shared(a: Float32Array): Float32Array {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}

/** One scatter term's entries, copied where the worker must read them. */
export interface ScatterTerm {
  readonly indices: BigInt64Array;
  readonly values: Float32Array;
  readonly dPre: Float32Array;
  readonly dOut: Float32Array;
}

function sharedCopy<T extends Float32Array | BigInt64Array>(a: T): T {
  const C = a.constructor as new (b: SharedArrayBuffer) => T;
  const s = new C(new SharedArrayBuffer(a.byteLength));
  s.set(a as never);
  return s;
}

/**
 * Starts the worker's half of the scatter: zeroes `gWdec` (shared) and adds
 * every term's W_dec contributions; resolves with its squared norm.
 */
export function scatterDecoder(gWdec: Float32Array, terms: readonly ScatterTerm[], dIn: number): Promise<number> {
  const t = terms.map((x) => ({ indices: sharedCopy(x.indices), values: sharedCopy(x.values), dPre: sharedCopy(x.dPre), dOut: sharedCopy(x.dOut) }));
  return call({ op: 'scatter', g: gWdec, terms: t, dIn }).then((r) => r.sq!);
}

/** Starts the worker's Adam update of W_dec (all arrays shared); resolves when done. */
export function adamDecoder(a: { p: Float32Array; g: Float32Array; mm: Float32Array; vv: Float32Array; clip: number; b1: number; b2: number; c1: number; c2: number; lr: number; eps: number; unit: boolean; dIn: number }): Promise<void> {
  return call({ op: 'adam', ...a }).then(() => undefined);
}

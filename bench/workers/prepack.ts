/**
 * saescope side of bench/prepack: one GEMM ([rows, K] x [K, N]) in ONNX
 * Runtime with its weight as a graph input (how saescope shares one copy of
 * the weights between sessions) or as an initializer (which ORT prepacks at
 * session creation), timed at the same shape in the same process.
 */
import { GraphBuilder } from '../../src/runtime/graph.ts';
import { Session, type Feed } from '../../src/runtime/session.ts';
import { Rng } from '../../src/tensor/random.ts';

const a = JSON.parse(process.argv[2]) as { shapes: [number, number][]; rows: number[]; reps: number };
const rng = new Rng(1);
const out: Record<string, unknown>[] = [];
for (const [K, N] of a.shapes) {
  const W = { dtype: 'float32' as const, shape: [K, N], data: Float32Array.from({ length: K * N }, () => rng.normal() * 0.02) };
  const build = (asInput: boolean) => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['rows', K]);
    const w = asInput ? g.input('w', 'float32', [K, N]) : g.weight('w', W);
    g.op('MatMul', [x, w], {}, { out: 'y' });
    g.output('y', 'float32', ['rows', N]);
    return Session.create(g.toBytes('gemm'));
  };
  const sessions = { input: await build(true), initializer: await build(false) };
  for (const rows of a.rows) {
    const x = { dtype: 'float32' as const, shape: [rows, K], data: Float32Array.from({ length: rows * K }, () => rng.normal()) };
    const secs: Record<string, number> = {};
    // Interleaved rounds, the best of each: both kinds see the same machine state.
    for (let round = 0; round < 5; round++) {
      for (const [kind, s] of Object.entries(sessions)) {
        const feeds: Record<string, Feed> = kind === 'input' ? { x, w: W } : { x };
        await s.run(feeds);
        const t0 = performance.now();
        for (let i = 0; i < a.reps; i++) await s.run(feeds);
        const dt = (performance.now() - t0) / 1000 / a.reps;
        secs[kind] = Math.min(secs[kind] ?? Infinity, dt);
      }
    }
    out.push({ K, N, rows, input_us: Math.round(secs.input * 1e6), initializer_us: Math.round(secs.initializer * 1e6), slowdown_as_input: Number((secs.input / secs.initializer).toPrecision(3)) });
  }
  for (const s of Object.values(sessions)) await s.release();
}
console.log(JSON.stringify({ gemms: out }));

/**
 * The sweep's per-token KL and negative log-likelihood (klAndNll), against
 * the definitions computed here in float64: p = softmax(clean), q =
 * softmax(steered), KL(p ‖ q) = Σ p_i log(p_i / q_i), NLL = −log p[token].
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { klAndNll } from '../src/sae/eval/lossMath.ts';
import { Rng } from '../src/tensor/random.ts';

function softmax(x: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(x));
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

test('klAndNll equals KL(softmax(clean) ‖ softmax(steered)) and −log softmax(clean)[token] computed from their definitions', () => {
  const rng = new Rng(3);
  for (const [n, scale] of [[7, 1], [1000, 5], [50257, 30]] as const) {
    const x = Float32Array.from({ length: n }, () => rng.normal() * scale);
    const y = Float32Array.from(x, (v) => v + rng.normal() * scale * 0.3);
    const p = softmax(x);
    const q = softmax(y);
    let kl = 0;
    for (let i = 0; i < n; i++) if (p[i] > 0) kl += p[i] * Math.log(p[i] / q[i]);
    const token = n - 2;
    const got = klAndNll(x, y, token, new Float64Array(n));
    assert.ok(Math.abs(got.kl - kl) <= 1e-9 * Math.max(1, kl), `n ${n}: KL ${got.kl} vs ${kl}`);
    assert.ok(Math.abs(got.nll + Math.log(p[token])) <= 1e-9 * Math.max(1, -Math.log(p[token])), `n ${n}: NLL ${got.nll} vs ${-Math.log(p[token])}`);
    // The same row twice: no divergence.
    assert.ok(Math.abs(klAndNll(x, x, 0, new Float64Array(n)).kl) < 1e-12);
  }
});

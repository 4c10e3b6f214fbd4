/**
 * Rotary position embeddings (Su et al. 2021, RoFormer) in HF's rotate-half
 * form, on the leading `rotaryDim` dims of each head (partial rotary in
 * GPT-NeoX). cos/sin tables are initializers gathered by `position_ids`.
 */
import type { ModelSpec } from '../spec.ts';
import type { BuildCtx } from './context.ts';

/** A rotary's base and scaling: the model's, or Gemma 3's local one. */
export type Rope = Pick<ModelSpec, 'ropeTheta' | 'ropeScaling'>;

/** Inverse frequencies [rotaryDim / 2], with HF's linear or llama3 scaling. */
export function inverseFrequencies(spec: ModelSpec, rope: Rope = spec): Float64Array {
  const dim = spec.rotaryDim;
  const inv = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = 1 / rope.ropeTheta ** ((2 * i) / dim);
  const s = rope.ropeScaling;
  if (s?.type === 'linear') for (let i = 0; i < inv.length; i++) inv[i] /= s.factor;
  if (s?.type === 'llama3') {
    const lowWave = s.originalMaxPositions / s.lowFreqFactor;
    const highWave = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < inv.length; i++) {
      const wave = (2 * Math.PI) / inv[i];
      if (wave > lowWave) inv[i] /= s.factor;
      else if (wave >= highWave) {
        const smooth = (s.originalMaxPositions / wave - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / s.factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

/**
 * cos and sin [batch, pos, 1, rotaryDim] for the positions input, computed in
 * the graph as HF does (float32 angles pos x inv_freq, then cos/sin), so no
 * table of the whole context is stored (131,072 positions on Llama 3).
 */
export function rotaryTables(c: BuildCtx, positionIds: string, rope: Rope = c.spec): { cos: string; sin: string } {
  const { spec, g } = c;
  const inv = Float32Array.from(inverseFrequencies(spec, rope));
  const pos = g.op('Unsqueeze', [g.op('Cast', [positionIds], { to: 1 }), g.ints([-1])]); // [b, pos, 1]
  const half = g.op('Mul', [pos, g.floats([...inv], [inv.length])]); // [b, pos, rotaryDim / 2]
  const angles = g.op('Unsqueeze', [g.op('Concat', [half, half], { axis: -1 }), g.ints([2])]);
  return { cos: g.op('Cos', [angles]), sin: g.op('Sin', [angles]) };
}

/** Applies rotary to `x` [batch, pos, heads, dHead]. */
export function applyRotary(c: BuildCtx, x: string, t: { cos: string; sin: string }): string {
  const { g, spec } = c;
  const rot = spec.rotaryDim;
  const half = rot / 2;
  let xr = x;
  let pass: string | undefined;
  if (rot < spec.dHead) [xr, pass] = g.opN('Split', [x, g.ints([rot, spec.dHead - rot])], 2, { axis: -1 });
  const [x1, x2] = g.opN('Split', [xr, g.ints([half, half])], 2, { axis: -1 });
  const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
  const out = g.op('Add', [g.op('Mul', [xr, t.cos]), g.op('Mul', [rotated, t.sin])]);
  return pass ? g.op('Concat', [out, pass], { axis: -1 }) : out;
}

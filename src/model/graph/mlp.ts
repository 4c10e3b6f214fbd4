/** The MLP: GELU (GPT-2, NeoX) or SwiGLU / GeGLU (Shazeer 2020; Llama, Gemma). Returns hook_mlp_out (after Gemma 2's ln2_post). */
import type { BuildCtx } from './context.ts';
import { norm } from './norm.ts';

export function mlp(c: BuildCtx, input: string, L: number): string {
  const { g, spec } = c;
  const p = `blocks.${L}.mlp.`;
  const x = c.hook(p + 'hook_in', input);
  let post: string;
  if (spec.gatedMlp) {
    const gate = c.hook(p + 'hook_pre', c.linear(x, 'W_gate', L));
    const up = c.hook(p + 'hook_pre_linear', c.linear(x, 'W_in', L, 'b_in'));
    post = c.hook(p + 'hook_post', g.op('Mul', [activate(c, gate), up]));
  } else {
    const pre = c.hook(p + 'hook_pre', c.linear(x, 'W_in', L, 'b_in'));
    post = c.hook(p + 'hook_post', activate(c, pre));
  }
  let out = c.linear(post, 'W_out', L, 'b_out');
  if (spec.postNorms) out = norm(c, out, 'ln2_post', L, `blocks.${L}.ln2_post.hook_normalized`);
  return c.hook(`blocks.${L}.hook_mlp_out`, out);
}

function activate(c: BuildCtx, x: string): string {
  const { g } = c;
  switch (c.spec.act) {
    case 'gelu_tanh':
      return g.op('Gelu', [x], { approximate: 'tanh' });
    case 'gelu':
      return g.op('Gelu', [x]);
    case 'relu':
      return g.op('Relu', [x]);
    case 'silu':
      return g.op('Mul', [x, g.op('Sigmoid', [x])]);
  }
}

/**
 * The hook grammar, in TransformerLens's names (transformer_lens/hook_points.py
 * and components/): global hooks, per-block hooks `blocks.{L}.<name>`, and
 * `ln_final.hook_normalized`. Each hook documents its shape. Which hooks a
 * model has depends on its features (learned positions, parallel residual,
 * gated MLP), declared by `HookFeatures`. As in TransformerLens 3 (and its
 * folded LayerNormPre/RMSNormPre, which SAELens-trained SAEs saw),
 * `ln*.hook_normalized` is the normalized activation before the norm's weight
 * and bias.
 */

/** One hook point of one model. */
export interface HookPoint {
  /** Full TransformerLens name, e.g. `blocks.3.hook_resid_post`. */
  readonly name: string;
  /** Block index, or -1 for hooks outside the blocks. */
  readonly layer: number;
  /** Position in forward order (0 first); later hooks depend on earlier ones. */
  readonly order: number;
  /** Shape as symbols, e.g. `['batch', 'pos', 'dModel']`. */
  readonly shape: readonly string[];
}

/** Model features that decide which hooks exist. */
export interface HookFeatures {
  /** Number of blocks. */
  readonly nLayers: number;
  /** Learned absolute positions (GPT-2): adds `hook_pos_embed`. */
  readonly learnedPositions: boolean;
  /** Attention and MLP read the same residual (GPT-NeoX): no `hook_resid_mid`. */
  readonly parallelResidual: boolean;
  /** Gated MLP (SwiGLU): adds `mlp.hook_pre_linear`. */
  readonly gatedMlp: boolean;
  /** Norms on the attention and MLP outputs (Gemma 2): adds `ln1_post` and `ln2_post.hook_normalized`. */
  readonly postNorms?: boolean;
}

type Template = readonly [name: string, shape: readonly string[], when?: (f: HookFeatures) => boolean];

const BSD = ['batch', 'pos', 'dModel'];
const HEADS = ['batch', 'pos', 'nHeads', 'dHead'];
const KV_HEADS = ['batch', 'pos', 'nKvHeads', 'dHead'];

/** Block hooks in forward order. */
const BLOCK: readonly Template[] = [
  ['hook_resid_pre', BSD],
  ['ln1.hook_normalized', BSD],
  ['attn.hook_q', HEADS],
  ['attn.hook_k', KV_HEADS],
  ['attn.hook_v', KV_HEADS],
  ['attn.hook_pattern', ['batch', 'nHeads', 'queryPos', 'keyPos']],
  ['attn.hook_z', HEADS],
  ['ln1_post.hook_normalized', BSD, (f) => f.postNorms === true],
  ['hook_attn_out', BSD],
  ['hook_resid_mid', BSD, (f) => !f.parallelResidual],
  ['ln2.hook_normalized', BSD],
  ['mlp.hook_in', BSD],
  ['mlp.hook_pre', ['batch', 'pos', 'dMlp']],
  ['mlp.hook_pre_linear', ['batch', 'pos', 'dMlp'], (f) => f.gatedMlp],
  ['mlp.hook_post', ['batch', 'pos', 'dMlp']],
  ['ln2_post.hook_normalized', BSD, (f) => f.postNorms === true],
  ['hook_mlp_out', BSD],
  ['hook_resid_post', BSD],
];

/** Every hook point of a model with these features, in forward order. */
export function hookPoints(f: HookFeatures): HookPoint[] {
  const out: HookPoint[] = [];
  const push = (name: string, layer: number, shape: readonly string[]) => out.push({ name, layer, order: out.length, shape });
  push('hook_embed', -1, BSD);
  if (f.learnedPositions) push('hook_pos_embed', -1, BSD);
  for (let l = 0; l < f.nLayers; l++) {
    for (const [name, shape, when] of BLOCK) if (!when || when(f)) push(`blocks.${l}.${name}`, l, shape);
  }
  push('ln_final.hook_normalized', f.nLayers, BSD);
  return out;
}

/** Splits a hook name into its block index (or -1) and its local name. */
export function parseHookName(name: string): { layer: number; local: string } {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  return m ? { layer: Number(m[1]), local: m[2] } : { layer: -1, local: name };
}

/** Natural order: digit runs compare as numbers (`blocks.2` before `blocks.10`). */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

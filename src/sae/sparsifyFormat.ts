/**
 * EleutherAI sparsify's folder (`cfg.json` + `sae.safetensors`), written for
 * what SAELens has no class for: TopK transcoders. sparsify's `SparseCoder`
 * (sparse_coder.py) holds `encoder.weight` [d_sae, d_in], `encoder.bias`,
 * `W_dec` [d_sae, d_in], `b_dec` [d_in] and, with `skip_connection`,
 * `W_skip` [d_in, d_in] added as `x @ W_skip.mT`; with `transcode` the input
 * is not shifted by b_dec. Its cfg.json is SparseCoderConfig's fields plus
 * `d_in`; sparsify's `load_from_disk` drops fields it does not know, so the
 * hooks and metadata ride along under `saescope_` keys.
 */
import { outWidth, type SaeConfig } from './config.ts';
import type { Sae } from './sae.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { transpose2d } from './folds.ts';

/** Whether saescope saves this dictionary in sparsify's layout (SAELens has no TopK transcoder). */
export function savesAsSparsify(cfg: SaeConfig): boolean {
  return cfg.hookNameOut !== undefined && cfg.architecture === 'topk';
}

/** sparsify's tensors and cfg.json for a TopK transcoder. */
export function sparsifyFolder(sae: Sae, extraMetadata: Record<string, unknown> = {}): { tensors: Record<string, Tensor<'float32'>>; cfg: Record<string, unknown> } {
  const c = sae.cfg;
  if (!savesAsSparsify(c)) throw new Error('internal: only TopK transcoders are saved in sparsify layout');
  // sparsify's SparseCoder has one width for input and output (W_dec [d_sae, d_in], b_dec [d_in]).
  if (outWidth(c) !== c.dIn) throw new Error(`cannot save a TopK transcoder from ${c.dIn} to ${outWidth(c)} values in sparsify layout: sparsify's transcoders write as many values as they read`);
  const w = sae.weights;
  const tensors: Record<string, Tensor<'float32'>> = { 'encoder.weight': transpose2d(w.W_enc), 'encoder.bias': w.b_enc, W_dec: w.W_dec, b_dec: w.b_dec };
  if (c.skip) tensors.W_skip = w.W_skip;
  const cfg = {
    activation: 'topk', expansion_factor: Math.max(1, Math.round(c.dSae / c.dIn)), normalize_decoder: false, num_latents: c.dSae, k: c.k,
    multi_topk: false, skip_connection: c.skip === true, transcode: true, d_in: c.dIn,
    saescope_hook_name: c.hookName, saescope_hook_name_out: c.hookNameOut, saescope_model_name: c.modelName,
    saescope_context_size: c.contextSize, saescope_dataset_path: c.datasetPath,
    saescope_metadata: { ...c.extraMetadata, ...extraMetadata },
  };
  return { tensors, cfg };
}

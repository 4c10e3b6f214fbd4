/** Checks that an SAE fits a model: its hook exists there and has the SAE's width. */
import type { HookedModel } from '../model/hookedModel.ts';
import { hookInnerDims } from '../model/interventionFeeds.ts';
import { numel } from '../tensor/tensor.ts';
import type { Sae } from './sae.ts';
import { outWidth } from './config.ts';

/**
 * Throws naming the hook and both widths when the SAE cannot read the
 * model's hook, or when the hook is not the tensor the SAE was trained on.
 */
export function checkSaeFitsModel(sae: Sae, model: HookedModel): void {
  const point = model.resolveHooks([sae.cfg.hookName])[0];
  // sparsify's layers.N.mlp / self_attn hookpoints are the modules' outputs: on Gemma 2/3 those come before the
  // post-norms, while hook_mlp_out / hook_attn_out come after them. No saescope hook holds the pre-norm output.
  // A sparsify transcoder writes that output.
  const moduleOut = [point.name, ...(sae.cfg.hookNameOut ? [model.resolveHooks([sae.cfg.hookNameOut])[0].name] : [])].find((h) => /hook_(mlp|attn)_out$/.test(h));
  if (sae.origin.format === 'sparsify' && model.spec.postNorms && moduleOut) {
    throw new Error(`${sae.source}: a sparsify ${sae.cfg.hookNameOut ? 'transcoder' : 'SAE'} on the ${moduleOut.includes('mlp') ? 'MLP' : 'attention'} module's output, which on ${model.spec.modelType} comes before the post-norm that ${moduleOut} includes; saescope has no hook at that tensor, so the ${sae.cfg.hookNameOut ? 'transcoder would write' : 'SAE would read'} the wrong activations`);
  }
  // TransformerLens centres writing weights only on LayerNorm models: on RMSNorm models an SAE's
  // center_writing_weights metadata describes nothing that happened.
  if (sae.cfg.centerInput && model.spec.norm === 'rmsnorm') {
    throw new Error(`${sae.source}: its metadata says the model was loaded with center_writing_weights, which TransformerLens applies only to LayerNorm models, but ${model.name} uses RMSNorm; remove model_from_pretrained_kwargs.center_writing_weights from cfg.json if the SAE read uncentred activations`);
  }
  const width = numel(hookInnerDims(point, model.spec));
  if (width !== sae.cfg.dIn) {
    throw new Error(`SAE ${sae.source || ''} has d_in ${sae.cfg.dIn} but ${point.name} of ${model.name} has width ${width}: it was trained on another model or hook`);
  }
  if (sae.cfg.hookNameOut !== undefined) {
    const out = model.resolveHooks([sae.cfg.hookNameOut])[0];
    const w = numel(hookInnerDims(out, model.spec));
    if (w !== outWidth(sae.cfg)) throw new Error(`transcoder ${sae.source || ''} writes d_out ${outWidth(sae.cfg)} but ${out.name} of ${model.name} has width ${w}`);
  }
}

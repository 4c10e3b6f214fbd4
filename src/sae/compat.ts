/** Checks that an SAE fits a model: its hook exists there and has the SAE's width. */
import type { HookedModel } from '../model/hookedModel.ts';
import { hookInnerDims } from '../model/interventionFeeds.ts';
import { numel } from '../tensor/tensor.ts';
import type { Sae } from './sae.ts';
import { outWidth } from './config.ts';

/** Throws naming the hook and both widths when the SAE cannot read the model's hook. */
export function checkSaeFitsModel(sae: Sae, model: HookedModel): void {
  const point = model.resolveHooks([sae.cfg.hookName])[0];
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

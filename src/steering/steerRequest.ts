/**
 * `POST /api/steer` for the server and the static site alike: the request's
 * variants read and bounded, and the final event built from the outputs.
 */
import type * as C from '../server/contract.ts';
import { MAX_STEER_VARIANTS, type FeatureSteer, type SteerVariantResult } from './steer.ts';
import type { GenerateResult } from '../model/generate.ts';

/** Most features steered together in one variant. */
export const MAX_STEER_FEATURES = 16;

/**
 * The request's steering variants: `features` (one variant) or `variants`
 * (several, compared side by side), each feature read by `feature`; `bad`
 * makes the error to throw.
 */
export function steerVariantsOf(b: C.SteerRequest, feature: (f: unknown) => FeatureSteer, bad: (message: string) => Error): FeatureSteer[][] {
  if ((b.features === undefined) === (b.variants === undefined)) throw bad('give features (steered together) or variants (compared side by side), not both');
  const lists = b.variants ?? [b.features];
  if (!Array.isArray(lists) || lists.length === 0 || lists.length > MAX_STEER_VARIANTS) throw bad(`give 1 to ${MAX_STEER_VARIANTS} variants`);
  return lists.map((fs, i) => {
    if (!Array.isArray(fs) || fs.length === 0 || fs.length > MAX_STEER_FEATURES) throw bad(`${b.variants ? `variant ${i}: ` : ''}give 1 to ${MAX_STEER_FEATURES} features`);
    return fs.map(feature);
  });
}

/** The stream's last event: the unsteered text, the first variant as `steered`, and every variant. */
export function steerDone(r: { unsteered: GenerateResult; variants: readonly SteerVariantResult[] }, nCtx: number): C.SteerEvent {
  const first = r.variants[0];
  const full = [r.unsteered, ...r.variants.map((v) => v.result)].some((g) => g.stopReason === 'context');
  return {
    kind: 'done', steered: first.result.text, unsteered: r.unsteered.text, strengths: [...first.strengths],
    stopReasons: { steered: first.result.stopReason, unsteered: r.unsteered.stopReason },
    contextNote: full ? `stopped early: the model's context of ${nCtx} tokens is full` : undefined,
    variants: r.variants.map((v) => ({ steered: v.result.text, strengths: [...v.strengths], stopReason: v.result.stopReason })),
  };
}

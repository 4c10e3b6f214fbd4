/**
 * What a steered output is measured by: the steered feature's activation in
 * the output (read back by the clean model and the SAE), the KL divergence of
 * the steered next-token distribution from the unsteered one along the
 * output, the output's perplexity under the unsteered model, and repetition
 * (distinct-n).
 */
import type { AddIntervention, ClampIntervention } from '../hooks/interventions.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import type { Sae } from '../sae/sae.ts';
import { activationAt } from '../analysis/textFeatures.ts';
import { klAndNll } from '../sae/eval/lossMath.ts';

/** Measurements of one output. */
export interface OutputMetrics {
  /** Mean activation of the steered feature over the generated tokens, read by the unsteered model. */
  readonly featureAct: number;
  /** Generated tokens on which the unsteered model, reading them, activates the feature at or above its natural level. */
  readonly fireCount: number;
  /** `fireCount` over the generated tokens. */
  readonly fireFraction: number;
  /** Mean KL(unsteered ‖ steered) of the next-token distributions over the generated positions. */
  readonly kl: number;
  /** exp(mean negative log-likelihood) of the generated tokens under the unsteered model. */
  readonly perplexity: number;
  /** Distinct bigrams over bigrams of the generated tokens (1: no repetition). */
  readonly distinct2: number;
}

/**
 * Measures a generated continuation `ids` of `promptIds`. `level`: the
 * feature's natural firing level; a generated token shows the feature when
 * the unsteered model, reading the text, activates it at or above that level.
 */
export async function measureOutput(model: HookedModel, sae: Sae, feature: number, promptIds: readonly number[], ids: readonly number[], interventions: readonly (AddIntervention | ClampIntervention)[], level = 0): Promise<OutputMetrics> {
  if (ids.length === 0) return outputMetrics(ids, { act: 0, above: 0, kl: 0, nll: 0 });
  const all = [...promptIds, ...ids];
  const hook = sae.cfg.hookName;
  const clean = await model.run([all], { cache: [hook] });
  const steered = interventions.length ? await model.run([all], { interventions }) : clean;
  const codes = await sae.encode({ dtype: 'float32', shape: [all.length, sae.cfg.dIn], data: clean.cache[hook].data });
  const V = model.spec.dVocab;
  const scratch = new Float64Array(V);
  let act = 0, above = 0, kl = 0, nll = 0;
  for (let i = 0; i < ids.length; i++) {
    const pos = promptIds.length + i;
    const a = activationAt(codes, pos, feature);
    act += a;
    if (a > 0 && a >= level) above++;
    const prev = pos - 1;
    const m = klAndNll(clean.logits!.data.subarray(prev * V, (prev + 1) * V), steered.logits!.data.subarray(prev * V, (prev + 1) * V), ids[i], scratch);
    kl += m.kl;
    nll += m.nll;
  }
  return outputMetrics(ids, { act, above, kl, nll });
}

/**
 * An output's measurements from sums over its generated tokens: the feature's
 * activation, the tokens where it fires at its level, KL and negative
 * log-likelihood (an empty output measures as unchanged).
 */
export function outputMetrics(ids: readonly number[], sums: { readonly act: number; readonly above: number; readonly kl: number; readonly nll: number }): OutputMetrics {
  const n = ids.length;
  if (n === 0) return { featureAct: 0, fireCount: 0, fireFraction: 0, kl: 0, perplexity: 1, distinct2: 1 };
  return { featureAct: sums.act / n, fireCount: sums.above, fireFraction: sums.above / n, kl: sums.kl / n, perplexity: Math.exp(sums.nll / n), distinct2: distinctN(ids, 2) };
}

/** Distinct n-grams over n-grams (1 when there are none). */
export function distinctN(ids: readonly number[], n: number): number {
  const total = ids.length - n + 1;
  if (total <= 0) return 1;
  const seen = new Set<string>();
  for (let i = 0; i < total; i++) seen.add(ids.slice(i, i + n).join(','));
  return seen.size / total;
}

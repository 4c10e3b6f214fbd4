/**
 * Which of a feature's sampled firings match its explanation, judged by the
 * detection scorer's prompt (delphi's detection: "does this text fit the
 * explanation?") over every quantile example and as many non-activating
 * contexts. Feeds the explanation-coloured conditional distribution
 * (analysis/conditional.ts) and its log-likelihood ratio.
 */
import type { FeatureDashboard } from '../analysis/dashboard.ts';
import { conditionalByExplanation, conditionalByToken, exampleKey, type ConditionalHistogram } from '../analysis/conditional.ts';
import type { ExplanationLog, ExplanationRecord, RecordKeys } from '../registry/types.ts';
import { plainText } from './format.ts';
import type { LlmClient } from './llmClient.ts';
import { detectionMessages, parseLabels } from './prompts.ts';

/** The judgements, as stored in an explanation's scores under `conditional`. */
export interface ConditionalJudgement {
  /** Per sampled firing (quantile examples): its row, position, and whether it matches. */
  readonly examples: readonly { readonly row: number; readonly pos: number; readonly match: boolean }[];
  /** Non-activating contexts judged, and how many of them matched. */
  readonly offTotal: number;
  readonly offMatched: number;
}

/** Excerpts per call: long lists blur a scorer's answers. */
const PER_CALL = 16;

/** Judges every quantile example and up to as many non-activating contexts against `explanation`. */
export async function judgeConditional(client: LlmClient, d: FeatureDashboard, explanation: string): Promise<ConditionalJudgement> {
  const firing = d.quantiles.flatMap((q) => q.examples);
  if (firing.length === 0) throw new Error(`feature ${d.feature}: no quantile examples to judge (it never fired in the scan)`);
  const off = d.negatives.slice(0, Math.max(4, Math.min(firing.length, d.negatives.length)));
  const texts = [...firing.map(plainText), ...off.map(plainText)];
  const labels: number[] = [];
  for (let a = 0; a < texts.length; a += PER_CALL) {
    const part = texts.slice(a, a + PER_CALL);
    labels.push(...parseLabels(await client.chat(detectionMessages(explanation, part), `conditional:${d.feature}`), part.length));
  }
  const offLabels = labels.slice(firing.length);
  return {
    examples: firing.map((e, i) => ({ row: e.row, pos: e.pos, match: labels[i] === 1 })),
    offTotal: offLabels.length,
    offMatched: offLabels.filter((l) => l === 1).length,
  };
}

/** The judgements as the map `conditionalByExplanation` takes. */
export function judgementMap(j: ConditionalJudgement): Map<string, boolean> {
  return new Map(j.examples.map((e) => [exampleKey(e), e.match]));
}

/** Both views of a feature's dashboard: by token always, by explanation when an explanation in `explanations` was judged. */
export function conditionalViews(d: FeatureDashboard, explanations: readonly ExplanationRecord[]): { token: ConditionalHistogram; explanation: ConditionalHistogram | null } {
  const j = judged(explanations);
  return { token: conditionalByToken(d), explanation: j ? conditionalByExplanation(d, judgementMap(j), j.offMatched, j.offTotal) : null };
}

/**
 * A feature's conditional distribution from the registry: by token, or by
 * explanation match when its newest non-heuristic explanation was judged
 * (`score --conditional`); throws naming what is missing.
 */
export function conditionalFromRegistry(reg: ExplanationLog, keys: RecordKeys & { readonly name?: string }, feature: number, by: 'token' | 'explanation', topTokens?: number, minSamples?: number): ConditionalHistogram {
  const d = reg.dashboard<FeatureDashboard>(keys.model, keys.sae, feature);
  const sae = keys.name ?? keys.sae;
  if (!d) throw new Error(`feature ${feature} of ${sae} has no scan for these weights in the registry: run saescope scan with this registry first`);
  if (by === 'token') return conditionalByToken(d, topTokens, minSamples);
  const j = judged(reg.explanations(keys.model, keys.sae, feature));
  if (!j) throw new Error(`feature ${feature} of ${sae} has no explanation judged example by example: run saescope score --conditional (or explain --score --conditional) first`);
  return conditionalByExplanation(d, judgementMap(j), j.offMatched, j.offTotal, minSamples);
}

/** The judgements of the newest non-heuristic explanation that has them (explanations come newest first). */
function judged(explanations: readonly ExplanationRecord[]): ConditionalJudgement | undefined {
  return explanations.find((x) => x.source !== 'heuristic' && x.scores.conditional)?.scores.conditional as ConditionalJudgement | undefined;
}

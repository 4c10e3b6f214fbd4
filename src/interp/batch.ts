/**
 * Batch runs over many features: explain (and optionally score) each from
 * its dashboard in the registry, store explanations with the prompt version
 * and the explainer model, and report failures per feature while the others
 * finish. Nothing already written is lost: each result is committed as it
 * arrives, and cached answers make reruns free.
 */
import type { FeatureDashboard } from '../analysis/dashboard.ts';
import type { ExplanationLog } from '../registry/types.ts';
import { judgeConditional } from './conditionalJudge.ts';
import { explainFeature, scoreExplanation } from './explain.ts';
import { heuristicName } from './heuristic.ts';
import type { LlmClient } from './llmClient.ts';
import { PROMPT_VERSION } from './prompts.ts';

/** Where results go. */
export interface BatchTarget {
  readonly registry: ExplanationLog;
  /** The model's identity. */
  readonly model: string;
  /** The SAE's identity. */
  readonly sae: string;
  /** The SAE's display name, for messages. */
  readonly name?: string;
}

/** Outcome of a batch. */
export interface BatchResult {
  readonly done: number[];
  readonly failures: { feature: number; error: string }[];
}

function dashboardOf(t: BatchTarget, f: number): FeatureDashboard {
  const d = t.registry.dashboard<FeatureDashboard>(t.model, t.sae, f);
  if (!d) throw new Error(`no scan for feature ${f} of ${t.name ?? t.sae} (these weights) in this registry: run saescope scan with it first`);
  return d;
}

/** Runs `work` for every feature at once (the client limits concurrency), collecting failures per feature. */
async function perFeature(features: readonly number[], work: (f: number) => Promise<void>, onDone?: (f: number, ok: boolean) => void): Promise<BatchResult> {
  const done: number[] = [];
  const failures: { feature: number; error: string }[] = [];
  await Promise.all(features.map(async (f) => {
    try {
      await work(f);
      done.push(f);
      onDone?.(f, true);
    } catch (e) {
      failures.push({ feature: f, error: (e as Error).message });
      onDone?.(f, false);
    }
  }));
  return { done: done.sort((a, b) => a - b), failures: failures.sort((a, b) => a.feature - b.feature) };
}

/** Explains features with the LLM (and scores them with `score`). */
export function explainFeatures(client: LlmClient, t: BatchTarget, features: readonly number[], o: { score?: boolean; conditional?: boolean; force?: boolean; onDone?: (f: number, ok: boolean) => void } = {}): Promise<BatchResult> {
  return perFeature(features, async (f) => {
    // Already explained by this model and prompt version (and scored when asked): nothing to do.
    const prior = t.registry.explanations(t.model, t.sae, f).find((e) => e.source === 'llm' && e.explainerModel === client.cfg.model && e.promptVersion === PROMPT_VERSION);
    if (prior && !o.force && (!o.score || 'detection' in prior.scores) && (!o.conditional || 'conditional' in prior.scores)) return;
    const d = dashboardOf(t, f);
    const explanation = await explainFeature(client, d);
    const id = t.registry.addExplanation(t.model, t.sae, f, { explanation, source: 'llm', explainerModel: client.cfg.model, promptVersion: PROMPT_VERSION, scores: {} });
    if (o.score) t.registry.scoreExplanation(id, { ...(await scoreExplanation(client, d, explanation)), scorerModel: client.cfg.model });
    if (o.conditional) t.registry.scoreExplanation(id, { conditional: await judgeConditional(client, d, explanation) });
  }, o.onDone);
}

/** Scores each feature's newest LLM explanation. */
export function scoreFeatures(client: LlmClient, t: BatchTarget, features: readonly number[], o: { conditional?: boolean; onDone?: (f: number, ok: boolean) => void } = {}): Promise<BatchResult> {
  return perFeature(features, async (f) => {
    const e = t.registry.explanations(t.model, t.sae, f).find((x) => x.source === 'llm');
    if (!e) throw new Error(`feature ${f} has no LLM explanation to score: run saescope explain first`);
    const d = dashboardOf(t, f);
    t.registry.scoreExplanation(e.id, { ...(await scoreExplanation(client, d, e.explanation)), scorerModel: client.cfg.model });
    if (o.conditional) t.registry.scoreExplanation(e.id, { conditional: await judgeConditional(client, d, e.explanation) });
  }, o.onDone);
}

/** Names features with the heuristic namer (no endpoint needed); stored as `heuristic`. */
export function nameHeuristically(t: BatchTarget, features: readonly number[]): BatchResult {
  const done: number[] = [];
  const failures: { feature: number; error: string }[] = [];
  for (const f of features) {
    try {
      const name = heuristicName(dashboardOf(t, f));
      if (!name) throw new Error(`feature ${f} never fired in the scan`);
      t.registry.addExplanation(t.model, t.sae, f, { explanation: name, source: 'heuristic', explainerModel: null, promptVersion: 'heuristic-v1', scores: {} });
      done.push(f);
    } catch (e) {
      failures.push({ feature: f, error: (e as Error).message });
    }
  }
  return { done, failures };
}

/**
 * Explaining a feature from its dashboard (top and quantile examples) and
 * scoring the explanation by detection and fuzzing over balanced sets.
 */
import type { ExampleView, FeatureDashboard } from '../analysis/dashboard.ts';
import { Rng } from '../tensor/random.ts';
import { activationList, markActivating, markedText, plainText } from './format.ts';
import type { LlmClient } from './llmClient.ts';
import { classificationScores, type ClassificationScores } from './metrics.ts';
import { detectionMessages, explainerMessages, fuzzingMessages, parseExplanation, parseLabels } from './prompts.ts';

/** How many examples to show. */
export interface ExampleCounts {
  /** Top examples (default 10). */
  readonly top?: number;
  /** Examples from the quantile bins (default 10, spread over the bins). */
  readonly quantile?: number;
}

/** The explainer's examples: top ones, then some from each quantile bin. */
export function explainerExamples(d: FeatureDashboard, c: ExampleCounts = {}): ExampleView[] {
  const top = d.top.slice(0, c.top ?? 10);
  const bins = d.quantiles.filter((q) => q.examples.length);
  const want = c.quantile ?? 10;
  const quant: ExampleView[] = [];
  for (let i = 0; quant.length < want && i < 64; i++) {
    const bin = bins[i % Math.max(1, bins.length)];
    const e = bin?.examples[Math.floor(i / Math.max(1, bins.length))];
    if (e && !top.includes(e) && !quant.includes(e)) quant.push(e);
    if (!bins.length) break;
  }
  return [...top, ...quant].filter((e) => e.act > 0);
}

/** Asks the LLM for an explanation; returns it with the messages sent. */
export async function explainFeature(client: LlmClient, d: FeatureDashboard, c: ExampleCounts = {}): Promise<string> {
  const examples = explainerExamples(d, c);
  if (examples.length === 0) throw new Error(`feature ${d.feature} never fired in the scan, so there is nothing to explain`);
  const answer = await client.chat(explainerMessages(examples.map((e) => ({ text: markActivating(e), activations: activationList(e) }))), `explain:${d.feature}`);
  return parseExplanation(answer);
}

/** Detection and fuzzing scores of an explanation. */
export interface ExplanationScores {
  readonly detection: ClassificationScores;
  readonly fuzzing: ClassificationScores;
}

/** Scores an explanation against a feature's examples (balanced, shuffled with `seed`). */
export async function scoreExplanation(client: LlmClient, d: FeatureDashboard, explanation: string, o: { n?: number; seed?: number } = {}): Promise<ExplanationScores> {
  const n = o.n ?? 6;
  const rng = new Rng(o.seed ?? 0);
  const activating = explainerExamples(d, { top: n, quantile: n }).slice(0, n);
  const negatives = d.negatives.slice(0, activating.length);
  if (activating.length === 0 || negatives.length === 0) throw new Error(`feature ${d.feature}: not enough activating and non-activating examples to score`);
  const det = shuffle([...activating.map((e) => ({ text: plainText(e), label: 1 })), ...negatives.map((e) => ({ text: plainText(e), label: 0 }))], rng);
  const detAnswer = await client.chat(detectionMessages(explanation, det.map((x) => x.text)), `detection:${d.feature}`);
  const detection = classificationScores(parseLabels(detAnswer, det.length), det.map((x) => x.label));
  const fz = shuffle(activating.map((e, i) => (i % 2 === 0 ? { text: markActivating(e), label: 1 } : { text: misMarked(e, rng), label: 0 })), rng);
  const fzAnswer = await client.chat(fuzzingMessages(explanation, fz.map((x) => x.text)), `fuzzing:${d.feature}`);
  const fuzzing = classificationScores(parseLabels(fzAnswer, fz.length), fz.map((x) => x.label));
  return { detection, fuzzing };
}

/** The example with as many marks as it has activating tokens, on tokens that do not activate. */
function misMarked(e: ExampleView, rng: Rng): string {
  const on = e.acts.filter((a) => a > 0).length;
  const off = e.acts.map((a, i) => (a > 0 ? -1 : i)).filter((i) => i >= 0);
  const marks = new Array<boolean>(e.tokens.length).fill(false);
  for (const i of shuffle(off, rng).slice(0, Math.max(1, on))) marks[i] = true;
  return markedText(e.tokens, marks);
}

function shuffle<T>(xs: T[], rng: Rng): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

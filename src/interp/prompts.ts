/**
 * Prompts for explaining and scoring features, in the manner of Bills et al.
 * (2023) and EleutherAI's delphi: the explainer sees marked examples with
 * activations; the detection scorer decides which unmarked texts the
 * explanation predicts to activate; the fuzzing scorer decides whether marked
 * tokens are the ones the explanation describes.
 */
import type { Message } from './llmClient.ts';

/** Changes whenever a prompt's wording changes; stored with each explanation. */
export const PROMPT_VERSION = 'saescope-v1';

export function explainerMessages(examples: readonly { text: string; activations: string }[]): Message[] {
  return [
    {
      role: 'system',
      content:
        'You are studying one feature of a language model. You will see short excerpts of text in which the feature activates. ' +
        'The tokens where it activates are marked <<like this>>, and after each excerpt the marked tokens are listed with how strongly ' +
        'the feature activates on each, from 0 to 10. Work out what the marked tokens have in common and what context makes the feature ' +
        'activate. Keep the explanation short: a few words or one sentence. Put it on the last line as\n[EXPLANATION]: <explanation>',
    },
    { role: 'user', content: examples.map((e, i) => `Excerpt ${i + 1}: ${e.text}\nActivations: ${e.activations}`).join('\n\n') },
  ];
}

export function detectionMessages(explanation: string, texts: readonly string[]): Message[] {
  return [
    {
      role: 'system',
      content:
        'You will get the explanation of a language-model feature and numbered excerpts of text. For each excerpt, decide whether the ' +
        'feature activates anywhere in it, judging only from the explanation. Answer with nothing but a JSON list with one entry per ' +
        'excerpt, in order: 1 if it activates, 0 if not. Example answer: [1, 0, 0, 1]',
    },
    { role: 'user', content: `Explanation: ${explanation}\n\n${texts.map((t, i) => `Excerpt ${i + 1}: ${t}`).join('\n')}` },
  ];
}

export function fuzzingMessages(explanation: string, texts: readonly string[]): Message[] {
  return [
    {
      role: 'system',
      content:
        'You will get the explanation of a language-model feature and numbered excerpts of text in which some tokens are marked ' +
        '<<like this>>. For each excerpt, decide whether the marked tokens are the ones the explanation describes. Answer with nothing ' +
        'but a JSON list with one entry per excerpt, in order: 1 if the marking is correct, 0 if not. Example answer: [0, 1, 1, 0]',
    },
    { role: 'user', content: `Explanation: ${explanation}\n\n${texts.map((t, i) => `Excerpt ${i + 1}: ${t}`).join('\n')}` },
  ];
}

export function steeringChangeMessages(prompt: string, unsteered: string, steered: string): Message[] {
  return [
    { role: 'system', content: 'You compare two continuations of the same prompt from a language model, one normal and one with an internal feature amplified. Say in one sentence what changed in the steered text: its topic, words, style, or coherence.' },
    { role: 'user', content: `Prompt: ${prompt}\n\nNormal continuation: ${unsteered}\n\nSteered continuation: ${steered}` },
  ];
}

/** The explanation from the explainer's answer (the last [EXPLANATION] line); throws on anything else. */
export function parseExplanation(answer: string): string {
  const m = [...answer.matchAll(/\[EXPLANATION\]:\s*(.+)/g)].pop();
  const text = (m ? m[1] : answer.trim().includes('\n') ? '' : answer).trim();
  if (!text) throw new Error(`malformed explanation answer (no [EXPLANATION] line): ${JSON.stringify(answer.slice(0, 200))}`);
  return text;
}

/** A list of n zeros and ones from a scorer's answer; throws on anything else. */
export function parseLabels(answer: string, n: number): number[] {
  const m = /\[[\s\d,]*\]/.exec(answer);
  let v: unknown;
  try {
    v = m ? JSON.parse(m[0]) : undefined;
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => x === 0 || x === 1)) {
    throw new Error(`malformed scorer answer (expected a JSON list of ${n} zeros and ones): ${JSON.stringify(answer.slice(0, 200))}`);
  }
  return v as number[];
}

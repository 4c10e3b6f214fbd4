/**
 * Autoregressive generation with a KV cache: one prefill over the prompt,
 * then one token's work per step, appending each step's keys/values to the cache fed back as
 * `past`. Additive interventions apply at absolute positions, so steering the
 * prompt, the generated tokens or both works with the cache.
 */
import type { AddIntervention, ClampIntervention } from '../hooks/interventions.ts';
import { Rng } from '../tensor/random.ts';
import type { Feed } from '../runtime/session.ts';
import { validateTokens } from './inputs.ts';
import { interventionFeeds } from './interventionFeeds.ts';
import { KvCache } from './kvCache.ts';
import type { HookedModel } from './hookedModel.ts';
import { sampleToken, type SamplingOptions } from './sampling.ts';

/** Options of `generate`. */
export interface GenerateOptions {
  /** New tokens at most (default 32). Generation also ends at the context's end. */
  readonly maxNewTokens?: number;
  /** 0 is greedy (default 1). */
  readonly temperature?: number;
  /** Top-k filter. */
  readonly topK?: number;
  /** Nucleus filter. */
  readonly topP?: number;
  /** Sampling seed (default 0): the same seed gives the same output. */
  readonly seed?: number;
  /** Strings that end generation (the text is cut before them). */
  readonly stop?: readonly string[];
  /** End at the EOS token (default true). */
  readonly stopAtEos?: boolean;
  /** Additive and clamp interventions; `positions` are absolute token positions. */
  readonly interventions?: readonly (AddIntervention | ClampIntervention)[];
  /** Use the KV cache (default true); without it every step reruns the whole sequence. */
  readonly kvCache?: boolean;
  /** Prepend BOS to a text prompt (default true). */
  readonly prependBos?: boolean;
  /** Keep each step's next-token logits [dVocab] in the result. */
  readonly returnLogits?: boolean;
  /** Called with each new token as it is chosen (streaming). */
  readonly onToken?: (id: number, textSoFar: string) => void;
}

/** What `generate` returns. */
export interface GenerateResult {
  /** The prompt's token ids (with BOS when prepended). */
  readonly promptIds: readonly number[];
  /** The new token ids. */
  readonly ids: readonly number[];
  /** The new text (decoded in context, so leading spaces survive). */
  readonly text: string;
  /** Why it ended. */
  readonly stopReason: 'length' | 'eos' | 'stop' | 'context';
  /** With `returnLogits`: the logits each new token was chosen from. */
  readonly logits?: readonly Float32Array[];
}

/** Generates from `prompt` (text or ids). */
export async function generate(model: HookedModel, prompt: string | readonly number[], o: GenerateOptions = {}): Promise<GenerateResult> {
  const promptIds = typeof prompt === 'string' ? model.toTokens(prompt, o.prependBos ?? true)[0] : [...prompt];
  validateTokens([promptIds], model.spec);
  const maxNew = o.maxNewTokens ?? 32;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`maxNewTokens must be a non-negative integer, got ${maxNew}`);
  const sampling: SamplingOptions = { temperature: o.temperature ?? 1, topK: o.topK, topP: o.topP };
  const rng = new Rng(o.seed ?? 0);
  const step = o.kvCache === false ? fullStepper(model, o) : cachedStepper(model, o, Math.min(model.spec.nCtx, promptIds.length + maxNew + 1));
  const eos = o.stopAtEos === false ? undefined : (model.tokenizer?.eosId ?? model.spec.eosTokenId);
  const ids: number[] = [];
  const logitsOut: Float32Array[] = [];
  let stopReason: GenerateResult['stopReason'] = 'length';
  let text = '';
  let fed: number[] = promptIds;
  const promptText = model.tokenizer?.decode(promptIds) ?? '';
  for (let i = 0; i < maxNew; i++) {
    if (promptIds.length + ids.length >= model.spec.nCtx) {
      stopReason = 'context';
      break;
    }
    const logits = await step(fed, [...promptIds, ...ids]);
    if (o.returnLogits) logitsOut.push(logits);
    const next = sampleToken(logits, sampling, rng);
    if (next === eos) {
      stopReason = 'eos';
      break;
    }
    ids.push(next);
    fed = [next];
    text = decodeNew(model, promptIds, promptText, ids);
    const cut = firstStop(text, o.stop);
    if (cut >= 0) {
      text = text.slice(0, cut);
      stopReason = 'stop';
      o.onToken?.(next, text);
      break;
    }
    o.onToken?.(next, text);
  }
  return { promptIds, ids, text, stopReason, logits: o.returnLogits ? logitsOut : undefined };
}

type Stepper = (newIds: readonly number[], all: readonly number[]) => Promise<Float32Array>;

/** Feeds only the new tokens, carrying keys and values between steps (at most `longest` positions). */
function cachedStepper(model: HookedModel, o: GenerateOptions, longest: number): Stepper {
  const { spec } = model;
  const kv = KvCache.of(spec, 1, longest);
  return async (newIds) => {
    const T = newIds.length;
    const pastLen = kv.filled;
    const iv = interventionFeeds(o.interventions ?? [], model.hooks, spec, 1, T, pastLen);
    const plan = model.plan({ cache: [], add: iv.add, replace: [], clamp: iv.clamp, logits: 'last', kvCache: true });
    const feeds: Record<string, Feed> = {
      input_ids: { dtype: 'int64', shape: [1, T], data: BigInt64Array.from(newIds, (t) => BigInt(t)) },
      position_ids: { dtype: 'int64', shape: [1, T], data: BigInt64Array.from({ length: T }, (_, t) => BigInt(pastLen + t)) },
      attn_bias: kv.attnBias(T, () => 0),
      ...kv.feeds(), ...iv.feeds,
    };
    const out = await model.runPlan(plan, feeds, iv.encoders);
    kv.append(out, T);
    return out.logits.data;
  };
}

/** Reruns the whole sequence every step (the reference the cache must equal). */
function fullStepper(model: HookedModel, o: GenerateOptions): Stepper {
  return async (_newIds, all) => {
    const res = await model.run([all], { interventions: o.interventions, logits: 'last' });
    return res.logits!.data;
  };
}

/** The new text, decoded in context (so a leading space survives); `before` is the decoded prompt. */
export function decodeNew(model: HookedModel, promptIds: readonly number[], before: string, ids: readonly number[]): string {
  const tok = model.tokenizer;
  if (!tok) return '';
  const all = tok.decode([...promptIds, ...ids]);
  return all.startsWith(before) ? all.slice(before.length) : tok.decode(ids);
}

/** Where the first stop string starts in `text`, or -1. */
export function firstStop(text: string, stops: readonly string[] | undefined): number {
  let best = -1;
  for (const s of stops ?? []) {
    const i = s ? text.indexOf(s) : -1;
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

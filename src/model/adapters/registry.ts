/** The architecture registry: `model_type` to adapter, filled here once; duplicates throw. */
import type { ArchAdapter } from './adapter.ts';
import { gpt2 } from './gpt2.ts';
import { gptNeox } from './gptNeox.ts';
import { gemma, gemma2, gemma3 } from './gemma.ts';
import { llama, qwen3 } from './llama.ts';

const REGISTRY = new Map<string, ArchAdapter>();

function register(a: ArchAdapter): void {
  for (const t of a.modelTypes) {
    if (REGISTRY.has(t)) throw new Error(`architecture '${t}' is registered twice`);
    REGISTRY.set(t, a);
  }
}

register(gpt2);
register(gptNeox);
register(llama);
register(qwen3);
register(gemma);
register(gemma2);
register(gemma3);

/** The adapter for a `model_type`; throws listing the supported ones. */
export function adapterFor(modelType: unknown, where: string): ArchAdapter {
  const a = typeof modelType === 'string' ? REGISTRY.get(modelType) : undefined;
  if (!a) {
    throw new Error(`${where}: unknown model_type ${JSON.stringify(modelType)} (supported: ${[...REGISTRY.keys()].join(', ')})`);
  }
  return a;
}

/**
 * The text model's config: a multimodal Gemma 3 config.json (`model_type`
 * gemma3) keeps it in `text_config` (whose own model_type may be absent);
 * every other config is its own.
 */
export function textModelConfig(cfg: Readonly<Record<string, unknown>>): Record<string, unknown> {
  if (cfg.model_type !== 'gemma3') return { ...cfg };
  const text = cfg.text_config;
  if (typeof text !== 'object' || text === null || Array.isArray(text)) throw new Error('config.json: a gemma3 (multimodal) config needs a text_config object for its language model');
  const t = text as Record<string, unknown>;
  if (t.model_type !== undefined && t.model_type !== 'gemma3_text') throw new Error(`config.json: text_config.model_type must be gemma3_text, got ${JSON.stringify(t.model_type)}`);
  // Token ids and the name live at the top level of the multimodal config.
  const top = Object.fromEntries(['bos_token_id', 'eos_token_id', 'pad_token_id', '_name_or_path', 'torch_dtype'].filter((k) => cfg[k] !== undefined && t[k] === undefined).map((k) => [k, cfg[k]]));
  return { ...top, ...t, model_type: 'gemma3_text' };
}

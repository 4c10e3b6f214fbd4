/** The architecture registry: `model_type` to adapter, filled here once; duplicates throw. */
import type { ArchAdapter } from './adapter.ts';
import { gpt2 } from './gpt2.ts';
import { gptNeox } from './gptNeox.ts';
import { gemma, gemma2 } from './gemma.ts';
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

/** The adapter for a `model_type`; throws listing the supported ones. */
export function adapterFor(modelType: unknown, where: string): ArchAdapter {
  const a = typeof modelType === 'string' ? REGISTRY.get(modelType) : undefined;
  if (!a) {
    throw new Error(`${where}: unknown model_type ${JSON.stringify(modelType)} (supported: ${[...REGISTRY.keys()].join(', ')})`);
  }
  return a;
}

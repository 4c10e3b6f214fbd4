/** The LLM endpoint flags shared by `explain`, `score` and `sweep --describe`, and the client they make. */
import type { Command } from 'commander';
import { llmConfig, type LlmConfig } from '../interp/config.ts';
import { LlmClient } from '../interp/llmClient.ts';
import type { Registry } from '../registry/registry.ts';
import { parseCount, parseNumber } from './options.ts';

/** Adds the endpoint flags to a command. */
export function llmEndpointOptions(c: Command): Command {
  return c
    .option('--base-url <url>', 'OpenAI-compatible endpoint (else $OPENAI_BASE_URL or saescope.config.json)')
    .option('--api-key <key>', 'API key (else $OPENAI_API_KEY)')
    .option('--llm-model <name>', 'LLM model name (else $SAESCOPE_LLM_MODEL)')
    .option('--concurrency <n>', 'calls in flight', parseCount('--concurrency'))
    .option('--timeout <ms>', 'per-call timeout', parseCount('--timeout'))
    .option('--retries <n>', 'retries on 429, 5xx and timeouts', parseCount('--retries'))
    .option('--price-in <usd>', 'dollars per million prompt tokens', parseNumber('--price-in'))
    .option('--price-out <usd>', 'dollars per million completion tokens', parseNumber('--price-out'));
}

/** The endpoint settings from parsed flags (then the environment, then the config file). */
export function llmConfigFrom(o: Record<string, unknown>): LlmConfig {
  return llmConfig({
    baseURL: o.baseUrl as string | undefined, apiKey: o.apiKey as string | undefined, model: o.llmModel as string | undefined,
    concurrency: o.concurrency as number | undefined, timeoutMs: o.timeout as number | undefined, maxRetries: o.retries as number | undefined,
    pricePerMTokIn: o.priceIn as number | undefined, pricePerMTokOut: o.priceOut as number | undefined,
  });
}

/** A client whose answers are cached in `registry`. */
export function llmClientFrom(o: Record<string, unknown>, registry?: Registry): LlmClient {
  return new LlmClient(llmConfigFrom(o), registry);
}

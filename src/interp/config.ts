/**
 * Where the LLM is: base URL, key and model from flags, else the
 * environment (OPENAI_BASE_URL, OPENAI_API_KEY, SAESCOPE_LLM_MODEL), else the
 * `llm` section of a config file (`$SAESCOPE_CONFIG` or ./saescope.config.json).
 */
import * as fs from 'node:fs';

/** LLM settings. */
export interface LlmConfig {
  readonly baseURL: string;
  readonly apiKey: string;
  readonly model: string;
  /** Calls in flight at once (default 4). */
  readonly concurrency: number;
  /** Per-call timeout in ms (default 60,000). */
  readonly timeoutMs: number;
  /** Retries with backoff on 429, 5xx and timeouts (default 3). */
  readonly maxRetries: number;
  /** Dollars per million prompt and completion tokens, for the running cost (default 0). */
  readonly pricePerMTokIn: number;
  readonly pricePerMTokOut: number;
}

/** Resolves settings; throws naming what is missing. */
export function llmConfig(flags: Partial<LlmConfig> = {}): LlmConfig {
  const file = process.env.SAESCOPE_CONFIG ?? 'saescope.config.json';
  let fromFile: Partial<LlmConfig> = {};
  if (fs.existsSync(file)) {
    try {
      fromFile = ((JSON.parse(fs.readFileSync(file, 'utf8')) as { llm?: Partial<LlmConfig> }).llm ?? {});
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
    }
  }
  const pick = <K extends keyof LlmConfig>(k: K, env: string | undefined, dflt?: LlmConfig[K]): LlmConfig[K] => {
    const v = flags[k] ?? (env as LlmConfig[K] | undefined) ?? fromFile[k] ?? dflt;
    if (v === undefined) throw new Error(`no LLM ${k}: pass it as a flag, set the environment, or add it to the "llm" section of ${file}`);
    return v;
  };
  return {
    baseURL: pick('baseURL', process.env.OPENAI_BASE_URL, 'https://api.openai.com/v1'),
    apiKey: pick('apiKey', process.env.OPENAI_API_KEY),
    model: pick('model', process.env.SAESCOPE_LLM_MODEL),
    concurrency: Number(pick('concurrency', undefined, 4)),
    timeoutMs: Number(pick('timeoutMs', undefined, 60_000)),
    maxRetries: Number(pick('maxRetries', undefined, 3)),
    pricePerMTokIn: Number(pick('pricePerMTokIn', undefined, 0)),
    pricePerMTokOut: Number(pick('pricePerMTokOut', undefined, 0)),
  };
}

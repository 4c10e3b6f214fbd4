/**
 * Chat calls to any OpenAI-compatible endpoint through the `openai` client:
 * a concurrency limit, retries with exponential backoff on 429 and 5xx and
 * timeouts (the client's own), a per-call timeout, a running tally of tokens
 * and cost, and an answer cache (in the registry) so a rerun calls nothing
 * already answered.
 */
import { createHash } from 'node:crypto';
import OpenAI from 'openai';
import type { AnswerCache } from '../registry/types.ts';
import type { LlmConfig } from './config.ts';

/** A chat message. */
export interface Message {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** Running totals. */
export interface Tally {
  calls: number;
  cached: number;
  failures: number;
  promptTokens: number;
  completionTokens: number;
  /** Dollars, from the configured prices. */
  cost: number;
}

/** An LLM client with a cache and limits. */
export class LlmClient {
  readonly tally: Tally = { calls: 0, cached: 0, failures: 0, promptTokens: 0, completionTokens: 0, cost: 0 };
  private readonly openai: OpenAI;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly cfg: LlmConfig, private readonly cache?: AnswerCache) {
    this.openai = new OpenAI({ baseURL: cfg.baseURL, apiKey: cfg.apiKey, timeout: cfg.timeoutMs, maxRetries: cfg.maxRetries });
  }

  /** The assistant's answer to `messages` (cached by model and messages). `tag` labels the request (X-Saescope-Task header). */
  async chat(messages: readonly Message[], tag = ''): Promise<string> {
    const key = createHash('sha256').update(JSON.stringify({ model: this.cfg.model, messages })).digest('hex');
    const hit = this.cache?.cachedAnswer(key);
    if (hit !== undefined) {
      this.tally.cached++;
      return hit;
    }
    await this.acquire();
    try {
      this.tally.calls++;
      const res = await this.openai.chat.completions.create(
        { model: this.cfg.model, messages: [...messages], temperature: 0 },
        { headers: tag ? { 'X-Saescope-Task': tag } : undefined },
      );
      const text = res.choices?.[0]?.message?.content;
      if (typeof text !== 'string') throw new Error('the endpoint answered without a message');
      const u = res.usage;
      if (u) {
        this.tally.promptTokens += u.prompt_tokens;
        this.tally.completionTokens += u.completion_tokens;
        this.tally.cost += (u.prompt_tokens * this.cfg.pricePerMTokIn + u.completion_tokens * this.cfg.pricePerMTokOut) / 1e6;
      }
      this.cache?.cacheAnswer(key, text);
      return text;
    } catch (e) {
      this.tally.failures++;
      throw new Error(`LLM call${tag ? ` (${tag})` : ''} failed: ${(e as Error).message}`);
    } finally {
      this.release();
    }
  }

  private async acquire(): Promise<void> {
    if (this.active < this.cfg.concurrency) {
      this.active++;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

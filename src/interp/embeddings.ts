/**
 * Text embeddings for comparing a steering description with a feature's
 * explanation (the semantic-progression study compares them by the cosine
 * similarity of their embeddings). Two embedders: an OpenAI-compatible
 * `/v1/embeddings` endpoint through the `openai` client, and a lexical one
 * (bag of word stems, hashed) that needs nothing and says so in its `method`.
 * No embedding model can be shipped through npm without a hub download at run
 * time, so the lexical one is the local fallback.
 */
import { createHash } from 'node:crypto';
import OpenAI from 'openai';
import type { AnswerCache } from '../registry/types.ts';
import type { LlmConfig } from './config.ts';

/** Turns texts into vectors; cosine similarity compares them. */
export interface Embedder {
  /** `endpoint:<model>` for an API model, `lexical` for the fallback. */
  readonly method: string;
  /** One vector per text, in order. */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
}

/** Dimensions of the lexical embedder's hashed bag of words. */
const LEXICAL_DIMS = 1024;

/** Words too common to say anything about a text's topic. */
const STOP = new Set('a an and are as at be but by for from had has have he her his i in is it its of on or she that the their them they this to was were with you'.split(' '));

/** Lower-cased words with a crude stem (trailing s, es, ed, ing removed), stop words dropped. */
export function lexicalTokens(text: string): string[] {
  const words = text.toLowerCase().match(/[a-z][a-z']*/g) ?? [];
  return words.filter((w) => !STOP.has(w)).map((w) => w.replace(/'s$/, '').replace(/(ing|ed|es|s)$/, (m, _g, i: number) => (i >= 3 ? '' : m)));
}

/** A hashed bag of word stems: needs no model and no network; labelled `lexical`. */
export class LexicalEmbedder implements Embedder {
  readonly method = 'lexical';

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => {
      const v = new Float32Array(LEXICAL_DIMS);
      for (const w of lexicalTokens(t)) v[createHash('md5').update(w).digest().readUInt32LE(0) % LEXICAL_DIMS] += 1;
      return v;
    });
  }
}

/** Embeddings from an OpenAI-compatible endpoint, cached in the registry by model and text. */
export class EndpointEmbedder implements Embedder {
  readonly method: string;
  private readonly openai: OpenAI;

  constructor(private readonly cfg: LlmConfig, private readonly model: string, private readonly cache?: AnswerCache) {
    this.method = `endpoint:${model}`;
    this.openai = new OpenAI({ baseURL: cfg.baseURL, apiKey: cfg.apiKey, timeout: cfg.timeoutMs, maxRetries: cfg.maxRetries });
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const key = (t: string) => 'embedding:' + createHash('sha256').update(JSON.stringify({ model: this.model, t })).digest('hex');
    const out: (Float32Array | undefined)[] = texts.map((t) => {
      const hit = this.cache?.cachedAnswer(key(t));
      return hit === undefined ? undefined : Float32Array.from(JSON.parse(hit) as number[]);
    });
    const missing = texts.map((t, i) => ({ t, i })).filter((x) => out[x.i] === undefined);
    for (let a = 0; a < missing.length; a += 64) {
      const part = missing.slice(a, a + 64);
      let res: OpenAI.Embeddings.CreateEmbeddingResponse;
      try {
        res = await this.openai.embeddings.create({ model: this.model, input: part.map((x) => x.t), encoding_format: 'float' });
      } catch (e) {
        throw new Error(`${this.cfg.baseURL}/embeddings (model ${this.model}) failed: ${(e as Error).message}`);
      }
      const data = res?.data;
      if (!Array.isArray(data) || data.length !== part.length) throw new Error(`${this.cfg.baseURL}/embeddings answered ${Array.isArray(data) ? data.length : 'no'} vectors for ${part.length} texts`);
      for (const d of data) {
        const x = part[d.index];
        if (!x || !Array.isArray(d.embedding) || d.embedding.length === 0) throw new Error(`${this.cfg.baseURL}/embeddings answered a malformed vector (index ${d.index})`);
        out[x.i] = Float32Array.from(d.embedding);
        this.cache?.cacheAnswer(key(x.t), JSON.stringify(d.embedding));
      }
    }
    return out as Float32Array[];
  }
}

/**
 * The endpoint's embedder when it answers a probe, else the lexical one; the
 * reason for a fallback is passed to `warn` so the user sees it.
 */
export async function embedderWithFallback(cfg: LlmConfig | undefined, model: string | undefined, cache: AnswerCache | undefined, warn: (msg: string) => void): Promise<Embedder> {
  if (!cfg || !model) {
    warn('no embedding model given (--embedding-model): description-explanation similarity uses the lexical fallback (hashed word overlap), not embeddings');
    return new LexicalEmbedder();
  }
  const e = new EndpointEmbedder(cfg, model, cache);
  try {
    await e.embed(['probe']);
    return e;
  } catch (err) {
    warn(`the endpoint gives no embeddings (${(err as Error).message}): description-explanation similarity uses the lexical fallback (hashed word overlap), not embeddings`);
    return new LexicalEmbedder();
  }
}

/** Cosine similarity; 0 when either vector is zero. */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`cosine: vectors of ${a.length} and ${b.length} dimensions`);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/**
 * JSON schemas of every route's body, parameters and query, checked by
 * Fastify before a handler runs (a 400 naming the field, e.g. "body/top must
 * be integer"). They fix shapes and types, refuse unknown fields, and bound
 * sizes; what depends on the loaded model and SAE (feature ranges, hook
 * names, memory estimates) is checked in the handlers. Type coercion is off
 * (`app.ts`), so "256" is not a number; query strings are strings and carry
 * patterns.
 */

const str = (maxLength: number) => ({ type: 'string', maxLength }) as const;
const int = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum }) as const;
const num = (minimum: number, maximum: number) => ({ type: 'number', minimum, maximum }) as const;
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', properties, required, additionalProperties: false }) as const;

/** The longest text field any route takes (the texts' own limit is checked against the server's setting). */
const TEXT = 100_000;

export const featureParams = obj({ sae: str(200), feature: { type: 'string', pattern: '^\\d{1,9}$' } }, ['sae', 'feature']);
/** An example's packed row and position (the route finds it among the dashboard's examples). */
export const documentQuery = obj({ row: { type: 'string', pattern: '^\\d{1,12}$' }, pos: { type: 'string', pattern: '^\\d{1,9}$' } }, ['row', 'pos']);
export const jobParams = obj({ id: str(64) }, ['id']);

export const analyze = obj({ sae: str(200), text: str(TEXT), top: int(1, 64), pool: { enum: ['max', 'mean', 'sum'] } }, ['sae', 'text']);

export const featureEdit = obj({
  name: { type: ['string', 'null'], maxLength: 10_000 },
  notes: { type: ['string', 'null'], maxLength: 10_000 },
  description: { type: ['string', 'null'], maxLength: 10_000 },
  tags: { type: 'array', maxItems: 100, items: str(100) },
  examples: { type: 'array', maxItems: 100, items: str(10_000) },
  confidence: { type: ['number', 'null'], minimum: 0, maximum: 1 },
  /** The record's `updatedAt` the edit started from: a newer record is a 409 conflict. */
  base: { type: ['string', 'null'], maxLength: 64 },
});

export const compare = obj({ sae: str(200), a: str(TEXT), b: str(TEXT), top: int(1, 200) }, ['sae', 'a', 'b']);

const steerFeature = obj({ feature: int(0, 1e9), preset: { enum: ['light', 'medium', 'strong'] }, strength: num(-1e6, 1e6), clamp: num(-1e6, 1e6) }, ['feature']);
export const steer = obj({
  sae: str(200), prompt: str(TEXT), features: { type: 'array', minItems: 1, maxItems: 16, items: steerFeature },
  variants: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'array', minItems: 1, maxItems: 16, items: steerFeature } },
  positions: { enum: ['prompt', 'generated', 'all'] }, maxNewTokens: int(1, 4096), temperature: num(0, 10), seed: int(0, 2 ** 31), chat: { type: 'boolean' },
}, ['sae', 'prompt']);

export const sweep = obj({
  sae: str(200), features: { type: 'array', minItems: 1, maxItems: 8, items: int(0, 1e9) }, prompts: { type: 'array', minItems: 1, maxItems: 8, items: str(TEXT) },
  magnitudes: { type: 'array', maxItems: 16, items: num(-1000, 1000) }, maxNewTokens: int(1, 64),
}, ['sae', 'features', 'prompts']);

export const job = {
  type: 'object',
  properties: {
    kind: { enum: ['train', 'scan'] }, corpus: str(4096), tokens: int(1, 1e9), sae: str(200), hook: str(200), architecture: { enum: ['topk', 'standard', 'batchtopk', 'jumprelu'] },
    dSae: { type: 'integer', minimum: 1 }, k: { type: 'integer', minimum: 1 }, out: { type: 'string', minLength: 1, maxLength: 4096 }, batchSize: int(1, 16384), lr: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    overwrite: { type: 'boolean' },
  },
  required: ['kind', 'corpus', 'tokens'],
  // What each kind needs, so a missing field is a 400 that names it.
  allOf: [
    { if: { properties: { kind: { const: 'train' } } }, then: { required: ['hook', 'architecture', 'dSae', 'out'] } },
    { if: { properties: { kind: { const: 'scan' } } }, then: { required: ['sae'] } },
  ],
  additionalProperties: false,
} as const;

export const registryQuery = obj({
  sae: str(200), search: str(200), sort: { enum: ['feature', 'density', 'max', 'name'] }, desc: { enum: ['true', 'false'] },
  offset: { type: 'string', pattern: '^\\d{1,9}$' }, limit: { type: 'string', pattern: '^([1-9]\\d{0,2}|1000)$' },
}, ['sae']);

export const searchQuery = obj({ q: { type: 'string', minLength: 1, maxLength: 200 } }, ['q']);

export const calibrationApply = obj({ id: int(1, 2 ** 31) }, ['id']);

export const exportQuery = obj({ sae: str(200), dashboards: { enum: ['true', 'false'] } }, ['sae']);

/**
 * The HTTP API (Fastify) over a model, its SAEs and the registry, and the
 * built web app. Inputs are validated at the boundary; model work goes
 * through the bounded queue (503 + Retry-After when full); request paths stay
 * inside the data folders; `close()` stops jobs (they checkpoint) and closes
 * the registry.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { compareTexts } from '../analysis/compare.ts';
import type { FeatureDashboard } from '../analysis/dashboard.ts';
import { exampleDocument } from '../analysis/documents.ts';
import { splitCorpus } from '../data/corpus.ts';
import { confinedPath } from './paths.ts';
import { activeByToken, featuresForText } from '../analysis/textFeatures.ts';
import { conditionalViews } from '../interp/conditionalJudge.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import { ConflictError, Registry } from '../registry/registry.ts';
import { PRESETS } from '../steering/presets.ts';
import { steerVariants } from '../steering/steer.ts';
import { steerDone, steerVariantsOf } from '../steering/steerRequest.ts';
import { sweep } from '../steering/sweep.ts';
import type * as C from './contract.ts';
import { BadRequest, Conflict, featureOf, intOf, numberOf, saeOf, textOf, type Ctx, type ServerOptions } from './context.ts';
import type { Sae } from '../sae/sae.ts';
import { Jobs } from './jobs.ts';
import { defaultJobsDir, saeListFile, ServedSaes, type ServedSae } from './saes.ts';
import { exportRegistry } from '../registry/exchange.ts';
import type { ExplanationRecord } from '../registry/types.ts';
import { explainFeatures } from '../interp/batch.ts';
import { llmConfig, type LlmConfig } from '../interp/config.ts';
import { LlmClient } from '../interp/llmClient.ts';
import * as S from './schemas.ts';
import { ModelQueue, QueueFullError } from './queue.ts';
import { guardOrigin } from '../site/httpGuard.ts';
import { PACKAGE_ROOT } from '../version.ts';

/** Builds the server (not listening yet). */
export async function buildServer(model: HookedModel, opts: ServerOptions): Promise<{ app: FastifyInstance; ctx: Ctx; jobs: Jobs }> {
  const registry = Registry.open(opts.registry);
  const jobsDir = opts.jobsDir ?? defaultJobsDir(opts.dataDirs[0] ?? '.');
  let served: ServedSaes;
  let modelId: string;
  try {
    modelId = registry.modelEntry(model).id;
    served = new ServedSaes(registry, model, saeListFile(jobsDir));
    served.start(opts.saes);
  } catch (e) {
    registry.close();
    throw e;
  }
  const saes = served.byName;
  const ctx: Ctx = {
    model, saes, modelId, registry, queue: new ModelQueue(opts.queueLimit ?? 64), opts,
    maxTextChars: opts.maxTextChars ?? 4000, maxNewTokens: opts.maxNewTokens ?? 200,
  };
  // A finished training job's SAE joins the menus and the saved list, filed under its identity; returns its keys.
  const addTrained = (out: string) => {
    try {
      return served.add(out).keys;
    } catch (e) {
      process.stderr.write(`saescope: the trained SAE in ${out} was not added to the menus: ${(e as Error).message}\n`);
      return undefined;
    }
  };
  const jobs = new Jobs(ctx, jobsDir, addTrained);
  // Schemas (schemas.ts) check every body, parameter and query; no coercion ("256" is not a number), no silently dropped fields.
  const app = Fastify({ bodyLimit: 1 << 20, ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } } });
  guardOrigin(app, opts.hosts ?? []);
  app.setErrorHandler((err: Error, _req, reply) => {
    if (err instanceof Conflict) return reply.code(409).send({ error: err.message } satisfies C.ApiError);
    if (err instanceof QueueFullError) return reply.code(503).header('Retry-After', String(err.retryAfterSeconds)).send({ error: err.message });
    const status = err instanceof BadRequest || /out of range|unknown hook|is empty|outside the data folders|not a finite|exactly one of|limit is|longer than the model's context|outside the vocabulary|has no tokenizer|may not contain NUL|a path is required/.test(err.message) ? 400 : (err as { statusCode?: number }).statusCode ?? 500;
    return reply.code(status).send({ error: err.message } satisfies C.ApiError);
  });
  // A feature's label: its name, else its best explanation (LLM, Neuronpedia, heuristic).
  const names = (s: ServedSae) => ctx.registry.labels(s.keys.model, s.keys.sae);

  app.get('/api/info', async (): Promise<C.InfoResponse> => ({
    model: model.name, dModel: model.spec.dModel, nLayers: model.spec.nLayers, nCtx: model.spec.nCtx, chat: model.hasChatTemplate,
    saes: [...saes].map(([name, s]) => ({ name, id: s.keys.sae, hook: s.sae.cfg.hookName, ...(s.sae.cfg.hookNameOut !== undefined ? { hookOut: s.sae.cfg.hookNameOut } : {}), dSae: s.sae.cfg.dSae, architecture: s.sae.cfg.architecture, k: s.sae.cfg.k, scanned: ctx.registry.dashboards.count(s.keys.model, s.keys.sae) > 0 })),
    presets: PRESETS, limits: { maxTextChars: ctx.maxTextChars, maxNewTokens: ctx.maxNewTokens },
  }));

  app.post('/api/analyze', { schema: { body: S.analyze } }, async (req): Promise<C.AnalyzeResponse> => {
    const b = (req.body ?? {}) as C.AnalyzeRequest;
    const s = saeOf(ctx, b.sae);
    const text = textOf(ctx, b.text);
    const top = intOf(b.top, 12, 1, 64, 'top');
    if (b.pool !== undefined && !['max', 'mean', 'sum'].includes(b.pool)) throw new BadRequest('pool must be max, mean or sum');
    const r = await ctx.queue.run(() => featuresForText(model, s.sae, text, { top, pool: b.pool }));
    const nm = names(s);
    return { tokens: r.tokens, pooled: r.pooled, top: r.top.map((t) => ({ ...t, name: nm.get(t.feature) ?? null })), heatmap: r.heatmap, active: activeByToken(r.codes) };
  });

  app.get('/api/feature/:sae/:feature', { schema: { params: S.featureParams } }, async (req): Promise<C.FeatureResponse> => {
    const p = req.params as { sae: string; feature: string };
    const s = saeOf(ctx, p.sae);
    const f = featureOf(s.sae, p.feature);
    const k = s.keys;
    const dashboard = ctx.registry.dashboard<FeatureDashboard>(k.model, k.sae, f) ?? null;
    const explanations = ctx.registry.explanations(k.model, k.sae, f).map((e) => withCarriedName(ctx, e));
    const nm = names(s);
    const labels: Record<number, string> = {};
    for (const n of dashboard?.neighbors ?? []) if (nm.has(n.feature)) labels[n.feature] = nm.get(n.feature)!;
    return {
      sae: p.sae, saeId: k.sae, feature: f, dSae: s.sae.cfg.dSae, record: ctx.registry.get(k.model, k.sae, f) ?? null,
      explanations, dashboard, labels, scanned: dashboard !== null || ctx.registry.dashboards.count(k.model, k.sae) > 0,
      explainer: explainEndpoint() !== undefined, calibration: ctx.registry.calibration(k.model, k.sae, f) ?? null, calibrations: ctx.registry.steering.calibrationHistory(k.model, k.sae, f),
      conditional: dashboard ? conditionalViews(dashboard, explanations) : null,
      documents: dashboard !== null && scanCorpus(ctx, dashboard) !== null && ctx.model.tokenizer !== undefined,
    };
  });

  // An example of the dashboard in its whole document (Neuronpedia's expandable top activations).
  app.get('/api/feature/:sae/:feature/document', { schema: { params: S.featureParams, querystring: S.documentQuery } }, async (req, reply): Promise<C.DocumentResponse | undefined> => {
    const p = req.params as { sae: string; feature: string };
    const q = req.query as { row: string; pos: string };
    const s = saeOf(ctx, p.sae);
    const f = featureOf(s.sae, p.feature);
    const d = ctx.registry.dashboard<FeatureDashboard>(s.keys.model, s.keys.sae, f);
    if (!d) return reply.code(404).send({ error: `feature ${f} of ${p.sae} has no scan, so no examples` });
    // Only the dashboard's own examples: the route is not a reader of arbitrary corpus positions.
    const e = [...d.top, ...d.quantiles.flatMap((x) => x.examples), ...d.negatives].find((x) => x.row === Number(q.row) && x.pos === Number(q.pos));
    if (!e) return reply.code(404).send({ error: `feature ${f} has no example at row ${q.row}, position ${q.pos}` });
    const corpus = scanCorpus(ctx, d);
    if (!corpus || !d.source || !ctx.model.tokenizer) return reply.code(404).send({ error: d.source ? `the scan's corpus ${d.source.corpus} is not one this server may read (outside --data)` : 'this scan did not record its corpus (scanned from texts in memory, or before documents were kept)' });
    const doc = await exampleDocument(ctx.model.tokenizer, { ...d.source, corpus }, e);
    if (!doc) return reply.code(404).send({ error: `the example at row ${q.row}, position ${q.pos} is not in a document of ${d.source.corpus} (the corpus changed since the scan, or the token is a row's BOS)` });
    return doc;
  });

  app.put('/api/feature/:sae/:feature', { schema: { params: S.featureParams, body: S.featureEdit } }, async (req, reply) => {
    const p = req.params as { sae: string; feature: string };
    const s = saeOf(ctx, p.sae);
    const f = featureOf(s.sae, p.feature);
    const { base, ...patch } = (req.body ?? {}) as C.FeatureEditRequest;
    try {
      return ctx.registry.set(s.keys.model, s.keys.sae, f, patch, base);
    } catch (e) {
      if (e instanceof ConflictError) return reply.code(409).send({ error: e.message, record: e.current ?? null });
      throw e;
    }
  });

  app.post('/api/compare', { schema: { body: S.compare } }, async (req): Promise<C.CompareResponse> => {
    const b = (req.body ?? {}) as C.CompareRequest;
    const s = saeOf(ctx, b.sae);
    const [a, c] = [textOf(ctx, b.a, 'text A'), textOf(ctx, b.b, 'text B')];
    const rows = await ctx.queue.run(() => compareTexts(model, s.sae, a, c, { top: intOf(b.top, 20, 1, 200, 'top') }));
    const nm = names(s);
    return { rows: rows.map((r) => ({ ...r, name: nm.get(r.feature) ?? null })) };
  });

  app.post('/api/steer', { schema: { body: S.steer } }, async (req, reply) => steerRoute(ctx, req.body as C.SteerRequest, reply));

  app.post('/api/sweep', { schema: { body: S.sweep } }, async (req): Promise<C.SweepResponse> => {
    const b = (req.body ?? {}) as C.SweepRequest;
    const s = saeOf(ctx, b.sae);
    if (!Array.isArray(b.features) || b.features.length === 0 || b.features.length > 8) throw new BadRequest('give 1 to 8 features');
    const features = b.features.map((f) => featureOf(s.sae, f));
    if (!Array.isArray(b.prompts) || b.prompts.length === 0 || b.prompts.length > 8) throw new BadRequest('give 1 to 8 prompts');
    const prompts = b.prompts.map((p) => textOf(ctx, p, 'prompt'));
    const mags = b.magnitudes ?? [0, 0.5, 1, 2, 3, 4, 6, 8];
    if (!Array.isArray(mags) || mags.length > 16 || !mags.every((m) => typeof m === 'number' && Number.isFinite(m) && Math.abs(m) <= 1000)) throw new BadRequest('magnitudes must be up to 16 finite numbers in [-1000, 1000]');
    const maxNewTokens = intOf(b.maxNewTokens, 24, 1, 64, 'maxNewTokens');
    const outputs = features.length * prompts.length * (mags.length + (mags.includes(0) ? 0 : 1));
    // One request may not hold the model for long: at most 256 outputs, 8,192 generated tokens.
    if (outputs > 256 || outputs * maxNewTokens > 8192) throw new BadRequest(`a sweep of ${outputs} outputs x ${maxNewTokens} tokens is over the limit (256 outputs, 8,192 tokens); sweep fewer features, prompts or magnitudes`);
    const r = await ctx.queue.run(() => sweep(model, s.sae, { features, prompts, magnitudes: mags, maxNewTokens, registry: ctx.registry, keys: s.keys, between: () => ctx.queue.pause() }));
    return { settings: r.settings, records: r.records, features: r.features, robustnessVsDensity: r.robustnessVsDensity };
  });

  // A sweep stores calibrations as candidates; presets change only when one is applied here, and an apply can be undone.
  const calibrations = (s: ServedSae, f: number): C.CalibrationsResponse => ({
    calibration: ctx.registry.calibration<C.FeatureCalibration>(s.keys.model, s.keys.sae, f) ?? null, calibrations: ctx.registry.steering.calibrationHistory(s.keys.model, s.keys.sae, f),
  });
  app.post('/api/feature/:sae/:feature/calibration', { schema: { params: S.featureParams, body: S.calibrationApply } }, async (req) => {
    const p = req.params as { sae: string; feature: string };
    const s = saeOf(ctx, p.sae);
    const f = featureOf(s.sae, p.feature);
    const id = (req.body as C.CalibrationApplyRequest).id;
    if (!ctx.registry.steering.calibrationHistory(s.keys.model, s.keys.sae, f).some((c) => c.id === id)) throw new BadRequest(`calibration ${id} is not one of feature ${f}'s`);
    ctx.registry.applyCalibration(id);
    return calibrations(s, f);
  });
  app.delete('/api/feature/:sae/:feature/calibration', { schema: { params: S.featureParams } }, async (req) => {
    const p = req.params as { sae: string; feature: string };
    const s = saeOf(ctx, p.sae);
    const f = featureOf(s.sae, p.feature);
    try {
      ctx.registry.steering.undoCalibration(s.keys.model, s.keys.sae, f);
    } catch (e) {
      throw new BadRequest((e as Error).message);
    }
    return calibrations(s, f);
  });

  app.get('/api/registry', { schema: { querystring: S.registryQuery } }, async (req): Promise<C.RegistryResponse> => {
    const q = req.query as { search?: string; sae: string; sort?: 'feature' | 'density' | 'max' | 'name'; desc?: string; offset?: string; limit?: string };
    const s = saeOf(ctx, q.sae);
    const offset = Number(q.offset ?? 0);
    const r = ctx.registry.browse(s.keys.model, s.keys.sae, { search: q.search || undefined, sort: q.sort, desc: q.desc === 'true', offset, limit: Number(q.limit ?? 100) });
    return { total: r.total, offset, features: r.rows };
  });

  // Explain one feature with the configured LLM endpoint (SAESCOPE_LLM_* / OPENAI_* settings) and score it.
  app.post('/api/feature/:sae/:feature/explain', { schema: { params: S.featureParams } }, async (req) => {
    const p = req.params as { sae: string; feature: string };
    const s = saeOf(ctx, p.sae);
    const f = featureOf(s.sae, p.feature);
    const cfg = explainEndpoint();
    if (!cfg) throw new BadRequest('no LLM endpoint is configured (OPENAI_BASE_URL, OPENAI_API_KEY and SAESCOPE_LLM_MODEL, or saescope.config.json; see the README)');
    if (!ctx.registry.dashboard(s.keys.model, s.keys.sae, f)) throw new BadRequest(`feature ${f} has no scan for these weights to explain: run a scan of ${s.keys.name} first`);
    const r = await explainFeatures(new LlmClient(cfg, ctx.registry), { registry: ctx.registry, model: s.keys.model, sae: s.keys.sae, name: s.keys.name }, [f], { score: true, force: true });
    if (r.failures.length) throw new Error(`explaining feature ${f} failed: ${r.failures[0].error}`);
    return { explanations: ctx.registry.explanations(s.keys.model, s.keys.sae, f).map((e) => withCarriedName(ctx, e)) };
  });

  // Search by name, explanation or tag across every served SAE (literal text, 20 best per SAE).
  app.get('/api/search', { schema: { querystring: S.searchQuery } }, async (req): Promise<C.SearchResponse> => {
    const q = (req.query as { q: string }).q;
    const results = [...ctx.saes].flatMap(([name, s]) => ctx.registry.browse(s.keys.model, s.keys.sae, { search: q, sort: 'density', desc: true, limit: 20 }).rows
      .map((r) => ({ sae: name, feature: r.feature, name: r.name, explanation: r.explanation, density: r.density })));
    return { results };
  });

  app.get('/api/registry/scatter', { schema: { querystring: S.exportQuery } }, async (req): Promise<C.ScatterResponse> => {
    const s = saeOf(ctx, (req.query as { sae?: string }).sae);
    return { points: ctx.registry.densityVsDetection(s.keys.model, s.keys.sae) };
  });

  app.get('/api/registry/export', { schema: { querystring: S.exportQuery } }, async (req, reply) => {
    const s = saeOf(ctx, (req.query as { sae?: string }).sae);
    reply.header('content-disposition', `attachment; filename="${s.keys.name}.registry.json"`);
    return exportRegistry(ctx.registry, s.keys, { dashboards: (req.query as { dashboards?: string }).dashboards === 'true' });
  });

  app.get('/api/data', async (): Promise<C.DataResponse> => ({ corpora: [...offeredCorpora(opts.corpora ?? []), ...listCorpora(opts.dataDirs)] }));

  app.get('/api/jobs', async (): Promise<C.JobsResponse> => ({ jobs: jobs.list() }));
  app.get('/api/jobs/:id', { schema: { params: S.jobParams } }, async (req, reply) => jobs.get((req.params as { id: string }).id) ?? reply.code(404).send({ error: 'no such job' }));
  app.post('/api/jobs', { schema: { body: S.job } }, async (req) => jobs.start(req.body as C.JobRequest));
  // A finished training job's report (written beside its SAE by the job).
  app.get('/api/jobs/:id/report', { schema: { params: S.jobParams } }, async (req, reply) => {
    const job = jobs.get((req.params as { id: string }).id);
    if (!job || job.request.kind !== 'train') return reply.code(404).send({ error: 'no such training job' });
    // Each job's own copy: a later job writing to the same folder does not change what this link shows.
    const file = jobs.reportFile(job.id);
    if (!fs.existsSync(file)) return reply.code(404).send({ error: `no report yet for job ${job.id}` });
    return reply.type('text/html; charset=utf-8').send(fs.readFileSync(file));
  });
  app.post('/api/jobs/:id/resume', { schema: { params: S.jobParams } }, async (req) => jobs.resume((req.params as { id: string }).id));
  app.delete('/api/jobs/:id', { schema: { params: S.jobParams } }, async (req, reply) => {
    const id = (req.params as { id: string }).id;
    return jobs.cancel(id) ? jobs.get(id) : reply.code(404).send({ error: `no job '${id}'` });
  });

  const web = opts.webDir ?? path.join(PACKAGE_ROOT, 'web', 'dist');
  if (fs.existsSync(path.join(web, 'index.html'))) {
    const { default: fastifyStatic } = await import('@fastify/static');
    await app.register(fastifyStatic, { root: web });
  }
  app.addHook('onClose', async () => {
    await jobs.stop();
    ctx.registry.close();
  });
  return { app, ctx, jobs };
}

/** The corpora the server was given to offer (files, folders or npm: corpora), as the Jobs form lists them. */
function offeredCorpora(specs: readonly string[]): C.DataResponse['corpora'] {
  return specs.map((spec) => {
    const file = spec.replace(/\[[^\]]*\]$/, '').replace(/:[A-Za-z_][\w.]*$/, '');
    const st = spec.startsWith('npm:') ? undefined : fs.statSync(file, { throwIfNoEntry: false });
    const kind = st?.isDirectory() ? 'folder' : file.endsWith('.jsonl') ? 'jsonl' : 'txt';
    return { path: spec, kind, bytes: st?.isDirectory() ? fs.readdirSync(file).filter((f) => f.endsWith('.txt')).length : st?.size ?? 0 };
  });
}

/**
 * Corpora a job may read, for the Jobs form: .txt and .jsonl files and
 * folders of .txt files in the data folders (two levels deep, hidden entries
 * skipped), as paths a job request accepts.
 */
function listCorpora(roots: readonly string[]): C.DataResponse['corpora'] {
  const out: C.DataResponse['corpora'][number][] = [];
  const visit = (root: string, rel: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.') || out.length >= 500) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      const shown = root === roots[0] ? r : path.join(root, r);
      if (e.isFile() && /\.(txt|jsonl)$/.test(e.name)) out.push({ path: shown, kind: e.name.endsWith('.jsonl') ? 'jsonl' : 'txt', bytes: fs.statSync(path.join(root, r)).size });
      else if (e.isDirectory()) {
        let txt = 0;
        try {
          txt = fs.readdirSync(path.join(root, r)).filter((f) => f.endsWith('.txt')).length;
        } catch {
          txt = 0;
        }
        if (txt) out.push({ path: shown, kind: 'folder', bytes: txt });
        if (depth < 2) visit(root, r, depth + 1);
      }
    }
  };
  for (const root of roots) visit(root, '', 1);
  return out;
}

/** A carried explanation with its source SAE's current name (it is stored by identity), so the page can link it. */
function withCarriedName(ctx: Ctx, e: ExplanationRecord): ExplanationRecord {
  const from = e.scores.carriedFrom as { sae?: string; name?: string; feature?: number } | undefined;
  if (e.source !== 'carried' || !from?.sae) return e;
  const entry = ctx.registry.identities.sae(from.sae);
  const served = [...ctx.saes.values()].some((s) => s.keys.sae === from.sae);
  return { ...e, scores: { ...e.scores, carriedFrom: { ...from, name: entry?.name ?? from.name ?? from.sae, served } } };
}

/** The LLM settings when an endpoint is configured, else undefined (the Feature page hides its Explain button). */
function explainEndpoint(): LlmConfig | undefined {
  try {
    return llmConfig();
  } catch {
    return undefined;
  }
}

/** One steered feature: an index and exactly one of a known preset, a finite strength or a finite clamp value. */
function steerFeatureOf(sae: Sae, f: unknown): C.SteerFeature {
  if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new BadRequest('each feature must be an object {feature, preset | strength | clamp}');
  const o = f as Record<string, unknown>;
  const feature = featureOf(sae, o.feature);
  const given = ['preset', 'strength', 'clamp'].filter((k) => o[k] !== undefined);
  if (given.length !== 1) throw new BadRequest(`feature ${feature}: give exactly one of preset, strength or clamp`);
  if (o.preset !== undefined) {
    if (typeof o.preset !== 'string' || !(o.preset in PRESETS)) throw new BadRequest(`feature ${feature}: preset must be one of ${Object.keys(PRESETS).join(', ')}`);
    return { feature, preset: o.preset as C.SteerFeature['preset'] };
  }
  const k = given[0] as 'strength' | 'clamp';
  return { feature, [k]: numberOf(o[k], 0, -1e6, 1e6, `feature ${feature}: ${k}`) } as C.SteerFeature;
}

async function steerRoute(ctx: Ctx, b: C.SteerRequest, reply: FastifyReply): Promise<void> {
  b = b ?? ({} as C.SteerRequest);
  const s = saeOf(ctx, b.sae);
  const prompt = textOf(ctx, b.prompt, 'prompt');
  const variants = steerVariantsOf(b, (f) => steerFeatureOf(s.sae, f), (m) => new BadRequest(m));
  const maxNewTokens = intOf(b.maxNewTokens, 40, 1, ctx.maxNewTokens, 'maxNewTokens');
  // Greedy by default: steered and unsteered then differ only by the steering.
  const temperature = numberOf(b.temperature, 0, 0, 10, 'temperature');
  const seed = intOf(b.seed, 0, 0, 2 ** 31, 'seed');
  if (b.positions !== undefined && !['prompt', 'generated', 'all'].includes(b.positions)) throw new BadRequest('positions must be prompt, generated or all');
  if (b.chat !== undefined && typeof b.chat !== 'boolean') throw new BadRequest('chat must be true or false');
  if (b.chat && !ctx.model.hasChatTemplate) throw new BadRequest(`${ctx.model.name} has no chat template: turn chat off`);
  const send = (e: C.SteerEvent) => reply.raw.write(JSON.stringify(e) + '\n');
  // Queue first: a full queue answers 503 before any streaming starts.
  await ctx.queue.run(async () => {
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
    try {
      const r = await steerVariants(ctx.model, s.sae, prompt, {
        variants, positions: b.positions, maxNewTokens, temperature, seed,
        registry: ctx.registry, keys: s.keys, chat: b.chat === true,
        onToken: (variant, _id, text) => send({ kind: 'token', which: 'steered', variant, text }),
        onUnsteeredToken: (_id, text) => send({ kind: 'token', which: 'unsteered', text }),
      });
      send(steerDone(r, ctx.model.spec.nCtx));
    } catch (e) {
      send({ kind: 'error', error: (e as Error).message });
    }
    reply.raw.end();
  });
}

/** The scan's corpus when this server may read it (offered, or inside the data folders), else null. */
function scanCorpus(ctx: Ctx, d: FeatureDashboard): string | null {
  const c = d.source?.corpus;
  if (!c) return null;
  if ((ctx.opts.corpora ?? []).includes(c)) return c;
  try {
    const real = confinedPath(c, ctx.opts.dataDirs, 'corpus');
    return real.startsWith('npm:') || fs.existsSync(splitCorpus(real).file) ? real : null;
  } catch {
    return null;
  }
}

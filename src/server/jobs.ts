/**
 * Training and scan jobs run in the background, one at a time, with progress
 * and (for training) loss and L0 curves. Each job checkpoints: training
 * through the trainer's checkpoints, scans through their state file. Stopping
 * the server aborts the running job at its next step, which writes the
 * checkpoint first.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { numel } from '../tensor/tensor.ts';
import { hookInnerDims } from '../model/interventionFeeds.ts';
import { buildDashboards } from '../analysis/dashboard.ts';
import { scan } from '../analysis/scan.ts';
import { trainSaes } from '../sae/train/trainer.ts';
import type { Job, JobRequest } from './contract.ts';
import { BadRequest, saeOf, type Ctx } from './context.ts';
import { confinedPath } from './paths.ts';

type MutableJob = { -readonly [K in keyof Job]: Job[K] };

export class Jobs {
  private readonly jobs = new Map<string, MutableJob>();
  private readonly order: string[] = [];
  private chain: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  /** Per job: aborting it stops that job alone (DELETE /api/jobs/:id). */
  private readonly cancels = new Map<string, AbortController>();

  constructor(private readonly ctx: Ctx, private readonly dir: string) {}

  list(): Job[] {
    return this.order.map((id) => this.jobs.get(id)!);
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /**
   * Validates and queues a job. Every field is checked, and bounded so that
   * one request cannot exhaust the server's memory, before anything is queued.
   */
  start(req: JobRequest): Job {
    const roots = this.ctx.opts.dataDirs;
    if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new BadRequest('the job must be a JSON object');
    if (req.kind !== 'train' && req.kind !== 'scan') throw new BadRequest(`unknown job kind ${JSON.stringify((req as { kind?: unknown }).kind)}`);
    const waiting = this.order.filter((id) => this.jobs.get(id)!.status === 'queued').length;
    if (waiting >= MAX_QUEUED) throw new BadRequest(`${waiting} jobs are already queued (the limit is ${MAX_QUEUED}); wait for them or restart`);
    if (typeof req.corpus !== 'string') throw new BadRequest('corpus must be a path');
    const corpus = confinedPath(req.corpus, roots, 'corpus');
    if (!Number.isInteger(req.tokens) || req.tokens < 1 || req.tokens > 1e9) throw new BadRequest('tokens must be an integer in [1, 1e9]');
    let run: (job: MutableJob) => Promise<string>;
    if (req.kind === 'train') {
      if (typeof req.out !== 'string') throw new BadRequest('out must be a path');
      if (typeof req.hook !== 'string') throw new BadRequest('hook must be a hook name');
      const out = confinedPath(req.out, roots, 'out');
      const point = this.ctx.model.resolveHooks([req.hook])[0];
      checkTrainRequest(req, point.shape.includes('keyPos') ? Infinity : widthOf(this.ctx, point.name));
      run = (job) => this.train(job, req, corpus, out);
    } else {
      const s = saeOf(this.ctx, req.sae);
      run = (job) => this.scanJob(job, req.sae, s, corpus, req.tokens);
    }
    if (!this.ctx.model.tokenizer) throw new BadRequest(`${this.ctx.model.name} has no tokenizer, so it cannot read a text corpus`);
    // Unique across restarts: a new server never picks up an old job's checkpoint or scan state.
    const id = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const job: MutableJob = { id, kind: req.kind, status: 'queued', progress: 0, message: '', curve: [], request: req };
    this.jobs.set(id, job);
    this.order.push(id);
    const cancel = new AbortController();
    this.cancels.set(id, cancel);
    this.chain = this.chain.then(async () => {
      if (this.abort.signal.aborted || cancel.signal.aborted) {
        job.status = 'stopped';
        return;
      }
      job.status = 'running';
      try {
        job.message = await run(job);
        job.status = 'done';
        job.progress = 1;
        // A finished job's resumable state is spent.
        fs.rmSync(path.join(this.dir, `train-${id}`), { recursive: true, force: true });
        fs.rmSync(path.join(this.dir, `scan-${id}.state`), { force: true });
      } catch (e) {
        job.status = this.abort.signal.aborted || cancel.signal.aborted ? 'stopped' : 'failed';
        job.message = (e as Error).message;
      }
    });
    return job;
  }

  /** Cancels a queued job, or stops a running one at its next step; false when there is no such job. */
  cancel(id: string): boolean {
    const c = this.cancels.get(id);
    if (!c) return false;
    c.abort();
    const job = this.jobs.get(id)!;
    if (job.status === 'queued') job.status = 'stopped';
    return true;
  }

  /** The signal a job's work watches: the server stopping, or the job cancelled. */
  private signalFor(id: string): AbortSignal {
    return AbortSignal.any([this.abort.signal, this.cancels.get(id)!.signal]);
  }

  /** Stops the running job at its next step (it checkpoints) and waits for it. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.chain;
  }

  private async train(job: MutableJob, req: Extract<JobRequest, { kind: 'train' }>, corpus: string, out: string): Promise<string> {
    const B = req.batchSize ?? 1024;
    await trainSaes(this.ctx.model, [{ hook: req.hook, architecture: req.architecture, dSae: req.dSae, k: req.k, out, lr: req.lr }], {
      corpus, tokens: req.tokens, batchSize: B, contextSize: Math.min(128, this.ctx.model.spec.nCtx), signal: this.signalFor(job.id),
      checkpointDir: path.join(this.dir, `train-${job.id}`), checkpointEveryTokens: 20 * B,
      onStep: (m) => {
        const s = m.saes[0];
        job.progress = Math.min(1, m.tokens / m.totalTokens);
        job.curve.push({ step: m.step, loss: s.loss, l0: s.l0, ev: s.explainedVariance });
        job.message = `${Math.round(m.tokensPerSecond)} tokens/s, explained variance ${s.explainedVariance.toFixed(3)}`;
      },
    });
    return `saved ${out}`;
  }

  private async scanJob(job: MutableJob, name: string, s: ReturnType<typeof saeOf>, corpus: string, tokens: number): Promise<string> {
    const r = await scan(this.ctx.model, s.sae, {
      corpus, tokens, signal: this.signalFor(job.id), stateFile: path.join(this.dir, `scan-${job.id}.state`),
      onProgress: (p) => (job.progress = Math.min(1, p.tokens / tokens)),
    });
    this.ctx.registry.setDashboards(this.ctx.model.name, s.dir, await buildDashboards(this.ctx.model, s.sae, r));
    return `scanned ${r.tokens} tokens of ${name}`;
  }
}

/** Jobs that may wait at once. */
const MAX_QUEUED = 16;
/** Largest SAE a job may train: d_in x d_sae weights (each held about five times: weights, gradients, Adam). */
const MAX_SAE_WEIGHTS = 1 << 25;

function widthOf(ctx: Ctx, hook: string): number {
  return numel(hookInnerDims(ctx.model.resolveHooks([hook])[0], ctx.model.spec));
}

/** Bounds a training request's sizes; throws BadRequest naming the field. */
function checkTrainRequest(req: Extract<JobRequest, { kind: 'train' }>, dIn: number): void {
  if (!Number.isFinite(dIn)) throw new BadRequest(`cannot train an SAE on ${req.hook}: attention patterns have no fixed width`);
  if (!['topk', 'standard', 'batchtopk', 'jumprelu'].includes(req.architecture)) throw new BadRequest('architecture must be topk, standard, batchtopk or jumprelu');
  const maxSae = Math.max(1, Math.min(1 << 18, Math.floor(MAX_SAE_WEIGHTS / dIn)));
  if (!Number.isInteger(req.dSae) || req.dSae < 1 || req.dSae > maxSae) {
    const mib = Number.isFinite(req.dSae) ? Math.round((5 * 4 * dIn * Number(req.dSae)) / 2 ** 20) : NaN;
    throw new BadRequest(`dSae must be an integer in [1, ${maxSae}] (d_in ${dIn})${mib > 0 ? `; ${req.dSae} would hold about ${mib} MiB of weights, gradients and Adam state` : ''}`);
  }
  if (req.architecture === 'topk' || req.architecture === 'batchtopk') {
    if (!Number.isInteger(req.k) || req.k! < 1 || req.k! > req.dSae) throw new BadRequest(`k must be an integer in [1, ${req.dSae}]`);
  } else if (req.k !== undefined) throw new BadRequest(`k applies to topk and batchtopk only`);
  if (req.batchSize !== undefined && (!Number.isInteger(req.batchSize) || req.batchSize < 1 || req.batchSize > 16384)) throw new BadRequest('batchSize must be an integer in [1, 16384]');
  if (req.lr !== undefined && (typeof req.lr !== 'number' || !Number.isFinite(req.lr) || req.lr <= 0 || req.lr > 1)) throw new BadRequest('lr must be a number in (0, 1]');
}

/**
 * Training and scan jobs run in the background, one at a time, with progress
 * and (for training) loss and L0 curves. Each job checkpoints: training
 * through the trainer's checkpoints, scans through their state file. Stopping
 * the server aborts the running job at its next step, which writes the
 * checkpoint first.
 */
import * as path from 'node:path';
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
  private next = 1;

  constructor(private readonly ctx: Ctx, private readonly dir: string) {}

  list(): Job[] {
    return this.order.map((id) => this.jobs.get(id)!);
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Validates and queues a job. */
  start(req: JobRequest): Job {
    const roots = this.ctx.opts.dataDirs;
    if (req.kind !== 'train' && req.kind !== 'scan') throw new BadRequest(`unknown job kind ${JSON.stringify((req as { kind?: unknown }).kind)}`);
    const corpus = confinedPath(req.corpus, roots, 'corpus');
    if (!Number.isInteger(req.tokens) || req.tokens < 1 || req.tokens > 1e9) throw new BadRequest('tokens must be a positive integer');
    let run: (job: MutableJob) => Promise<string>;
    if (req.kind === 'train') {
      const out = confinedPath(req.out, roots, 'out');
      this.ctx.model.resolveHooks([req.hook]);
      run = (job) => this.train(job, req, corpus, out);
    } else {
      const s = saeOf(this.ctx, req.sae);
      run = (job) => this.scanJob(job, req.sae, s, corpus, req.tokens);
    }
    const id = String(this.next++);
    const job: MutableJob = { id, kind: req.kind, status: 'queued', progress: 0, message: '', curve: [], request: req };
    this.jobs.set(id, job);
    this.order.push(id);
    this.chain = this.chain.then(async () => {
      if (this.abort.signal.aborted) {
        job.status = 'stopped';
        return;
      }
      job.status = 'running';
      try {
        job.message = await run(job);
        job.status = 'done';
        job.progress = 1;
      } catch (e) {
        job.status = this.abort.signal.aborted ? 'stopped' : 'failed';
        job.message = (e as Error).message;
      }
    });
    return job;
  }

  /** Stops the running job at its next step (it checkpoints) and waits for it. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.chain;
  }

  private async train(job: MutableJob, req: Extract<JobRequest, { kind: 'train' }>, corpus: string, out: string): Promise<string> {
    const B = req.batchSize ?? 1024;
    await trainSaes(this.ctx.model, [{ hook: req.hook, architecture: req.architecture, dSae: req.dSae, k: req.k, out, lr: req.lr }], {
      corpus, tokens: req.tokens, batchSize: B, contextSize: Math.min(128, this.ctx.model.spec.nCtx), signal: this.abort.signal,
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
      corpus, tokens, signal: this.abort.signal, stateFile: path.join(this.dir, `scan-${job.id}.state`),
      onProgress: (p) => (job.progress = Math.min(1, p.tokens / tokens)),
    });
    this.ctx.registry.setDashboards(this.ctx.model.name, s.dir, await buildDashboards(this.ctx.model, s.sae, r));
    return `scanned ${r.tokens} tokens of ${name}`;
  }
}

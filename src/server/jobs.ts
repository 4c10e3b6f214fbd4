/**
 * Training and scan jobs run one at a time, each in its own child process at
 * low CPU priority (`jobProcess.ts`), so the request loop stays responsive
 * and a job's crash or memory takes only the job down. Each job checkpoints:
 * training through the trainer's checkpoints, scans through their state file.
 * Cancelling or stopping the server asks the child to stop at its next step,
 * which writes the checkpoint first. The job list is kept in `jobs.json`
 * beside the checkpoints and survives a restart; a job cut short by one is
 * reported stopped.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTextAtomic } from '../io/atomicFile.ts';
import { numel } from '../tensor/tensor.ts';
import { hookInnerDims } from '../model/interventionFeeds.ts';
import type { Job, JobRequest } from './contract.ts';
import { BadRequest, Conflict, saeOf, type Ctx } from './context.ts';
import type { FiledSae } from '../registry/registry.ts';
import type { JobCommand, JobMessage, JobTask } from './jobProcess.ts';
import { confinedPath, realPathOf } from './paths.ts';
import { architectureNames, needsK } from '../sae/architectures/registry.ts';
import { splitCorpus } from '../data/corpus.ts';

type MutableJob = { -readonly [K in keyof Job]: Job[K] };

/** How long a child may take to checkpoint and exit after `stop` before it is killed. */
const STOP_GRACE_MS = 60_000;

export class Jobs {
  private readonly jobs = new Map<string, MutableJob>();
  private readonly order: string[] = [];
  private chain: Promise<void> = Promise.resolve();
  private stopping = false;
  /** Jobs asked to stop (DELETE /api/jobs/:id). */
  private readonly cancelled = new Set<string>();
  /** The running job's process, and whether its work has begun (before that, stopping it loses nothing: it is killed). */
  private child?: { id: string; proc: ChildProcess; working: boolean };
  private readonly listFile: string;
  /** Resolved output folders of training jobs, by job. */
  private readonly outs = new Map<string, string>();

  /**
   * @param onTrained called with a finished training job's output folder
   *   (the server adds the new SAE to its menus).
   */
  constructor(private readonly ctx: Ctx, private readonly dir: string, private readonly onTrained: (out: string) => FiledSae | undefined = () => undefined) {
    this.listFile = path.join(dir, 'jobs.json');
    this.restore();
  }

  list(): Job[] {
    return this.order.map((id) => this.jobs.get(id)!);
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Where a finished training job's report is kept (a copy per job, so a later job in the same folder cannot change it). */
  reportFile(id: string): string {
    return path.join(this.dir, `report-${id.replace(/[^\w-]/g, '_')}.html`);
  }

  /**
   * Validates and queues a job. Every field is checked, and bounded so that
   * one request cannot exhaust the server's memory, before anything is queued.
   */
  start(req: JobRequest, resumeId?: string): Job {
    const roots = this.ctx.opts.dataDirs;
    if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new BadRequest('the job must be a JSON object');
    if (req.kind !== 'train' && req.kind !== 'scan') throw new BadRequest(`unknown job kind ${JSON.stringify((req as { kind?: unknown }).kind)}`);
    const waiting = this.order.filter((id) => this.jobs.get(id)!.status === 'queued').length;
    if (waiting >= MAX_QUEUED) throw new BadRequest(`${waiting} jobs are already queued (the limit is ${MAX_QUEUED}); wait for them or restart`);
    if (typeof req.corpus !== 'string') throw new BadRequest('corpus must be a path');
    // A corpus the server offers by name (the demo's --corpus) is taken as given; any other must be inside the data folders.
    const corpus = (this.ctx.opts.corpora ?? []).includes(req.corpus) ? req.corpus : confinedPath(req.corpus, roots, 'corpus');
    if (!corpus.startsWith('npm:') && !fs.existsSync(splitCorpus(corpus).file)) throw new BadRequest(`corpus ${req.corpus} does not exist in the data folders`);
    if (!Number.isInteger(req.tokens) || req.tokens < 1 || req.tokens > 1e9) throw new BadRequest('tokens must be an integer in [1, 1e9]');
    // Unique across restarts: a new server never picks up an old job's checkpoint or scan state.
    // A resumed job keeps its id, so it finds its own checkpoint (training) or state file (scans).
    const id = resumeId ?? `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    let task: JobTask;
    let estimate = 0;
    const model = { source: this.ctx.model.name, weights: this.ctx.model.weightMode };
    if (req.kind === 'train') {
      if (typeof req.out !== 'string') throw new BadRequest('out must be a path');
      if (typeof req.hook !== 'string') throw new BadRequest('hook must be a hook name');
      const out = confinedPath(req.out, roots, 'out');
      this.checkOut(out, req);
      const point = this.ctx.model.resolveHooks([req.hook])[0];
      checkTrainRequest(req, point.shape.includes('keyPos') ? Infinity : widthOf(this.ctx, point.name));
      estimate = checkJobTime(this.ctx, req.tokens, widthOf(this.ctx, point.name) * req.dSae, 6);
      task = { id, model, registry: this.ctx.opts.registry, request: req, corpus, out, resumeAt: path.join(this.dir, `train-${id}`), roots, offeredCorpus: corpus === req.corpus && (this.ctx.opts.corpora ?? []).includes(corpus) };
      this.outs.set(id, out);
    } else {
      const s = saeOf(this.ctx, req.sae);
      estimate = checkJobTime(this.ctx, req.tokens, s.sae.cfg.dIn * s.sae.cfg.dSae, 2);
      task = { id, model, registry: this.ctx.opts.registry, request: req, corpus, saeDir: s.dir, keys: { model: s.keys.model, sae: s.keys.sae }, resumeAt: path.join(this.dir, `scan-${id}.state`), roots, offeredCorpus: corpus === req.corpus && (this.ctx.opts.corpora ?? []).includes(corpus) };
    }
    if (!this.ctx.model.tokenizer) throw new BadRequest(`${this.ctx.model.name} has no tokenizer, so it cannot read a text corpus`);
    const scanned = req.kind === 'scan' ? saeOf(this.ctx, req.sae).keys : undefined;
    const job: MutableJob = {
      id, kind: req.kind, status: 'queued', progress: 0, message: `queued; about ${formatSeconds(estimate)} of work by estimate`, curve: [], request: req,
      ...(scanned ? { sae: { id: scanned.sae, name: scanned.name } } : {}),
    };
    this.jobs.set(id, job);
    if (!this.order.includes(id)) this.order.push(id);
    this.cancelled.delete(id);
    this.save();
    this.chain = this.chain.then(async () => {
      if (this.stopping || this.cancelled.has(id)) {
        job.status = 'stopped';
        this.save();
        return;
      }
      job.status = 'running';
      this.save();
      try {
        const r = await this.runChild(job, task);
        job.message = r.message;
        job.finalEv = r.ev;
        job.status = 'done';
        job.progress = 1;
        // A finished job's resumable state is spent.
        fs.rmSync(task.resumeAt, { recursive: true, force: true });
        if (task.out) {
          const keys = this.onTrained(task.out);
          if (keys) job.sae = { id: keys.sae, name: keys.name };
          const report = path.join(task.out, 'report.html');
          if (fs.existsSync(report)) fs.copyFileSync(report, this.reportFile(id));
        }
      } catch (e) {
        job.status = this.stopping || this.cancelled.has(id) ? 'stopped' : 'failed';
        job.message = (e as Error).message;
      }
      this.save();
    });
    return job;
  }

  /** Queues a stopped or failed job again under its id: it resumes from its checkpoint or scan state. */
  resume(id: string): Job {
    const j = this.jobs.get(id);
    if (!j) throw new BadRequest(`no job '${id}'`);
    if (j.status !== 'stopped' && j.status !== 'failed') throw new BadRequest(`job ${id} is ${j.status}: only a stopped or failed job resumes`);
    // Its own output folder may hold what the stopped run wrote (its log): that is not someone else's SAE.
    return this.start(j.request.kind === 'train' ? { ...j.request, overwrite: true } : j.request, id);
  }

  /**
   * A training job's output folder: never the data folder itself, the jobs
   * folder or an existing file; an existing SAE folder (or one a waiting job
   * will write) only with `overwrite`.
   */
  private checkOut(out: string, req: Extract<JobRequest, { kind: 'train' }>): void {
    if (this.ctx.opts.dataDirs.some((d) => realPathOf(d) === out)) throw new BadRequest(`out '${req.out}' is a data folder itself: name a folder inside it`);
    const jobsRel = path.relative(realPathOf(this.dir), out);
    if (jobsRel === '' || (!jobsRel.startsWith('..') && !path.isAbsolute(jobsRel))) throw new BadRequest(`out '${req.out}' is inside the server's jobs folder`);
    if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new BadRequest(`out '${req.out}' is an existing file, not a folder`);
    const busy = this.order.map((i) => this.jobs.get(i)!).find((j) => (j.status === 'queued' || j.status === 'running') && this.outs.get(j.id) === out);
    if (busy) throw new Conflict(`out '${req.out}' is the output of job ${busy.id}, which has not finished`);
    if (fs.existsSync(out) && fs.readdirSync(out).length > 0 && req.overwrite !== true) {
      const held = [...this.ctx.saes.values()].find((s) => s.dir === out);
      throw new Conflict(`out '${req.out}' already holds ${held ? `the SAE '${held.keys.name}'` : 'files'}; set overwrite to replace it (its records stay with the old weights)`);
    }
  }

  /**
   * Cancels a queued job, stops a running one at its next step, or removes a
   * finished one from the list; false when there is no such job.
   */
  cancel(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job) return false;
    if (job.status === 'queued' || job.status === 'running') {
      this.cancelled.add(id);
      if (job.status === 'queued') job.status = 'stopped';
      if (this.child?.id === id) this.halt(this.child);
    } else {
      this.jobs.delete(id);
      this.order.splice(this.order.indexOf(id), 1);
    }
    this.save();
    return true;
  }

  /** Stops the running job at its next step (it checkpoints) and waits for it. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child) this.halt(this.child);
    await this.chain;
  }

  /** Asks a job's process to stop at its next step; one still loading the model has nothing to save and is killed. */
  private halt(c: { proc: ChildProcess; working: boolean }): void {
    if (c.working) tell(c.proc, { type: 'stop' });
    else c.proc.kill('SIGKILL');
  }

  /** Runs one job in a child process; resolves with its result, rejects with its error. */
  private runChild(job: MutableJob, task: JobTask): Promise<{ message: string; ev?: number }> {
    // From the sources the child runs TypeScript through tsx like the command does (resolved from here, not the working
    // folder); from the built package (dist/) it runs the compiled JavaScript.
    const source = import.meta.url.endsWith('.ts');
    const entry = fileURLToPath(new URL(source ? './jobProcess.ts' : './jobProcess.js', import.meta.url));
    const proc = fork(entry, [], { execArgv: source ? ['--import', import.meta.resolve('tsx')] : [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const child = { id: job.id, proc, working: false };
    this.child = child;
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    return new Promise((resolve, reject) => {
      let result: JobMessage | undefined;
      let killer: NodeJS.Timeout | undefined;
      proc.on('message', (m: JobMessage) => {
        if (m.type === 'ready') {
          // Asked to stop before the child was ready: it starts and stops at once, writing nothing.
          tell(proc, { type: 'start', task });
          if (this.stopping || this.cancelled.has(job.id)) tell(proc, { type: 'stop' });
        } else if (m.type === 'progress') {
          child.working = true;
          job.progress = m.progress;
          if (m.point) job.curve.push(m.point);
          if (m.message) job.message = m.message;
          else if (job.message.startsWith('queued')) job.message = 'running';
        } else result = m;
      });
      proc.on('exit', (code, signal) => {
        clearTimeout(killer);
        this.child = undefined;
        if (result?.type === 'done') resolve(result);
        else if (result?.type === 'failed') reject(new Error(result.message));
        else {
          const last = stderr.trim().split('\n').filter((l) => !/^\S*\[W:onnxruntime/.test(l)).slice(-3).join(' ');
          const how = signal === 'SIGKILL' ? 'was killed (out of memory, or stopped by the system)' : signal ? `was stopped by the signal ${signal}` : `exited with code ${code}`;
          reject(new Error(`the job's process ${how} before finishing${last ? `: ${last}` : ''}`));
        }
      });
      proc.on('error', (e) => reject(e));
      const check = setInterval(() => {
        if (!this.child || this.child.proc !== proc) return clearInterval(check);
        if ((this.stopping || this.cancelled.has(job.id)) && !killer) killer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
      }, 200);
      proc.on('exit', () => clearInterval(check));
    });
  }

  /** Writes the job list (atomically; a failure is reported on stderr and the jobs go on). */
  private save(): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      writeTextAtomic(this.listFile, JSON.stringify({ jobs: this.list() }));
    } catch (e) {
      process.stderr.write(`saescope: cannot save the job list to ${this.listFile}: ${(e as Error).message}\n`);
    }
  }

  /** Reads the job list a previous server left; jobs it did not finish are stopped (their checkpoints stay). */
  private restore(): void {
    if (!fs.existsSync(this.listFile)) return;
    try {
      const saved = (JSON.parse(fs.readFileSync(this.listFile, 'utf8')) as { jobs?: MutableJob[] }).jobs ?? [];
      for (const j of saved) {
        if (typeof j?.id !== 'string' || this.jobs.has(j.id)) continue;
        if (j.status === 'queued' || j.status === 'running') {
          j.status = 'stopped';
          j.message = `interrupted by a server restart${j.message ? ` (${j.message})` : ''}`;
        }
        this.jobs.set(j.id, j);
        this.order.push(j.id);
      }
    } catch (e) {
      process.stderr.write(`saescope: ignoring an unreadable job list ${this.listFile}: ${(e as Error).message}\n`);
    }
  }
}

/** Sends a command to a job's process unless it has already gone (its exit settles the job). */
function tell(proc: ChildProcess, c: JobCommand): void {
  if (proc.connected) proc.send(c, (e) => e && process.stderr.write(`saescope: job process did not take '${c.type}': ${e.message}\n`));
}

/** Longest job accepted, by estimate (seconds). */
const MAX_JOB_SECONDS = 48 * 3600;
/** Arithmetic rate the estimate assumes: a conservative figure for a small CPU. */
const ASSUMED_FLOPS = 20e9;

/**
 * A job's time by estimate: per token, the model's forward (2 x parameters)
 * plus the SAE's share (`saeFactor` x d_in x d_sae: 6 for a training step,
 * 2 for encoding), at ASSUMED_FLOPS. Refuses what exceeds MAX_JOB_SECONDS,
 * with the estimate in the message.
 */
function checkJobTime(ctx: Ctx, tokens: number, saeWeights: number, saeFactor: number): number {
  const perToken = 2 * ctx.model.info().parameters + saeFactor * saeWeights;
  const seconds = (tokens * perToken) / ASSUMED_FLOPS;
  if (seconds > MAX_JOB_SECONDS) {
    throw new BadRequest(`${tokens} tokens would take about ${formatSeconds(seconds)} (${(perToken / 1e9).toPrecision(3)} GFLOP per token at an assumed ${ASSUMED_FLOPS / 1e9} GFLOP/s); the limit is ${formatSeconds(MAX_JOB_SECONDS)}: ask for fewer tokens, or run it with the saescope command`);
  }
  return seconds;
}

function formatSeconds(s: number): string {
  return s < 120 ? `${Math.max(1, Math.round(s))} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
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
  if (!architectureNames().includes(req.architecture)) throw new BadRequest(`architecture must be one of ${architectureNames().join(', ')}`);
  const maxSae = Math.max(1, Math.min(1 << 18, Math.floor(MAX_SAE_WEIGHTS / dIn)));
  if (!Number.isInteger(req.dSae) || req.dSae < 1 || req.dSae > maxSae) {
    const mib = Number.isFinite(req.dSae) ? Math.round((5 * 4 * dIn * Number(req.dSae)) / 2 ** 20) : NaN;
    throw new BadRequest(`dSae must be an integer in [1, ${maxSae}] (d_in ${dIn})${mib > 0 ? `; ${req.dSae} would hold about ${mib} MiB of weights, gradients and Adam state` : ''}`);
  }
  if (needsK(req.architecture)) {
    if (!Number.isInteger(req.k) || req.k! < 1 || req.k! > req.dSae) throw new BadRequest(`k must be an integer in [1, ${req.dSae}]`);
  } else if (req.k !== undefined) throw new BadRequest(`k applies to topk and batchtopk only`);
  if (req.batchSize !== undefined && (!Number.isInteger(req.batchSize) || req.batchSize < 1 || req.batchSize > 16384)) throw new BadRequest('batchSize must be an integer in [1, 16384]');
  if (req.lr !== undefined && (typeof req.lr !== 'number' || !Number.isFinite(req.lr) || req.lr <= 0 || req.lr > 1)) throw new BadRequest('lr must be a number in (0, 1]');
}

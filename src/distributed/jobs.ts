/**
 * The shard jobs of the queue: their shapes, their signatures and the checks
 * a worker makes before it opens anything. Redis is not trusted: whoever can
 * write to it can push a job, so every job carries an HMAC-SHA256 over its
 * content with a secret the coordinator and every worker share (`--secret-file`
 * or `SAESCOPE_QUEUE_SECRET`); a worker refuses unsigned or mis-signed jobs,
 * opens paths only inside the folders it was given (`--data`, on real paths,
 * checked when the job opens them), and refuses numbers out of bounds.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { isInside, realPathOf } from '../io/paths.ts';
import { canonicalJson } from '../model/identity.ts';
import type { WeightMode } from '../model/hookedModel.ts';
import type { SaeSpec, TrainOptions } from '../sae/train/options.ts';
import type { Shard } from './plan.ts';
import { splitCorpus } from '../data/corpus.ts';

/** The queue's name in Redis. */
export const QUEUE = 'saescope-jobs';
/** Attempts per shard before the run fails. */
export const ATTEMPTS = 3;

/** What every shard job carries: names and fingerprints, never weights. */
export interface JobBase {
  readonly version: string;
  /** HMAC-SHA256 (hex) of the job without this field, with the queue's shared secret. */
  readonly sig?: string;
  readonly run: string;
  readonly model: string;
  readonly weights?: WeightMode;
  readonly modelFingerprint: string;
  readonly corpus: string;
  readonly contextSize: number;
  readonly shard: Shard;
  /** The shared folder the shard's result goes to. */
  readonly dir: string;
}

/** A scan shard job. */
export interface ScanJobData extends JobBase {
  readonly kind: 'scan';
  readonly sae: string;
  readonly hook?: string;
  readonly saeFingerprint: string;
  readonly topK: number;
}

/** An activation-collection shard job. */
export interface CollectJobData extends JobBase {
  readonly kind: 'collect';
  readonly hook: string;
}

/** One SAE of a training sweep. */
export interface TrainJobData extends JobBase {
  readonly kind: 'train';
  readonly spec: SaeSpec;
  readonly options: SweepTrainOptions;
  readonly position: { readonly unit: number; readonly hookIndex: number };
}

/** The training options a sweep job carries (plain data: no callbacks, no signal). */
export type SweepTrainOptions = Omit<TrainOptions, 'onStep' | 'signal' | 'checkpointDir' | 'metricsLog' | 'sweepPosition'>;

export type ShardJobData = ScanJobData | CollectJobData | TrainJobData;

/** What a finished shard job returns. */
export interface ShardDone {
  readonly file: string;
  readonly tokens: number;
  readonly dIn?: number;
  /** Seconds the worker spent on the shard's rows (model and SAE already loaded). */
  readonly seconds: number;
  /** A training job's final metrics. */
  readonly metrics?: { readonly loss: number; readonly l0: number; readonly explainedVariance: number; readonly deadFraction: number };
}

/** The shortest secret accepted (characters). */
const MIN_SECRET = 16;

/**
 * The queue's shared secret: the file's content (trimmed), else
 * `SAESCOPE_QUEUE_SECRET`. Coordinators and workers must be given the same.
 */
export function queueSecret(secretFile?: string): string {
  let s: string | undefined;
  if (secretFile) {
    try {
      s = fs.readFileSync(secretFile, 'utf8').trim();
    } catch (e) {
      throw new Error(`--secret-file ${secretFile}: cannot read it (${(e as Error).message})`);
    }
  } else s = process.env.SAESCOPE_QUEUE_SECRET;
  if (!s) throw new Error('the Redis queue needs a shared secret, the same on the coordinator and every worker: --secret-file FILE or SAESCOPE_QUEUE_SECRET (e.g. openssl rand -hex 32)');
  if (s.length < MIN_SECRET) throw new Error(`the queue secret has ${s.length} characters; give at least ${MIN_SECRET}`);
  return s;
}

function mac(data: object, secret: string): string {
  // As Redis carries it: JSON drops undefined fields, so sign the JSON form.
  const { sig: _sig, ...rest } = JSON.parse(JSON.stringify(data)) as { sig?: string };
  return createHmac('sha256', secret).update(canonicalJson(rest)).digest('hex');
}

/** The job with its signature. */
export function signJob<T extends ShardJobData>(data: T, secret: string): T {
  return { ...data, sig: mac(data, secret) };
}

/** Throws (unrecoverably: retrying cannot help) unless the job is signed with `secret`. */
export function verifyJob(data: ShardJobData, secret: string): void {
  if (typeof data?.sig !== 'string' || !/^[0-9a-f]{64}$/.test(data.sig)) throw new UnrecoverableError('the job is not signed: this worker runs only jobs signed with its queue secret');
  const want = Buffer.from(mac(data, secret), 'hex');
  if (!timingSafeEqual(want, Buffer.from(data.sig, 'hex'))) throw new UnrecoverableError('the job\'s signature does not match this worker\'s queue secret (another secret, or the job was altered in Redis)');
}

const bad = (m: string): never => {
  throw new UnrecoverableError(`job refused: ${m}`);
};
const intIn = (v: unknown, lo: number, hi: number, what: string) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(`${what} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
};

/** Tokens one shard may ask for, and other bounds (as the server bounds its jobs). */
const MAX_TOKENS = 1e9;
/** Largest SAE a train job may ask for: d_in x d_sae weights (checked once the hook's width is known). */
export const MAX_SAE_WEIGHTS = 1 << 27;

/**
 * A path of the job inside one of the worker's folders (real paths); `mustExist`
 * for what it reads. Hub ids (not a path, no separator at the start) pass when
 * `hubId` allows them: the worker resolves those itself.
 */
export function confineJobPath(p: unknown, roots: readonly string[], what: string, o: { hubId?: boolean; corpus?: boolean } = {}): string {
  if (typeof p !== 'string' || !p || p.length > 4096) return bad(`${what} must be a path`);
  if (p.includes('\0')) bad(`${what} contains NUL`);
  if (o.corpus && p.startsWith('npm:')) return p;
  const file = o.corpus ? splitCorpus(p).file : p;
  if (o.hubId && !path.isAbsolute(file) && /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(file) && !fs.existsSync(file)) return p;
  if (!path.isAbsolute(file)) bad(`${what} '${p}' is not an absolute path`);
  const real = realPathOf(file);
  if (!roots.some((r) => isInside(real, r))) bad(`${what} '${p}' is outside the folders this worker may use (${roots.join(', ')})`);
  return real + p.slice(file.length);
}

/** Checks a verified job's numbers and paths against the worker's folders (at the moment it opens them). */
export function checkShardJob(d: ShardJobData, roots: readonly string[]): void {
  if (!['scan', 'collect', 'train'].includes(d.kind)) bad(`unknown kind ${JSON.stringify(d.kind)}`);
  const s = d.shard;
  intIn(s?.index, 0, 1e6, 'shard.index');
  intIn(s.start, 0, 1e12, 'shard.start');
  intIn(s.end, s.start, 1e12, 'shard.end');
  intIn(s.tokens, 0, MAX_TOKENS, 'shard.tokens');
  intIn(d.contextSize, 1, 1 << 16, 'contextSize');
  confineJobPath(d.model, roots, 'model', { hubId: true });
  confineJobPath(d.corpus, roots, 'corpus', { corpus: true });
  confineJobPath(d.dir, roots, 'dir');
  if (d.kind === 'scan') {
    intIn(d.topK, 1, 1000, 'topK');
    confineJobPath(d.sae, roots, 'sae');
  }
  if (d.kind === 'train') {
    const sp = d.spec;
    confineJobPath(sp?.out, roots, 'spec.out');
    if (path.dirname(sp.out) !== d.dir) bad('spec.out must be in the job\'s folder');
    intIn(sp.dSae, 1, 1 << 20, 'spec.dSae');
    if (sp.k !== undefined) intIn(sp.k, 1, sp.dSae, 'spec.k');
    intIn(d.options.tokens, 1, MAX_TOKENS, 'options.tokens');
    if (d.options.batchSize !== undefined) intIn(d.options.batchSize, 1, 16384, 'options.batchSize');
    if (d.options.activations) confineJobPath(d.options.activations, roots, 'options.activations');
    if (d.options.corpus) confineJobPath(d.options.corpus, roots, 'options.corpus', { corpus: true });
  }
}

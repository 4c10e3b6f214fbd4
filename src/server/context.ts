/** What every route can reach: the model, the SAEs by name, the registry, the queue and the limits. */
import type { HookedModel } from '../model/hookedModel.ts';
import type { Registry } from '../registry/registry.ts';
import type { Sae } from '../sae/sae.ts';
import type { ModelQueue } from './queue.ts';
import type { ServedSae } from './saes.ts';

/** Server configuration. */
export interface ServerOptions {
  /** SAE folders to serve, each with an optional explicit name (else the registry names it after its folder); added to the saved list. */
  readonly saes: readonly { readonly dir: string; readonly name?: string }[];
  readonly registry: string;
  /** Folders request paths may read and write (corpora, job outputs). */
  readonly dataDirs: readonly string[];
  /** Corpora offered to jobs besides those in the data folders (e.g. the demo's --corpus): read only, accepted as given. */
  readonly corpora?: readonly string[];
  /** Requests that may wait for the model (default 64). */
  readonly queueLimit?: number;
  /** Longest text accepted (default 4,000 characters). */
  readonly maxTextChars?: number;
  /** Most new tokens per generation (default 200). */
  readonly maxNewTokens?: number;
  /** Built web app to serve (default web/dist when it exists). */
  readonly webDir?: string;
  /** Folder for job checkpoints and scan state (default: the first data folder's .saescope-jobs). */
  readonly jobsDir?: string;
  /**
   * Host names the server answers to besides loopback (127.0.0.1, localhost,
   * [::1]): the interface it listens on, when that is a name or address other
   * than a wildcard. Any other Host header is refused (DNS rebinding).
   */
  readonly hosts?: readonly string[];
}

export interface Ctx {
  readonly model: HookedModel;
  /** SAEs by display name; finished training jobs add theirs. */
  readonly saes: Map<string, ServedSae>;
  /** The model's identity in the registry. */
  readonly modelId: string;
  readonly registry: Registry;
  readonly queue: ModelQueue;
  readonly opts: ServerOptions;
  readonly maxTextChars: number;
  readonly maxNewTokens: number;
}

/** A 400 with a message. */
export class BadRequest extends Error {}

/** A 409 with a message: the request would replace something without being asked to. */
export class Conflict extends Error {}

/** The SAE named in a request, or a 400 listing the known names. */
export function saeOf(ctx: Ctx, name: unknown): ServedSae {
  const s = typeof name === 'string' ? ctx.saes.get(name) : undefined;
  if (!s) throw new BadRequest(`unknown SAE ${JSON.stringify(name)} (known: ${[...ctx.saes.keys()].join(', ')})`);
  return s;
}

/** A text within the length limit, or a 400. */
export function textOf(ctx: Ctx, t: unknown, what = 'text'): string {
  if (typeof t !== 'string' || t.trim().length === 0) throw new BadRequest(`${what} is empty`);
  if (t.length > ctx.maxTextChars) throw new BadRequest(`${what} has ${t.length} characters; the limit is ${ctx.maxTextChars}`);
  return t;
}

/** A feature index within the SAE, or a 400. */
export function featureOf(sae: Sae, f: unknown): number {
  // Plain decimal digits only: '1e3', '0x10' and ' ' are not feature indices.
  const n = typeof f === 'string' ? (/^\d{1,9}$/.test(f) ? Number(f) : NaN) : f;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= sae.cfg.dSae) throw new BadRequest(`feature ${String(f)} is out of range [0, ${sae.cfg.dSae})`);
  return n;
}

/** A bounded integer option, or a 400. */
export function intOf(v: unknown, dflt: number, min: number, max: number, what: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new BadRequest(`${what} must be an integer in [${min}, ${max}]`);
  return v;
}

/** A finite number in [min, max], or a 400 (undefined gives `dflt`). */
export function numberOf(v: unknown, dflt: number, min: number, max: number, what: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new BadRequest(`${what} must be a number in [${min}, ${max}]`);
  return v;
}

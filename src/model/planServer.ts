/**
 * One session serving every plan of a quantized model. ONNX Runtime's
 * MatMulNBits prepacks its quantized weights into each session that holds
 * them, and its Node API has no shared prepacked-weights container, so a
 * session per plan (a forward, a generation, a steered generation) held a
 * copy of the weights each: 2.55x the memory of one generation on
 * Llama-3.2-1B's shapes in int4 (`bench big`, rss_sessions_ratio_int4).
 *
 * Here one session holds the union of the plans asked for so far: the KV-cache
 * graph (a forward is a call with an empty past), logits gathered at the
 * positions a call asks for (`logits_at`), every hook any call cached, and
 * every intervention input, fed as a no-op (a zero delta, a switched-off
 * replacement, a clamp with an all-zero position mask) by calls that do not
 * use it. Every build also has an added-vector input at each residual hook
 * it reaches, so steering there runs on the session a forward or a
 * generation built. A call the session does not cover rebuilds it as the
 * union, after the runs in flight end and the old session is released, so
 * one prepacked copy is alive at a time.
 */
import type { ClampPlan, FeatureEncoder } from '../hooks/interventions.ts';
import type { HookPoint } from '../hooks/points.ts';
import type { Feed, Session } from '../runtime/session.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { GraphPlan } from './graph/context.ts';
import { hookInnerDims } from './interventionFeeds.ts';
import type { ModelSpec } from './spec.ts';

interface Served {
  readonly plan: GraphPlan;
  readonly encoders: ReadonlyMap<string, FeatureEncoder>;
  readonly session: Session;
  inflight: number;
  drained?: () => void;
}

/** Serves plans from one compiled session, rebuilt as the union when a call needs more. */
export class PlanServer {
  private served?: Served;
  private lock: Promise<void> = Promise.resolve();
  private readonly noOps = new Map<string, Feed>();

  constructor(
    private readonly spec: ModelSpec,
    private readonly hooks: readonly HookPoint[],
    private readonly compile: (plan: GraphPlan, encoders: ReadonlyMap<string, FeatureEncoder>) => Promise<Session>,
  ) {}

  /** The plan the live session was built for, if any. */
  get plan(): GraphPlan | undefined {
    return this.served?.plan;
  }

  /** Runs `plan`'s call: its feeds, its outputs, as a session of its own would. */
  async run(plan: GraphPlan, feeds: Record<string, Feed>, encoders: ReadonlyMap<string, FeatureEncoder> = new Map(), into?: Record<string, Tensor<'float32'>>): Promise<Record<string, Tensor<'float32'>>> {
    const s = await this.acquire(plan, encoders);
    try {
      const ids = feeds.input_ids;
      if (!ids) throw new Error('internal: a call without input_ids');
      const [B, T] = ids.shape;
      const all: Record<string, Feed> = { ...feeds };
      for (const r of plan.replace) all[`replace.on:${r}`] = this.constant('on', { dtype: 'uint8', shape: [1], data: Uint8Array.of(1) });
      if (s.plan.logits === 'at') {
        all.logits_at = plan.logits === 'all' ? { dtype: 'int64', shape: [T], data: BigInt64Array.from({ length: T }, (_, i) => BigInt(i)) } : { dtype: 'int64', shape: [1], data: BigInt64Array.of(BigInt(T - 1)) };
      }
      for (const name of s.session.feedNames) if (!(name in all)) all[name] = this.noOp(name, B, s.plan);
      const fetch = [...plan.cache];
      if (plan.logits !== 'none') fetch.push('logits');
      if (plan.kvCache) for (const n of s.session.outputNames) if (n.startsWith('new.')) fetch.push(n);
      return await s.session.run(all, fetch, into);
    } finally {
      if (--s.inflight === 0) s.drained?.();
    }
  }

  /** Frees the live session. */
  async release(): Promise<void> {
    await this.exclusive(async () => {
      const old = this.served;
      this.served = undefined;
      if (old) await this.retire(old);
    });
  }

  /** The live session, rebuilt as the union first when it does not cover `plan`. */
  private acquire(plan: GraphPlan, encoders: ReadonlyMap<string, FeatureEncoder>): Promise<Served> {
    return this.exclusive(async () => {
      let s = this.served;
      if (!s || !covers(s.plan, plan, this.order)) {
        const next = union(s?.plan, this.steerable(plan), this.order);
        const all = new Map([...(s?.encoders ?? []), ...encoders]);
        const used = new Map((next.clamp ?? []).map((c) => [c.encoder, all.get(c.encoder)!]));
        this.served = undefined;
        if (s) await this.retire(s);
        s = { plan: next, encoders: used, session: await this.compile(next, used), inflight: 0 };
        this.served = s;
      }
      s.inflight++;
      return s;
    });
  }

  /**
   * `plan` with an added input at every residual-stream hook it reaches: a
   * steering call then runs on the session a forward or a generation built,
   * where a rebuild would repack every quantized weight (about 30 s on
   * Gemma-2-9B's shapes) and, measured on Llama-3.2-1B's shapes in int4,
   * raised the peak by 28-59 MiB in 7 runs of 9 (the old session's memory
   * not all returned before the new one is built). A zero added to the
   * residual is exact and costs one elementwise add per hook.
   */
  private steerable(plan: GraphPlan): GraphPlan {
    const stop = plan.stopAfter === undefined ? Infinity : this.order(plan.stopAfter);
    const resid = this.hooks.filter((h) => RESIDUAL.test(h.name) && h.order <= stop).map((h) => h.name);
    return { ...plan, add: [...new Set([...plan.add, ...resid])] };
  }

  private async retire(s: Served): Promise<void> {
    if (s.inflight > 0) await new Promise<void>((resolve) => (s.drained = resolve));
    await s.session.release();
  }

  private async exclusive<R>(fn: () => Promise<R>): Promise<R> {
    const prev = this.lock;
    let unlock!: () => void;
    this.lock = new Promise((r) => (unlock = r));
    await prev;
    try {
      return await fn();
    } finally {
      unlock();
    }
  }

  private readonly order = (hook: string): number => {
    const h = this.hooks.find((p) => p.name === hook);
    if (!h) throw new Error(`internal: unknown hook ${hook}`);
    return h.order;
  };

  /** The input a call that does not use `name` feeds: an empty past, or an intervention that changes nothing. */
  private noOp(name: string, B: number, served: GraphPlan): Feed {
    const { spec } = this;
    if (name.startsWith('past.')) return { dtype: 'float32', shape: [B, spec.nKvHeads, 0, spec.dHead], data: new Float32Array(0) };
    if (name === 'past_len') return this.constant('past_len', { dtype: 'int64', shape: [1], data: BigInt64Array.of(0n) });
    const colon = name.indexOf(':');
    const kind = name.slice(0, colon);
    const hook = name.slice(colon + 1);
    const point = this.hooks.find((h) => h.name === hook);
    if (colon < 0 || !point) throw new Error(`internal: no neutral value for graph input ${name}`);
    const inner = hookInnerDims(point, spec);
    const zeros = (shape: number[]): Feed => this.constant(shape.join('x'), { dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    if (kind === 'add' || kind === 'replace') return zeros([1, 1, ...inner]);
    if (kind === 'replace.on') return this.constant('off', { dtype: 'uint8', shape: [1], data: Uint8Array.of(0) });
    if (kind === 'clamp.mask') return zeros([1, 1, 1]);
    const clamp = served.clamp?.find((c) => c.hook === hook);
    if (kind === 'clamp' && clamp) return zeros([1, 1, clamp.features.length]);
    throw new Error(`internal: no neutral value for graph input ${name}`);
  }

  /** One buffer per constant (ORT reads inputs, never writes them). */
  private constant(key: string, t: Feed): Feed {
    let v = this.noOps.get(key);
    if (!v) this.noOps.set(key, (v = t));
    return v;
  }
}

/** The hooks a steering vector is added at: the residual stream before and after each block. */
const RESIDUAL = /^blocks\.\d+\.hook_resid_(pre|post)$/;

const sameClamp = (a: ClampPlan, b: ClampPlan) => a.hook === b.hook && a.encoder === b.encoder && a.features.length === b.features.length && a.features.every((f, i) => f === b.features[i]);

/** Whether a session built for `served` can run `p`'s call. */
export function covers(served: GraphPlan, p: GraphPlan, order: (hook: string) => number): boolean {
  const has = (list: readonly string[], want: readonly string[]) => want.every((h) => list.includes(h));
  if (!has(served.cache, p.cache) || !has(served.add, p.add) || !has(served.replace, p.replace)) return false;
  if (!(p.clamp ?? []).every((c) => (served.clamp ?? []).some((s) => sameClamp(s, c)))) return false;
  if (p.logits !== 'none' && served.logits !== 'at') return false;
  if (served.stopAfter === undefined) return true;
  // A graph that stops early serves only calls that stop there or before, with no logits or cache outputs past it.
  const stop = order(served.stopAfter);
  return !p.kvCache && p.stopAfter !== undefined && order(p.stopAfter) <= stop;
}

/** The plan serving `served`'s calls and `p`'s. */
export function union(served: GraphPlan | undefined, p: GraphPlan, order: (hook: string) => number): GraphPlan {
  const merge = (a: readonly string[] = [], b: readonly string[]) => [...new Set([...a, ...b])].sort();
  const mine = p.clamp ?? [];
  const clamp = [...(served?.clamp ?? []).filter((c) => !mine.some((m) => m.hook === c.hook)), ...mine].sort((a, b) => a.hook.localeCompare(b.hook));
  const logits = p.logits !== 'none' || served?.logits === 'at' ? 'at' : 'none';
  const stops = [served ? served.stopAfter : p.stopAfter, p.stopAfter];
  const stopAfter = logits === 'none' && !p.kvCache && stops.every((s) => s !== undefined) ? stops.reduce((a, b) => (order(b!) > order(a!) ? b : a)) : undefined;
  return {
    cache: merge(served?.cache, p.cache),
    add: merge(served?.add, p.add),
    replace: merge(served?.replace, p.replace),
    clamp: clamp.length ? clamp : undefined,
    logits,
    kvCache: true,
    stopAfter,
    replaceSwitch: true,
  };
}

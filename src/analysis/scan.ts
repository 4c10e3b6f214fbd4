/**
 * The one-pass corpus scan: every packed row runs through the model (to the
 * SAE's hook only) and the SAE once, and every feature's statistics, top-k
 * examples, quantile examples and histogram are updated from the sparse
 * codes. Memory is bounded by features x examples, not by the corpus. With a
 * `stateFile`, the scan saves its state atomically every few rows and a
 * killed scan resumes where it stopped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { readCorpus } from '../data/corpus.ts';
import { packRows } from '../data/pack.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import { checkSaeFitsModel } from '../sae/compat.ts';
import { lookupSorted, sortRowsByIndex, type SparseCodes } from '../sae/codes.ts';
import type { Sae } from '../sae/sae.ts';
import { writeFileAtomic } from '../io/atomicFile.ts';
import { Rng } from '../tensor/random.ts';
import type { Example } from './examples.ts';
import { FeatureStats, reviveFeatureStats, weightedUnion } from './featureStats.ts';

/** Options of a scan. */
export interface ScanOptions {
  /** Corpus spec, or documents in memory. */
  readonly corpus: string | readonly string[];
  /** Tokens to scan (non-BOS positions). */
  readonly tokens: number;
  /** Tokens per row (default: the SAE's context size). */
  readonly contextSize?: number;
  /** Rows per forward pass (default 16). */
  readonly rowsPerPass?: number;
  /** Top examples kept per feature (default 20). */
  readonly topK?: number;
  /** Quantile bins (even; default 8) and examples per bin (default 4). */
  readonly quantileBins?: number;
  readonly perBin?: number;
  /** Firing tokens sampled per quantile bin for the conditional distribution (default 32). */
  readonly tokenSamples?: number;
  /** Histogram bins (even; default 32). */
  readonly histBins?: number;
  /** Context tokens kept before and after an example's token (defaults 12 and 4). */
  readonly before?: number;
  readonly after?: number;
  /** Track only these features (default all); the others are skipped cheaply. */
  readonly features?: readonly number[];
  /** Seed of the quantile sampling (default 0). */
  readonly seed?: number;
  /**
   * Scan only the packed rows [start, end) (one shard of a distributed scan;
   * `tokens` then counts this shard's tokens). Rows keep their corpus-wide
   * indices, so shards' results merge (`mergeScans`) into the whole scan's.
   */
  readonly rowRange?: { readonly start: number; readonly end: number };
  /** Save state here (atomically) and resume from it. */
  readonly stateFile?: string;
  /** Rows between state saves (default 256). */
  readonly saveEveryRows?: number;
  /** Called after each pass. */
  readonly onProgress?: (p: { tokens: number; rows: number; total: number }) => void;
  /** Stops the scan after the current pass, saving its state (with `stateFile`). */
  readonly signal?: AbortSignal;
}

/** What a scan produced. */
export interface ScanResult {
  /** Tokens scanned. */
  readonly tokens: number;
  /** Packed rows scanned (at least one token taken from each). */
  readonly rows: number;
  /** Per-feature statistics, indexed by feature. */
  readonly features: readonly FeatureStats[];
  /** A uniform sample of context windows with the features active anywhere in each (non-activating examples for scoring). */
  readonly contexts: readonly RandomContext[];
  /** The options used (for reproducing and re-checking the examples). */
  readonly options: Readonly<Record<string, unknown>>;
  /** Tokens the random contexts were sampled from (for merging them). */
  readonly contextsSeen: number;
}

/** A random context window and the features active anywhere in it. */
export interface RandomContext {
  readonly row: number;
  readonly pos: number;
  readonly start: number;
  readonly ids: Int32Array;
  /** Sorted ids of features active at some window token. */
  readonly active: Int32Array;
}

const CONTEXTS = 512;

interface State {
  fingerprint: string;
  tokens: number;
  rows: number;
  rng: number[];
  features: FeatureStats[];
  contexts: RandomContext[];
  contextsSeen: number;
}

/** Scans a corpus for an SAE on a model. */
export async function scan(model: HookedModel, sae: Sae, o: ScanOptions): Promise<ScanResult> {
  checkSaeFitsModel(sae, model);
  if (!model.tokenizer) throw new Error(`${model.name}: has no tokenizer, so it cannot read a text corpus`);
  const hook = model.resolveHooks([sae.cfg.hookName])[0].name;
  const ctx = o.contextSize ?? sae.cfg.contextSize;
  const opts = { corpus: o.corpus, contextSize: ctx, topK: o.topK ?? 20, quantileBins: o.quantileBins ?? 8, perBin: o.perBin ?? 4, tokenSamples: o.tokenSamples ?? 32, histBins: o.histBins ?? 32, before: o.before ?? 12, after: o.after ?? 4, seed: o.seed ?? 0 };
  if (opts.quantileBins % 2 || opts.histBins % 2) throw new Error('quantile and histogram bins must be even (bins merge pairwise as the range doubles)');
  const fingerprint = JSON.stringify({ model: model.name, sae: sae.source, hook, features: o.features, rowRange: o.rowRange, ...opts });
  const rng = new Rng(opts.seed + (o.rowRange?.start ?? 0));
  let st: State = { fingerprint, tokens: 0, rows: o.rowRange?.start ?? 0, contexts: [], contextsSeen: 0, rng: rng.getState(), features: Array.from({ length: sae.cfg.dSae }, () => new FeatureStats(opts.topK, opts.histBins, opts.quantileBins, opts.perBin, opts.tokenSamples)) };
  if (o.stateFile && fs.existsSync(o.stateFile)) {
    const saved = restoreState(o.stateFile, opts);
    if (saved.fingerprint !== fingerprint) throw new Error(`${o.stateFile}: scan state belongs to another scan; delete it or use another --state`);
    st = saved;
    rng.setState(st.rng);
  }
  const tracked = o.features ? new Uint8Array(sae.cfg.dSae) : undefined;
  for (const f of o.features ?? []) {
    if (!Number.isInteger(f) || f < 0 || f >= sae.cfg.dSae) throw new Error(`feature ${f} is out of range [0, ${sae.cfg.dSae})`);
    tracked![f] = 1;
  }
  const bos = model.tokenizer.bosId;
  const per = o.rowsPerPass ?? 16;
  let lastSave = st.rows;
  let batch: number[][] = [];
  const flush = async () => {
    if (o.signal?.aborted) {
      if (o.stateFile) saveState(o.stateFile, { ...st, rng: rng.getState() });
      throw new Error(`scan stopped after ${st.tokens} tokens${o.stateFile ? `; state saved in ${o.stateFile}` : ''}`);
    }
    const res = await model.run(batch, { cache: [hook], logits: 'none' });
    const acts = res.cache[hook];
    const T = batch[0].length;
    const codes = await sae.encode({ dtype: 'float32', shape: [batch.length * T, sae.cfg.dIn], data: acts.data });
    sortRowsByIndex(codes);
    let used = 0;
    for (let b = 0; b < batch.length && st.tokens < o.tokens; b++) {
      for (let t = 0; t < T && st.tokens < o.tokens; t++) {
        if (batch[b][t] === bos) continue;
        st.tokens++;
        used = b + 1;
        const p = b * T + t;
        sampleContext(st, codes, batch[b], b * T, st.rows + b, t, opts.before, opts.after, rng);
        for (let e = codes.offsets[p]; e < codes.offsets[p + 1]; e++) {
          const f = codes.indices[e];
          if (tracked && !tracked[f]) continue;
          st.features[f].add(codes.values[e], st.rows + b, t, () => example(codes, batch[b], b * T, st.rows + b, t, f, codes.values[e], opts.before, opts.after), rng, batch[b][t]);
        }
      }
    }
    // Rows past the last one a token was taken from (the token budget ran out) do not count.
    st.rows += st.tokens >= o.tokens ? used : batch.length;
    batch = [];
    o.onProgress?.({ tokens: st.tokens, rows: st.rows, total: o.tokens });
    if (o.stateFile && st.rows - lastSave >= (o.saveEveryRows ?? 256)) {
      saveState(o.stateFile, { ...st, rng: rng.getState() });
      lastSave = st.rows;
    }
  };
  const endRow = o.rowRange?.end ?? Infinity;
  for await (const row of packRows(readCorpus(o.corpus), model.tokenizer, { contextSize: ctx, skipRows: st.rows })) {
    if (st.tokens >= o.tokens || st.rows + batch.length >= endRow) break;
    batch.push(row);
    if (batch.length === per) await flush();
  }
  if (batch.length && st.tokens < o.tokens) await flush();
  if (st.tokens === 0) throw new Error(`scan read no tokens from '${typeof o.corpus === 'string' ? o.corpus : 'the given texts'}': the corpus is shorter than one row of ${ctx} tokens (the context size); give more text or a smaller context size`);
  if (o.stateFile) saveState(o.stateFile, { ...st, rng: rng.getState() });
  return { tokens: st.tokens, rows: st.rows - (o.rowRange?.start ?? 0), features: st.features, contexts: st.contexts, options: opts, contextsSeen: st.contextsSeen };
}

/**
 * Merges the results of scans over disjoint row ranges of one corpus (shards,
 * in any order) into the result of one scan over all of them: per-feature
 * statistics merge exactly (see FeatureStats.merge), the random contexts as
 * a weighted sample of the union. `seed` drives the reservoir merges.
 */
export function mergeScans(parts: readonly ScanResult[], seed = 0): ScanResult {
  const m = new ScanMerger(seed);
  for (const p of parts) m.add(p);
  return m.result();
}

/**
 * mergeScans one part at a time (a coordinator merges each shard as it
 * arrives, while the others still run); adding the same parts in the same
 * order gives exactly mergeScans's result.
 */
export class ScanMerger {
  private readonly rng: Rng;
  private first?: ScanResult;
  private features: FeatureStats[] = [];
  private contexts: RandomContext[] = [];
  private seen = 0;
  private tokens = 0;
  private rows = 0;

  constructor(seed = 0) {
    this.rng = new Rng(seed);
  }

  add(p: ScanResult): void {
    const first = (this.first ??= p);
    if (JSON.stringify(p.options) !== JSON.stringify(first.options)) throw new Error('cannot merge scans made with different options');
    if (p.features.length !== first.features.length) throw new Error('cannot merge scans of SAEs of different widths');
    if (!this.features.length) {
      // Merging into empty statistics keeps every example and draws no random numbers, so the first part's
      // statistics are the merge (copied, so the part stays as it was).
      this.features = p.features.map((f) => f.copy());
    } else {
      p.features.forEach((f, i) => this.features[i].merge(f, this.rng));
    }
    this.contexts = weightedUnion(this.contexts, this.seen, p.contexts, p.contextsSeen, CONTEXTS, this.rng);
    this.seen += p.contextsSeen;
    this.tokens += p.tokens;
    this.rows += p.rows;
  }

  result(): ScanResult {
    if (!this.first) throw new Error('no scan results to merge');
    const contexts = [...this.contexts].sort((a, b) => a.row - b.row || a.pos - b.pos);
    return { tokens: this.tokens, rows: this.rows, features: this.features, contexts, options: this.first.options, contextsSeen: this.seen };
  }
}

/** Reservoir-samples one window per token into `st.contexts`, recording the features active in it. */
function sampleContext(st: State, codes: SparseCodes, ids: number[], rowBase: number, row: number, pos: number, before: number, after: number, rng: Rng): void {
  st.contextsSeen++;
  const slot = st.contexts.length < CONTEXTS ? st.contexts.length : Math.floor(rng.next() * st.contextsSeen);
  if (slot >= CONTEXTS) return;
  const start = Math.max(0, pos - before);
  const end = Math.min(ids.length, pos + after + 1);
  const active = new Set<number>();
  for (let t = start; t < end; t++) for (let e = codes.offsets[rowBase + t]; e < codes.offsets[rowBase + t + 1]; e++) active.add(codes.indices[e]);
  st.contexts[slot] = { row, pos, start, ids: Int32Array.from(ids.slice(start, end)), active: Int32Array.from([...active].sort((a, b) => a - b)) };
}

/** Builds an example's window: token ids and this feature's activation at each. */
function example(codes: SparseCodes, ids: number[], rowBase: number, row: number, pos: number, f: number, act: number, before: number, after: number): Example {
  const start = Math.max(0, pos - before);
  const end = Math.min(ids.length, pos + after + 1);
  // Plain arrays: allocating two small typed arrays per example cost more than the lookups.
  const acts = new Array<number>(end - start);
  for (let t = start; t < end; t++) acts[t - start] = lookupSorted(codes, rowBase + t, f);
  return { act, row, pos, start, ids: ids.slice(start, end), acts };
}

function saveState(file: string, st: State): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomic(file, [v8.serialize(st)]);
}

function restoreState(file: string, opts: { topK: number; histBins: number; quantileBins: number; perBin: number; tokenSamples: number }): State {
  let raw: State;
  try {
    raw = v8.deserialize(fs.readFileSync(file)) as State;
  } catch (e) {
    throw new Error(`${file}: not a scan state (${(e as Error).message})`);
  }
  raw.features = raw.features.map((plain) => reviveFeatureStats(plain, opts));
  return raw;
}

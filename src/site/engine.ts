/**
 * The static site's engine: the model, its SAEs and their registry data,
 * loaded from downloaded bytes and answering the web app's contract
 * (server/contract.ts) in the page, with the same library calls the server
 * makes. Nothing here touches files or Node: the bytes come from `fetchFile`,
 * the runtime from runtime/ort.ts (onnxruntime-web in the site's build).
 */
import { compareTexts } from '../analysis/compare.ts';
import type { FeatureDashboard } from '../analysis/dashboard.ts';
import { activeByToken, featuresForText } from '../analysis/textFeatures.ts';
import { conditionalViews } from '../interp/conditionalJudge.ts';
import { SafetensorsFile } from '../io/safetensors.ts';
import { SafetensorsWeights } from '../io/weights.ts';
import { adapterFor } from '../model/adapters/registry.ts';
import { HookedModel } from '../model/hookedModel.ts';
import { MemoryQuant } from '../model/quant/quantSource.ts';
import { PartialWeights } from './partialWeights.ts';
import type { RegistryReader } from '../registry/registry.ts';
import type { RuntimeOptions } from '../runtime/session.ts';
import { Sae } from '../sae/sae.ts';
import { checkSaeFitsModel } from '../sae/compat.ts';
import type * as C from '../server/contract.ts';
import { PRESETS } from '../steering/presets.ts';
import { steerVariants } from '../steering/steer.ts';
import { steerDone, steerVariantsOf } from '../steering/steerRequest.ts';
import { HfTokenizer } from '../tokenizer/hfTokenizer.ts';
import { sha256Hex, type SiteFeatures, type SiteFile, type SiteManifest } from './manifest.ts';

/** Downloads one file of the site (with progress and caching, as the page chooses). */
export type FetchFile = (f: SiteFile) => Promise<Uint8Array>;

interface SiteSae {
  readonly sae: Sae;
  /** Its identity (the name, for sites written before identities). */
  readonly id: string;
  readonly data: SiteFeatures;
}

/** The model and SAEs of a static site, answering the web app's calls. */
export class SiteEngine implements RegistryReader {
  private constructor(readonly manifest: SiteManifest, readonly model: HookedModel, private readonly saes: ReadonlyMap<string, SiteSae>) {}

  /** Downloads (through `fetchFile`), checks and loads everything the manifest names. */
  static async open(manifest: SiteManifest, fetchFile: FetchFile, runtime: RuntimeOptions = {}): Promise<SiteEngine> {
    if (manifest.format !== 'saescope-site' || manifest.version !== 1) throw new Error(`data/manifest.json: not a saescope site of version 1 (format ${String(manifest.format)}, version ${String(manifest.version)})`);
    const get = async (f: SiteFile) => checked(f, await fetchFile(f));
    const json = async <T>(f: SiteFile): Promise<T> => {
      try {
        return JSON.parse(new TextDecoder().decode(await get(f))) as T;
      } catch (e) {
        throw new Error(`${f.path}: ${(e as Error).message}`);
      }
    };
    const m = manifest.model;
    const files: SafetensorsFile[] = [];
    for (const f of m.weights) files.push(SafetensorsFile.fromBytes(f.path, await get(f)));
    const tokenizer = HfTokenizer.fromJson(await json<object>(m.tokenizer), m.tokenizerConfig ? await json<Record<string, unknown>>(m.tokenizerConfig) : {}, m.config);
    const adapter = adapterFor(m.config.model_type, 'data/manifest.json (model.config)');
    const floats = new SafetensorsWeights(m.name, files);
    const q = m.quant;
    const model = q
      ? new HookedModel(m.name, adapter.spec(m.config), adapter, new PartialWeights(floats, q.declared), tokenizer, runtime, { maxSessions: 6, weights: q.mode ?? `int${q.entries.bits}`, quant: new MemoryQuant(q.entries, q.location, await get(q.file)) })
      : new HookedModel(m.name, adapter.spec(m.config), adapter, floats, tokenizer, runtime, { maxSessions: 6 });
    const saes = new Map<string, SiteSae>();
    for (const s of manifest.saes) {
      const sae = new Sae(s.cfg, SafetensorsFile.fromBytes(s.weights.path, await get(s.weights)).readAll(), runtime, s.name);
      checkSaeFitsModel(sae, model);
      saes.set(s.name, { sae, id: s.id ?? s.name, data: await json<SiteFeatures>(s.features) });
    }
    return new SiteEngine(manifest, model, saes);
  }

  /** A feature's dashboard (RegistryReader, for steering presets). */
  dashboard<T = unknown>(_model: string, sae: string, feature: number): T | undefined {
    return (this.saes.get(sae)?.data.features[String(feature)]?.dashboard ?? undefined) as T | undefined;
  }

  /** A feature's sweep calibration (RegistryReader). */
  calibration<T = unknown>(_model: string, sae: string, feature: number): T | undefined {
    return (this.saes.get(sae)?.data.features[String(feature)]?.calibration ?? undefined) as T | undefined;
  }

  /** GET /api/info */
  info(): C.InfoResponse {
    const { model } = this;
    return {
      model: model.name, dModel: model.spec.dModel, nLayers: model.spec.nLayers, nCtx: model.spec.nCtx, chat: false,
      saes: [...this.saes].map(([name, s]) => ({ name, id: s.id, hook: s.sae.cfg.hookName, ...(s.sae.cfg.hookNameOut !== undefined ? { hookOut: s.sae.cfg.hookNameOut } : {}), dSae: s.sae.cfg.dSae, architecture: s.sae.cfg.architecture, k: s.sae.cfg.k, scanned: s.data.rows.some((r) => r.density !== null) })),
      presets: PRESETS, limits: this.manifest.limits,
    };
  }

  /** POST /api/analyze */
  async analyze(b: C.AnalyzeRequest): Promise<C.AnalyzeResponse> {
    const s = this.sae(b.sae);
    const r = await featuresForText(this.model, s.sae, this.text(b.text, 'text'), { top: b.top ?? 12, pool: b.pool });
    return { tokens: r.tokens, pooled: r.pooled, top: r.top.map((t) => ({ ...t, name: s.data.labels[String(t.feature)] ?? null })), heatmap: r.heatmap, active: activeByToken(r.codes) };
  }

  /** POST /api/compare */
  async compare(b: C.CompareRequest): Promise<C.CompareResponse> {
    const s = this.sae(b.sae);
    const rows = await compareTexts(this.model, s.sae, this.text(b.a, 'text A'), this.text(b.b, 'text B'), { top: b.top ?? 20 });
    return { rows: rows.map((r) => ({ ...r, name: s.data.labels[String(r.feature)] ?? null })) };
  }

  /** GET /api/feature/:sae/:feature */
  feature(saeName: string, f: number): C.FeatureResponse {
    const s = this.sae(saeName);
    if (!Number.isInteger(f) || f < 0 || f >= s.sae.cfg.dSae) throw new Error(`feature ${f} is out of range [0, ${s.sae.cfg.dSae})`);
    const d = s.data.features[String(f)];
    const dashboard = d?.dashboard ?? null;
    const labels: Record<number, string> = {};
    for (const n of dashboard?.neighbors ?? []) if (s.data.labels[String(n.feature)]) labels[n.feature] = s.data.labels[String(n.feature)];
    return {
      sae: saeName, saeId: s.id, scanned: dashboard !== null || s.data.rows.some((r) => r.density !== null), feature: f, dSae: s.sae.cfg.dSae, record: d?.record ?? null, explanations: [...(d?.explanations ?? [])], dashboard, labels,
      explainer: false, calibration: d?.calibration ?? null, calibrations: [],
      conditional: dashboard ? conditionalViews(dashboard, d?.explanations ?? []) : null,
      // A static site carries no corpus to expand examples from.
      documents: false,
    };
  }

  /** GET /api/registry: filtered, sorted and paged in the page. */
  registry(q: { sae: string; search?: string; sort?: string; desc?: string; offset?: string; limit?: string }): C.RegistryResponse {
    const s = this.sae(q.sae);
    const needle = q.search?.toLowerCase();
    let rows = s.data.rows.filter((r) => !needle || String(r.feature) === needle || [r.name, r.explanation, r.tags.join(' ')].some((x) => x?.toLowerCase().includes(needle)));
    const key = (r: (typeof rows)[number]): number | string | null => (q.sort === 'density' ? r.density : q.sort === 'max' ? r.maxAct : q.sort === 'name' ? r.name ?? r.explanation : r.feature);
    const sign = q.desc === 'true' ? -1 : 1;
    rows = [...rows].sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      if (x === null || y === null) return x === y ? a.feature - b.feature : x === null ? 1 : -1;
      return (x < y ? -sign : x > y ? sign : 0) || a.feature - b.feature;
    });
    const offset = Number(q.offset ?? 0);
    return { total: rows.length, offset, features: rows.slice(offset, offset + Number(q.limit ?? 100)) };
  }

  /** GET /api/registry/scatter */
  scatter(sae: string): C.ScatterResponse {
    return { points: this.sae(sae).data.scatter };
  }

  /** POST /api/steer, streamed through `onEvent` as the server streams it. */
  async steer(b: C.SteerRequest, onEvent: (e: C.SteerEvent) => void): Promise<void> {
    try {
      const s = this.sae(b.sae);
      const variants = steerVariantsOf(b, (f) => f as C.SteerFeature, (m) => new Error(m));
      const r = await steerVariants(this.model, s.sae, this.text(b.prompt, 'prompt'), {
        variants, positions: b.positions, maxNewTokens: Math.min(b.maxNewTokens ?? 40, this.manifest.limits.maxNewTokens),
        temperature: b.temperature ?? 1, seed: b.seed ?? 0, registry: this, keys: { model: '', sae: b.sae },
        onToken: (variant, _id, text) => onEvent({ kind: 'token', which: 'steered', variant, text }),
        onUnsteeredToken: (_id, text) => onEvent({ kind: 'token', which: 'unsteered', text }),
      });
      onEvent(steerDone(r, this.model.spec.nCtx));
    } catch (e) {
      onEvent({ kind: 'error', error: (e as Error).message });
    }
  }

  private sae(name: string): SiteSae {
    const s = this.saes.get(name);
    if (!s) throw new Error(`no SAE named '${name}' in this site (known: ${[...this.saes.keys()].join(', ')})`);
    return s;
  }

  private text(t: unknown, what: string): string {
    if (typeof t !== 'string' || !t.trim()) throw new Error(`${what} is empty`);
    if (t.length > this.manifest.limits.maxTextChars) throw new Error(`${what} is ${t.length} characters; the limit is ${this.manifest.limits.maxTextChars}`);
    return t;
  }
}

/** The bytes of `f`, checked against the manifest's size and hash. */
async function checked(f: SiteFile, bytes: Uint8Array): Promise<Uint8Array> {
  if (bytes.byteLength !== f.bytes) throw new Error(`${f.path}: ${bytes.byteLength} bytes, but the manifest says ${f.bytes} (a truncated or replaced file: export the site again)`);
  if ((await sha256Hex(bytes)) !== f.sha256) throw new Error(`${f.path}: its SHA-256 does not match the manifest (a corrupted or replaced file: export the site again)`);
  return bytes;
}

/** The dashboard type, for pages that read it. */
export type { FeatureDashboard };

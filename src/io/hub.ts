/**
 * HF model ids: resolved from the local HF cache
 * (`$HF_HUB_CACHE` or `~/.cache/huggingface/hub/models--ORG--NAME/snapshots/REV/`),
 * otherwise downloaded from the hub (`$HF_ENDPOINT`, default huggingface.co)
 * into that cache layout, resuming partial downloads with HTTP Range.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Download progress of one file. */
export interface DownloadProgress {
  /** File name inside the repository. */
  readonly file: string;
  /** Bytes on disk so far. */
  readonly bytes: number;
  /** Total bytes, when the server says. */
  readonly total?: number;
}

/** Options for resolving and downloading HF ids. */
export interface HubOptions {
  /** Revision (branch, tag or commit); default `main`. */
  readonly revision?: string;
  /** Cache root; default `$HF_HUB_CACHE`, `$HF_HOME/hub`, or `~/.cache/huggingface/hub`. */
  readonly cacheDir?: string;
  /** Hub base URL; default `$HF_ENDPOINT` or `https://huggingface.co`. */
  readonly endpoint?: string;
  /** Access token; default `$HF_TOKEN`. */
  readonly token?: string;
  /** Never touch the network (default: `$HF_HUB_OFFLINE` is set). */
  readonly offline?: boolean;
  /** Called as bytes arrive. */
  readonly onProgress?: (p: DownloadProgress) => void;
}

/** Files a model needs; everything else in the repo (pytorch .bin, onnx, flax) is skipped. */
const WANTED = [/\.safetensors$/, /^model\.safetensors\.index\.json$/, /^config\.json$/, /^tokenizer\.json$/, /^tokenizer_config\.json$/, /^special_tokens_map\.json$/, /^generation_config\.json$/];

/** The default cache root. */
export function hubCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  if (process.env.HF_HOME) return path.join(process.env.HF_HOME, 'hub');
  return path.join(os.homedir(), '.cache', 'huggingface', 'hub');
}

/** Checks an id looks like `name` or `org/name`. */
export function checkRepoId(id: string): void {
  if (!/^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(id) || id.includes('..')) {
    throw new Error(`'${id}' is neither an existing path nor a valid HF model id (like gpt2 or EleutherAI/pythia-70m)`);
  }
}

/** A cached snapshot folder for the id, if one is complete (has config.json). */
export function findCachedSnapshot(id: string, opts: HubOptions = {}): string | undefined {
  const repo = path.join(opts.cacheDir ?? hubCacheDir(), `models--${id.replace('/', '--')}`);
  const rev = opts.revision ?? 'main';
  const refFile = path.join(repo, 'refs', rev);
  const commit = fs.existsSync(refFile) ? fs.readFileSync(refFile, 'utf8').trim() : rev;
  const snap = path.join(repo, 'snapshots', commit);
  return fs.existsSync(path.join(snap, 'config.json')) && !fs.existsSync(path.join(snap, '.incomplete')) ? snap : undefined;
}

/** A local folder for an HF id: from the cache, or downloaded into it. */
export async function resolveHfModel(id: string, opts: HubOptions = {}): Promise<string> {
  checkRepoId(id);
  const cached = findCachedSnapshot(id, opts);
  if (cached) return cached;
  if (opts.offline ?? Boolean(process.env.HF_HUB_OFFLINE)) {
    throw new Error(`model '${id}' is not in the HF cache (${opts.cacheDir ?? hubCacheDir()}) and offline mode is on`);
  }
  return downloadModel(id, opts);
}

/** Downloads a model's files into the cache layout; returns the snapshot folder. */
export async function downloadModel(id: string, opts: HubOptions = {}): Promise<string> {
  const endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, '');
  const rev = opts.revision ?? 'main';
  const headers = authHeaders(opts.token ?? process.env.HF_TOKEN);
  const infoUrl = `${endpoint}/api/models/${id}/revision/${encodeURIComponent(rev)}`;
  const res = await fetchOrExplain(infoUrl, { headers }, id);
  const info = (await res.json()) as { sha?: string; siblings?: { rfilename: string }[] };
  const commit = info.sha ?? rev;
  const files = (info.siblings ?? []).map((s) => s.rfilename).filter((f) => WANTED.some((re) => re.test(f)));
  if (!files.includes('config.json')) throw new Error(`${id}@${rev}: the repository has no config.json`);
  const repo = path.join(opts.cacheDir ?? hubCacheDir(), `models--${id.replace('/', '--')}`);
  const snap = path.join(repo, 'snapshots', commit);
  fs.mkdirSync(snap, { recursive: true });
  fs.writeFileSync(path.join(snap, '.incomplete'), '');
  for (const f of files) {
    const url = `${endpoint}/${id}/resolve/${encodeURIComponent(commit)}/${f.split('/').map(encodeURIComponent).join('/')}`;
    await downloadFile(url, path.join(snap, f), headers, (bytes, total) => opts.onProgress?.({ file: f, bytes, total }));
  }
  fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'refs', rev), commit);
  fs.rmSync(path.join(snap, '.incomplete'));
  return snap;
}

/**
 * Downloads `url` to `dest` through `dest.incomplete`, resuming from its
 * size with a Range request; the final rename makes the file appear whole.
 */
export async function downloadFile(url: string, dest: string, headers: Record<string, string>, progress?: (bytes: number, total?: number) => void): Promise<void> {
  if (fs.existsSync(dest)) return;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const part = `${dest}.incomplete`;
  const have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  const res = await fetchOrExplain(url, { headers: have > 0 ? { ...headers, Range: `bytes=${have}-` } : headers }, url);
  const resumed = res.status === 206;
  let bytes = resumed ? have : 0;
  const len = Number(res.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(len) ? bytes + len : undefined;
  const out = fs.createWriteStream(part, { flags: resumed ? 'a' : 'w' });
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      bytes += chunk.length;
      progress?.(bytes, total);
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
  if (total !== undefined && bytes !== total) throw new Error(`${url}: download ended at ${bytes} of ${total} bytes; run again to resume`);
  fs.renameSync(part, dest);
}

async function fetchOrExplain(url: string, init: RequestInit, what: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new Error(`cannot reach ${url} for ${what}: ${(e as Error).message} (offline? put the model in the HF cache or pass a folder)`);
  }
  if (res.status === 401 || res.status === 403) throw new Error(`${url}: access denied (${res.status}); set HF_TOKEN for gated models`);
  if (res.status === 404) throw new Error(`${url}: not found (404); check the model id and revision`);
  if (!res.ok && res.status !== 206) throw new Error(`${url}: HTTP ${res.status}`);
  return res;
}

function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

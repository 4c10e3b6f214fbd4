/** Typed calls to the server, through the shared contract. Errors surface in the page. */
import type * as C from '../../src/server/contract.ts';

export type { C };

/** An API error with its HTTP status and body (409 conflicts carry the current record). */
export class ApiError extends Error {
  constructor(message: string, readonly status: number, readonly body: unknown) {
    super(message);
  }
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const data = (await res.json().catch(() => ({ error: `HTTP ${res.status}` }))) as T & C.ApiError;
  if (!res.ok) throw new ApiError(data.error ?? `HTTP ${res.status}`, res.status, data);
  return data;
}

export const api = {
  info: () => call<C.InfoResponse>('GET', '/api/info'),
  analyze: (r: C.AnalyzeRequest) => call<C.AnalyzeResponse>('POST', '/api/analyze', r),
  feature: (sae: string, f: number) => call<C.FeatureResponse>('GET', `/api/feature/${encodeURIComponent(sae)}/${f}`),
  document: (sae: string, f: number, e: { row: number; pos: number }) => call<C.DocumentResponse>('GET', `/api/feature/${encodeURIComponent(sae)}/${f}/document?row=${e.row}&pos=${e.pos}`),
  editFeature: (sae: string, f: number, e: C.FeatureEditRequest) => call<unknown>('PUT', `/api/feature/${encodeURIComponent(sae)}/${f}`, e),
  compare: (r: C.CompareRequest) => call<C.CompareResponse>('POST', '/api/compare', r),
  sweep: (r: C.SweepRequest) => call<C.SweepResponse>('POST', '/api/sweep', r),
  registry: (q: { sae: string; search?: string; sort?: string; desc?: string; offset?: string; limit?: string }) =>
    call<C.RegistryResponse>('GET', `/api/registry?${new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined && v !== '') as [string, string][])}`),
  scatter: (sae: string) => call<C.ScatterResponse>('GET', `/api/registry/scatter?sae=${encodeURIComponent(sae)}`),
  /** Where the registry export downloads from (null where there is none: a static site). */
  exportUrl: (sae: string): string | null => `/api/registry/export?sae=${encodeURIComponent(sae)}`,
  applyCalibration: (sae: string, f: number, id: number) => call<C.CalibrationsResponse>('POST', `/api/feature/${encodeURIComponent(sae)}/${f}/calibration`, { id }),
  undoCalibration: (sae: string, f: number) => call<C.CalibrationsResponse>('DELETE', `/api/feature/${encodeURIComponent(sae)}/${f}/calibration`),
  explain: (sae: string, f: number) => call<C.ExplainResponse>('POST', `/api/feature/${encodeURIComponent(sae)}/${f}/explain`),
  data: () => call<C.DataResponse>('GET', '/api/data'),
  search: (q: string) => call<C.SearchResponse>('GET', `/api/search?q=${encodeURIComponent(q)}`),
  jobs: () => call<C.JobsResponse>('GET', '/api/jobs'),
  startJob: (j: C.JobRequest) => call<C.Job>('POST', '/api/jobs', j),
  deleteJob: (id: string) => call<C.Job>('DELETE', `/api/jobs/${encodeURIComponent(id)}`),
  resumeJob: (id: string) => call<C.Job>('POST', `/api/jobs/${encodeURIComponent(id)}/resume`),

  /** Streams steering events as they arrive. */
  async steer(r: C.SteerRequest, onEvent: (e: C.SteerEvent) => void): Promise<void> {
    const res = await fetch('/api/steer', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(r) });
    if (!res.ok || !res.body) {
      const data = (await res.json().catch(() => ({}))) as C.ApiError;
      throw new Error(data.error ?? `HTTP ${res.status}`);
    }
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) onEvent(JSON.parse(line) as C.SteerEvent);
      }
    }
  },
};

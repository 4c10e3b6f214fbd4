/**
 * A server job (training or a scan) in its own process. The server forks this
 * module at a lower CPU priority (nice 10), sends one `JobTask`, and reads `JobMessage`s
 * back: the request loop never waits on a job's work, and a job that runs out
 * of memory or crashes takes only itself down. The child loads the model and
 * SAE itself from their paths (jobs carry no weights) and writes dashboards to
 * the registry file (SQLite in WAL mode takes writers from several processes).
 * A `stop` message aborts the work at its next step, after its checkpoint.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import type { WeightMode } from '../model/hookedModel.ts';
import type { JobRequest } from './contract.ts';
import { isInside, realPathOf } from '../io/paths.ts';

/** What the child needs to run one job. */
export interface JobTask {
  readonly id: string;
  readonly model: { readonly source: string; readonly weights: WeightMode };
  readonly registry: string;
  readonly request: JobRequest;
  /** Resolved corpus path. */
  readonly corpus: string;
  /** Resolved output folder (training). */
  readonly out?: string;
  /** SAE folder (scans). */
  readonly saeDir?: string;
  /** The identities the scan is filed under (the SAE found at saeDir must still be this one). */
  readonly keys?: { readonly model: string; readonly sae: string };
  /** Checkpoint folder (training) or state file (scans). */
  readonly resumeAt: string;
  /** The data folders: the corpus and output must still resolve inside them when the job opens them. */
  readonly roots?: readonly string[];
  /** A corpus the server offers by name (read as given). */
  readonly offeredCorpus?: boolean;
}

/**
 * Checks again, as the job opens them, that its corpus and output resolve
 * inside the data folders: a folder replaced by a link while the job waited
 * must not lead the job outside.
 */
function recheck(task: JobTask): void {
  if (!task.roots) return;
  const inside = (p: string, what: string) => {
    const file = p.replace(/\[[^\]]*\]$/, '').replace(/:[A-Za-z_][\w.]*$/, '');
    if (!task.roots!.some((r) => isInside(realPathOf(file), r))) throw new Error(`${what} ${p} now resolves outside the data folders (was a folder replaced by a link while the job waited?); nothing was written`);
  };
  if (!task.corpus.startsWith('npm:') && !task.offeredCorpus) inside(task.corpus, 'corpus');
  if (task.out) inside(task.out, 'out');
}

/** Child to server. */
export type JobMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly progress: number; readonly message?: string; readonly point?: { step: number; loss: number; l0: number; ev: number } }
  | { readonly type: 'done'; readonly message: string; readonly ev?: number }
  | { readonly type: 'failed'; readonly message: string; readonly stopped: boolean };

/** Server to child. */
export type JobCommand = { readonly type: 'start'; readonly task: JobTask } | { readonly type: 'stop' };

async function run(task: JobTask, signal: AbortSignal, send: (m: JobMessage) => void): Promise<{ message: string; ev?: number }> {
  recheck(task);
  const { loadModel } = await import('../model/load.ts');
  const model = await loadModel(task.model.source, { weights: task.model.weights });
  const req = task.request;
  if (req.kind === 'train') {
    fs.mkdirSync(task.out!, { recursive: true });
    const { trainSaes } = await import('../sae/train/trainer.ts');
    const B = req.batchSize ?? 1024;
    let ev: number | undefined;
    let last = 0;
    await trainSaes(model, [{ hook: req.hook, architecture: req.architecture, dSae: req.dSae, k: req.k, out: task.out!, lr: req.lr }], {
      corpus: task.corpus, tokens: req.tokens, batchSize: B, contextSize: Math.min(128, model.spec.nCtx), signal,
      checkpointDir: task.resumeAt, checkpointEveryTokens: 20 * B, metricsLog: path.join(task.out!, 'train_log.jsonl'), logEverySteps: 1,
      onStep: (m) => {
        const s = m.saes[0];
        ev = s.explainedVariance;
        const now = Date.now();
        // The curve keeps every step; messages are batched to a few a second.
        send({ type: 'progress', progress: Math.min(1, m.tokens / m.totalTokens), point: { step: m.step, loss: s.loss, l0: s.l0, ev: s.explainedVariance },
          message: now - last > 250 ? `${Math.round(m.tokensPerSecond)} tokens/s, explained variance ${s.explainedVariance.toFixed(3)}` : undefined });
        if (now - last > 250) last = now;
      },
    });
    // The run's report (plots of the log, the latents, no network needed) goes beside the SAE; the Jobs page links to it.
    const { writeReport } = await import('../sae/report.ts');
    writeReport(task.out!, path.join(task.out!, 'report.html'));
    // The card shows the explained variance once, from `ev`.
    return { message: `saved ${task.out}`, ev };
  }
  const { loadSae } = await import('../sae/load.ts');
  const { scan } = await import('../analysis/scan.ts');
  const { buildDashboards } = await import('../analysis/dashboard.ts');
  const { Registry } = await import('../registry/registry.ts');
  const { heuristicNames } = await import('../interp/heuristic.ts');
  const sae = loadSae(task.saeDir!);
  const { saeIdentity } = await import('../sae/identity.ts');
  if (task.keys && saeIdentity(sae) !== task.keys.sae) throw new Error(`the SAE at ${task.saeDir} changed since this scan was queued (it now holds other weights); scan it again`);
  const r = await scan(model, sae, {
    corpus: task.corpus, tokens: req.tokens, signal, stateFile: task.resumeAt,
    onProgress: (p) => send({ type: 'progress', progress: Math.min(1, p.tokens / req.tokens) }),
  });
  const dashboards = await buildDashboards(model, sae, r);
  const registry = Registry.open(task.registry);
  try {
    const keys = task.keys ?? registry.file(model, sae, task.saeDir!);
    registry.setDashboards(keys.model, keys.sae, dashboards);
    registry.setHeuristicNames(keys.model, keys.sae, heuristicNames(dashboards));
  } finally {
    registry.close();
  }
  return { message: `scanned ${r.tokens} tokens of ${req.kind === 'scan' ? req.sae : ''}` };
}

if (process.send) {
  const abort = new AbortController();
  const send = (m: JobMessage) => process.send!(m);
  process.on('message', (c: JobCommand) => {
    if (c.type === 'stop') abort.abort();
    else {
      try {
        os.setPriority(10);
      } catch {
        // Not permitted here: the job runs at the server's priority.
      }
      run(c.task, abort.signal, send).then(
        (r) => send({ type: 'done', message: r.message, ev: r.ev }),
        (e: Error) => send({ type: 'failed', message: e.message, stopped: abort.signal.aborted }),
      ).finally(() => process.disconnect());
    }
  });
  // The server went away: stop at the next step (the checkpoint is written first).
  process.on('disconnect', () => abort.abort());
  // Messages sent before a listener exists are lost, so the server waits for this before sending the task.
  send({ type: 'ready' });
}

/** Progress bars for the CLI (cli-progress), on stderr so stdout stays clean for JSON. */
import cliProgress from 'cli-progress';
import type { DownloadProgress } from '../io/hub.ts';

/** Seconds between progress lines when stderr is not a terminal (a log file, a pipe, CI). */
export const NOT_TTY_SECONDS = 5;

/** Options every bar shares: on stderr, and when stderr is not a terminal, a plain line every few seconds instead of silence. */
function barOptions(format: string, extra: cliProgress.Options = {}): cliProgress.Options {
  return { format, stream: process.stderr, noTTYOutput: true, notTTYSchedule: NOT_TTY_SECONDS * 1000, ...extra };
}

/** Shaded bars on a terminal; plain ASCII in logs. */
function preset(): cliProgress.Preset {
  return process.stderr.isTTY ? cliProgress.Presets.shades_classic : cliProgress.Presets.legacy;
}

/** Bars that have not been stopped: their timers would keep a failed command's process alive. */
const live = new Set<cliProgress.SingleBar>();

/** A progress bar on stderr; prints a line every NOT_TTY_SECONDS when stderr is redirected. */
export function progressBar(format: string, extra: cliProgress.Options = {}): cliProgress.SingleBar {
  const bar = new cliProgress.SingleBar(barOptions(format, extra), preset());
  const start = bar.start.bind(bar);
  const stop = bar.stop.bind(bar);
  bar.start = (...args: Parameters<typeof start>) => {
    live.add(bar);
    start(...args);
  };
  bar.stop = () => {
    live.delete(bar);
    stop();
  };
  return bar;
}

/** Stops every running bar (a command failed), so its timer does not hold the process open. */
export function stopProgress(): void {
  for (const bar of [...live]) bar.stop();
}

/** A download progress callback drawing one bar per file; draws nothing until bytes arrive. */
export function downloadBars(): { onProgress: (p: DownloadProgress) => void; stop: () => void } {
  let multi: cliProgress.MultiBar | undefined;
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    onProgress(p) {
      multi ??= new cliProgress.MultiBar(
        barOptions(' {file} [{bar}] {percentage}% | {value}/{total} bytes', { hideCursor: true }),
        preset(),
      );
      let bar = bars.get(p.file);
      if (!bar) {
        bar = multi.create(p.total ?? p.bytes, 0, { file: p.file });
        bars.set(p.file, bar);
      }
      if (p.total !== undefined) bar.setTotal(p.total);
      bar.update(p.bytes, { file: p.file });
    },
    stop: () => multi?.stop(),
  };
}

/** Progress bars for the CLI (cli-progress), on stderr so stdout stays clean for JSON. */
import cliProgress from 'cli-progress';
import type { DownloadProgress } from '../io/hub.ts';

/** A download progress callback drawing one bar per file; draws nothing until bytes arrive. */
export function downloadBars(): { onProgress: (p: DownloadProgress) => void; stop: () => void } {
  let multi: cliProgress.MultiBar | undefined;
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    onProgress(p) {
      multi ??= new cliProgress.MultiBar(
        { format: ' {file} [{bar}] {percentage}% | {value}/{total} bytes', hideCursor: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
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

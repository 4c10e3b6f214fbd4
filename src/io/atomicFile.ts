/**
 * Crash-safe file writes: every byte written (short writes resumed), fsync,
 * then one rename over the target. A failure at any point removes the
 * temporary file and leaves the previous file, if any, untouched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The one system call writers go through; tests inject short writes or ENOSPC. */
export type WriteFn = (fd: number, buf: Uint8Array, offset: number, length: number, position: number | null) => number;

/** Writes all of `buf` at `position` (null: the current position), resuming short writes. */
export function writeFully(fd: number, buf: Uint8Array, position: number | null, write: WriteFn = fs.writeSync, what = 'file'): void {
  let done = 0;
  while (done < buf.byteLength) {
    const n = write(fd, buf, done, Math.min(buf.byteLength - done, 1 << 30), position === null ? null : position + done);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${what}: the write made no progress after ${done} of ${buf.byteLength} bytes (disk full?)`);
    done += n;
  }
}

/** Fills `into` from `position`, resuming short reads; a file that ends early is an error naming `what`. */
export function readFully(fd: number, into: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < into.byteLength) {
    const n = fs.readSync(fd, into, done, Math.min(into.byteLength - done, 1 << 30), position + done);
    if (n === 0) throw new Error(`${what} ends early (truncated, or the file shrank while reading?)`);
    done += n;
  }
}

/** A temporary file beside `target`, for `commitFile` to rename into place. */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
}

/**
 * Writes a file atomically from parts written in order. On any error the
 * temporary file is removed and the error names the target.
 */
export function writeFileAtomic(target: string, parts: Iterable<Uint8Array>, write: WriteFn = fs.writeSync): void {
  const tmp = tempPathFor(target);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    for (const p of parts) writeFully(fd, p, null, write, target);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw withTarget(e as Error, target);
  }
}

function withTarget(e: Error, target: string): Error {
  if (e.message.includes(target)) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOSPC' ? 'no space left on the device' : e.message;
  const err = new Error(`could not write ${target}: ${why}; the previous file, if any, is unchanged`);
  (err as NodeJS.ErrnoException).code = code;
  return err;
}

/** Writes text atomically (all bytes, fsync, rename). */
export function writeTextAtomic(target: string, text: string, write: WriteFn = fs.writeSync): void {
  writeFileAtomic(target, [new TextEncoder().encode(text)], write);
}

/**
 * Checks, before hours of work, that `target` can be written: its folder
 * exists (created when `createFolder`) and accepts a file. Throws naming the
 * option and the cause.
 */
export function checkWritable(target: string, what: string, createFolder = false): void {
  const dir = path.dirname(path.resolve(target));
  try {
    if (createFolder) fs.mkdirSync(dir, { recursive: true });
    if (fs.existsSync(target) && fs.statSync(target).isDirectory() && !createFolder) throw new Error(`${target} is a folder`);
    const probe = path.join(dir, `.saescope-write-check.${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `the folder ${dir} does not exist` : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? `${dir} is not writable` : (e as Error).message;
    throw new Error(`${what} ${target}: cannot write there (${why}); nothing was run`);
  }
}

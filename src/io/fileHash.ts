/**
 * SHA-256 of a file's bytes, read in 16 MiB chunks (never the whole file in
 * memory), and the stat signature that says when a stored hash is still the
 * file's: device, inode, size and modification time.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

const CHUNK = 16 << 20;

/** Hex SHA-256 of `file`. */
export function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** What changes when a file is replaced or rewritten: `dev:ino:size:mtimeNs`. */
export function statSignature(file: string): string {
  const s = fs.statSync(file, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
}

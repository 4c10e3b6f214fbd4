/**
 * A private redis-server on 127.0.0.1 and a free port, without persistence:
 * for the tests and benchmarks of the distributed queue (and a pool on one
 * machine). Needs Debian's redis-server (or any Redis 7) on the PATH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { connectRedis } from '../src/distributed/connection.ts';

/** A free TCP port on 127.0.0.1 (free when asked; the caller binds it next). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

/** Starts redis-server (with `password` required, when given) and waits (up to `timeoutMs`) until it answers. */
export async function startLocalRedis(timeoutMs = 10_000, password?: string): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort();
  const url = password ? `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}` : `redis://127.0.0.1:${port}`;
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(password ? ['--requirepass', password] : [])], { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) => child.on('error', (e) => reject(new Error(`cannot start redis-server (apt-get install redis-server): ${e.message}`))));
  failed.catch(() => {});
  for (const t = Date.now(); ;) {
    try {
      (await Promise.race([connectRedis(url, 500), failed])).disconnect();
      return { url, process: child };
    } catch (e) {
      if (Date.now() - t > timeoutMs || child.exitCode !== null || /cannot start redis-server/.test((e as Error).message)) {
        child.kill('SIGKILL');
        throw e;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

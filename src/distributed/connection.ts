/** The Redis connection every coordinator and worker uses. */
import { Redis } from 'ioredis';

/**
 * Connects to Redis, failing within a few seconds with a clear error when
 * nothing answers at `url`. The connection then reconnects on its own, as
 * BullMQ needs (`maxRetriesPerRequest: null`).
 */
export async function connectRedis(url: string, timeoutMs = 4000): Promise<Redis> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  probe.on('error', () => {});
  try {
    await Promise.race([probe.connect().then(() => probe.ping()), new Promise((_, rej) => setTimeout(() => rej(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs))]);
  } catch (e) {
    throw new Error(`cannot reach Redis at ${url}: ${(e as Error).message}. Start one (apt-get install redis-server) or pass another --redis URL`);
  } finally {
    probe.disconnect();
  }
  const r = new Redis(url, { maxRetriesPerRequest: null });
  r.on('error', (e) => process.stderr.write(`saescope: redis: ${e.message}\n`));
  return r;
}


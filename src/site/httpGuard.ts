/**
 * The HTTP guards `serve` and `serve-site` share. DNS rebinding and
 * cross-site writes: a request whose Host is not loopback (or a configured
 * host) is refused, and so is a write (any method but GET, HEAD, OPTIONS)
 * whose Origin names another host. Browsers send Origin on every
 * cross-origin request and on same-origin writes, so a hostile page cannot
 * write without one; clients without a browser (curl, scripts) send none and
 * are not a page's reach.
 */
import type { FastifyInstance } from 'fastify';

const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]', '::1'];

/** Adds the Host and Origin checks to `app`; `hosts`: names it answers to besides loopback. */
export function guardOrigin(app: FastifyInstance, hosts: readonly string[]): void {
  const allowed = new Set([...LOOPBACK, ...hosts.filter((h) => h !== '0.0.0.0' && h !== '::').map((h) => h.toLowerCase())]);
  const hostOf = (hostHeader: string) => {
    const h = hostHeader.toLowerCase();
    if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
    return h.replace(/:\d+$/, '');
  };
  app.addHook('onRequest', async (req, reply) => {
    const host = req.headers.host;
    if (!host || !allowed.has(hostOf(host))) {
      return reply.code(403).send({ error: `Host '${host ?? ''}' is not served here (loopback only; serve --host to add one)` });
    }
    if (['GET', 'HEAD', 'OPTIONS'].includes(req.method)) return;
    const origin = req.headers.origin;
    if (origin === undefined) return;
    let ok = false;
    try {
      const u = new URL(origin);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.host.toLowerCase() === host.toLowerCase();
    } catch {
      ok = false;
    }
    if (!ok) return reply.code(403).send({ error: `cross-origin write refused (Origin '${origin}' does not match Host '${host}')` });
  });
}


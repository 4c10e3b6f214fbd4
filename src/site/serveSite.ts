/**
 * `saescope serve-site`: a small static server for trying an exported site,
 * with the headers that make the page cross-origin isolated (COOP/COEP), so
 * onnxruntime-web may use WebAssembly threads. Any static server works too;
 * the site's service worker adds the same headers after the first visit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { isInside, realPathOf } from '../io/paths.ts';
import { guardOrigin } from './httpGuard.ts';

/** Serves `dir` (a folder written by export-site); returns the listening server. */
export async function serveSite(dir: string, o: { host?: string; port?: number } = {}): Promise<{ app: FastifyInstance; url: string }> {
  if (!fs.existsSync(path.join(dir, 'index.html')) || !fs.existsSync(path.join(dir, 'data', 'manifest.json'))) {
    throw new Error(`${dir}: not a site written by saescope export-site (no index.html and data/manifest.json)`);
  }
  const app = Fastify();
  // The same guards as serve: loopback Host names only (DNS rebinding), no cross-site writes.
  guardOrigin(app, o.host ? [o.host] : []);
  const root = realPathOf(dir);
  app.addHook('onSend', async (_req, reply) => {
    reply.header('Cross-Origin-Opener-Policy', 'same-origin');
    reply.header('Cross-Origin-Embedder-Policy', 'require-corp');
    reply.header('Cross-Origin-Resource-Policy', 'same-origin');
    reply.header('Cache-Control', 'no-cache');
  });
  const { default: fastifyStatic } = await import('@fastify/static');
  // Files are served from the site's folder only: a symlink inside it that leads out is not followed.
  await app.register(fastifyStatic, { root, cacheControl: false, allowedPath: (pathName) => isInside(realPathOf(path.join(root, pathName)), root) });
  const url = await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 8080 });
  return { app, url };
}

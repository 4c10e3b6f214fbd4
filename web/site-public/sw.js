/*
 * saescope static site: offline after the first visit. On install the app
 * shell (shell.json lists it) goes into Cache Storage; every same-origin GET
 * is answered from the caches first, else from the network (and cached).
 * Responses get COOP/COEP headers, so the page is cross-origin isolated (and
 * onnxruntime-web may use threads) on any static server.
 */
const SHELL = 'saescope-shell';

self.addEventListener('install', (e) => {
  e.waitUntil((async () => {
    const list = await (await fetch('./shell.json', { cache: 'no-store' })).json();
    const cache = await caches.open(SHELL);
    await cache.addAll(list.map((p) => new URL(p, self.registration.scope).href));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

function isolated(res) {
  if (!res || res.type === 'opaque' || res.status === 0) return res;
  const headers = new Headers(res.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  headers.set('Cross-Origin-Resource-Policy', 'same-origin');
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

self.addEventListener('fetch', (e) => {
  const req = e.request;
  if (req.method !== 'GET' || new URL(req.url).origin !== self.location.origin) return;
  e.respondWith((async () => {
    // The manifest: the network first (a republished site is seen), the cached copy offline.
    if (new URL(req.url).pathname.endsWith('/data/manifest.json')) {
      try {
        return isolated(await fetch(req, { cache: 'no-store' }));
      } catch {
        return isolated(await caches.match(req, { ignoreSearch: true }));
      }
    }
    const hit = await caches.match(req, { ignoreSearch: true });
    if (hit) return isolated(hit);
    const res = await fetch(req);
    if (res.ok && !new URL(req.url).pathname.includes('/data/')) (await caches.open(SHELL)).put(req, res.clone());
    return isolated(res);
  })());
});

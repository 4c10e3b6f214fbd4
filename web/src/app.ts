/** The app shell shared by the server's app and the static site: loads info, routes by hash to a page. */
import { api, type C } from './api.ts';
import { h, showError } from './dom.ts';
import { analyzePage } from './pages/analyze.ts';
import { comparePage } from './pages/compare.ts';
import { featurePage } from './pages/feature.ts';
import { jobsPage } from './pages/jobs.ts';
import { registryPage } from './pages/registry.ts';
import { steerPage } from './pages/steer.ts';

/** Each page's title (the tab's text). */
const TITLES: Record<string, string> = { analyze: 'Analyze', feature: 'Feature', compare: 'Compare', steer: 'Steer', registry: 'Registry', jobs: 'Jobs' };

/** Starts routing; `jobs` false hides the Jobs page (a static site has no server to run jobs). */
export function startApp(o: { jobs: boolean }): void {
  let current = 0;
  const route = async (): Promise<void> => {
    showError(null);
    const root = document.getElementById('app')!;
    root.dataset.jobs = String(o.jobs);
    // Each navigation renders into its own view: a slow answer for a page left behind lands in a detached view, never beside the new one.
    const nav = ++current;
    const app = h('div', { class: 'view' });
    app.dataset.jobs = String(o.jobs);
    const loading = h('p', { id: 'loading', class: 'loading' }, 'Loading...');
    root.replaceChildren(loading, app);
    try {
      // Fresh each time: a finished training job adds its SAE to the menus.
      const info: C.InfoResponse = await api.info();
      document.getElementById('model')!.textContent = info.model;
      if (nav !== current) return;
      // A page's state travels after '?' in the hash (shareable links), e.g. #/feature/demo/5?text=...&log=1.
      const [route, query = ''] = location.hash.replace(/^#\/?/, '').split('?', 2);
      const params = new URLSearchParams(query);
      const [page, ...rest] = route.split('/');
      document.title = `${TITLES[page || 'analyze'] ?? 'saescope'}${rest[0] ? ` ${decodeURIComponent(rest[0])}${rest[1] ? ` #${rest[1]}` : ''}` : ''} · saescope`;
      for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === `#/${page || 'analyze'}`);
      switch (page || 'analyze') {
        case 'analyze': return await analyzePage(app, info);
        case 'feature': return await featurePage(app, info, decodeURIComponent(rest[0] ?? ''), rest[1] ?? '', params);
        case 'compare': return await comparePage(app, info);
        case 'steer': return await steerPage(app, info, rest[0] ? decodeURIComponent(rest[0]) : undefined, rest[1]);
        case 'registry': return await registryPage(app, info, rest[0] ? decodeURIComponent(rest[0]) : undefined);
        case 'jobs': if (o.jobs) return await jobsPage(app, info, rest[0] === 'scan' && rest[1] ? decodeURIComponent(rest[1]) : undefined);
        // falls through: no Jobs page here
        default: app.append(h('p', {}, `No page '${page}'.`));
      }
    } catch (e) {
      if (nav === current) showError(e);
    } finally {
      loading.remove();
    }
  };
  window.addEventListener('hashchange', () => void route());
  void route();
}

/** The app shell shared by the server's app and the static site: loads info, routes by hash to a page. */
import { api, type C } from './api.ts';
import { h, showError } from './dom.ts';
import { analyzePage } from './pages/analyze.ts';
import { comparePage } from './pages/compare.ts';
import { featurePage } from './pages/feature.ts';
import { jobsPage } from './pages/jobs.ts';
import { registryPage } from './pages/registry.ts';
import { steerPage } from './pages/steer.ts';

/** Starts routing; `jobs` false hides the Jobs page (a static site has no server to run jobs). */
export function startApp(o: { jobs: boolean }): void {
  const route = async (): Promise<void> => {
    showError(null);
    const app = document.getElementById('app')!;
    app.replaceChildren();
    app.dataset.jobs = String(o.jobs);
    try {
      // Fresh each time: a finished training job adds its SAE to the menus.
      const info: C.InfoResponse = await api.info();
      document.getElementById('model')!.textContent = info.model;
      const [page, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
      for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === `#/${page || 'analyze'}`);
      switch (page || 'analyze') {
        case 'analyze': return await analyzePage(app, info);
        case 'feature': return await featurePage(app, info, decodeURIComponent(rest[0] ?? ''), rest[1] && /^\d+$/.test(rest[1]) ? Number(rest[1]) : NaN);
        case 'compare': return await comparePage(app, info);
        case 'steer': return await steerPage(app, info, rest[0] ? decodeURIComponent(rest[0]) : undefined, rest[1] && /^\d+$/.test(rest[1]) ? Number(rest[1]) : undefined);
        case 'registry': return await registryPage(app, info, rest[0] ? decodeURIComponent(rest[0]) : undefined);
        case 'jobs': if (o.jobs) return await jobsPage(app, info, rest[0] === 'scan' && rest[1] ? decodeURIComponent(rest[1]) : undefined);
        // falls through: no Jobs page here
        default: app.append(h('p', {}, `No page '${page}'.`));
      }
    } catch (e) {
      showError(e);
    }
  };
  window.addEventListener('hashchange', () => void route());
  void route();
}

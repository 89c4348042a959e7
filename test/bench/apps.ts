/**
 * npm run bench:apps [-- --runs=5]
 *
 * The SMART apps benchmark (issue 9), on the embedded database unless DATABASE_URL is set:
 *  1. size: each app's JavaScript as the browser first loads it (its index.html's module script
 *     and everything that script imports statically), gzip-compressed (target ≤ 400 kB per app);
 *     lazily loaded chunks are reported beside it;
 *  2. time from launch to the first meaningful screen, on localhost, in Debian's chromium: a
 *     signed-in person (server session and remembered consent, as on every launch after the
 *     first) opens /apps/<id>/ in a new tab (notes: the EHR launch URL the launcher's API
 *     returns for one of the clinician's patients) → fhirclient's launch, /auth/authorize, the
 *     code exchange and the app's first data → back on the app's page with its h1 shown and
 *     nothing still loading (no [aria-busy=true]). Median and worst of `--runs` launches
 *     (target ≤ 1.5 s).
 * The server is the real one as a child process (node server/src/main.ts) with the demo clinic
 * seeded, serving the build in apps/dist (built first when the sources changed).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { buildApps } from '../../apps/build.ts';
import { signIn, type DemoLogin } from '../apps/harness.ts';
import { launchChromium } from '../support/chromium.ts';
import { freshProcessDatabase, startServerProcess } from './server-process.ts';
import { percentile } from './client.ts';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const RUNS = Number(args.runs ?? 5);
const ROOT = join(import.meta.dirname, '../..');
const KB = 1024;

interface AppRun {
  id: string;
  who: DemoLogin;
  /** Standalone: the app's own page. EHR: a launch made through the launcher's API for one of the clinician's patients. */
  launch: 'standalone' | 'ehr';
}

const APPS: AppRun[] = [
  { id: 'intake', who: 'patient', launch: 'standalone' },
  { id: 'worklist', who: 'clinician', launch: 'standalone' },
  { id: 'outcomes', who: 'clinician', launch: 'standalone' },
  { id: 'launcher', who: 'clinician', launch: 'standalone' },
  // Notes asks for a patient: opened the way clinicians open it, from the EHR.
  { id: 'notes', who: 'clinician', launch: 'ehr' },
];

/** JS files a page loads at first (static import graph) and those it may load later (dynamic imports). */
function scriptGraph(dist: string, appId: string): { initial: Set<string>; lazy: Set<string> } {
  const html = readFileSync(join(dist, appId, 'index.html'), 'utf8');
  const entry = [...html.matchAll(/<(?:script[^>]+src|link[^>]+rel="modulepreload"[^>]+href)="\/apps\/([^"]+\.js)"/g)].map((m) => m[1]);
  const initial = new Set<string>();
  const lazy = new Set<string>();
  const visit = (file: string, isLazy: boolean) => {
    const set = isLazy ? lazy : initial;
    if (initial.has(file) || set.has(file)) return;
    set.add(file);
    const code = readFileSync(join(dist, file), 'utf8');
    const dir = file.split('/').slice(0, -1).join('/');
    const resolve = (spec: string) => join(dir, spec).replace(/^\.\//, '');
    for (const m of code.matchAll(/(?:from|import)\s*["'](\.{1,2}\/[^"']+\.js)["']/g)) visit(resolve(m[1]), isLazy);
    for (const m of code.matchAll(/import\(\s*["'](\.{1,2}\/[^"']+\.js)["']\s*\)/g)) visit(resolve(m[1]), true);
  };
  for (const e of entry) visit(e, false);
  for (const f of initial) lazy.delete(f);
  return { initial, lazy };
}

const gz = (dist: string, files: Iterable<string>) => [...files].reduce((n, f) => n + gzipSync(readFileSync(join(dist, f))).length, 0);

async function firstScreen(page: Page, url: string, appId: string): Promise<number> {
  const t0 = Date.now();
  await page.goto(url);
  // The app's own page (not a sign-in page on the way), its h1 shown and nothing still loading.
  await page.waitForURL((u) => u.pathname === `/apps/${appId}/`, { timeout: 30_000 });
  await page.locator('main h1').first().waitFor({ state: 'visible', timeout: 30_000 });
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'), undefined, { timeout: 30_000 });
  return Date.now() - t0;
}

async function main(): Promise<void> {
  const { dir: dist } = await buildApps();
  const sizes = APPS.filter((a) => existsSync(join(dist, a.id, 'index.html'))).map((a) => {
    const g = scriptGraph(dist, a.id);
    return { app: a.id, files: g.initial.size, gzipKB: Math.round(gz(dist, g.initial) / KB), lazyGzipKB: Math.round(gz(dist, g.lazy) / KB) };
  });

  const shared = await freshProcessDatabase('bench-apps');
  const server = await startServerProcess({ shared, env: { SEED_DEMO: 'true', APPS_DIR: dist, DATA_DIR: join(shared.dataDir ?? mkdtempSync(join(tmpdir(), 'bh-bench-apps-')), 'data') } });
  const browser = await launchChromium();
  const times: { app: string; medianMs: number; worstMs: number; runs: number[] }[] = [];
  try {
    for (const a of APPS) {
      if (!existsSync(join(dist, a.id, 'index.html'))) continue;
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      // The address to open: the app itself, or a fresh EHR launch URL for each launch.
      let open: () => Promise<string> = async () => `${server.url}/apps/${a.id}/`;
      if (a.launch === 'ehr') {
        const launcher = await context.newPage();
        await launcher.goto(`${server.url}/apps/launcher/`);
        await launcher.waitForURL((u) => u.pathname.startsWith('/auth/'), { timeout: 15_000 });
        await signIn(launcher, a.who);
        await launcher.waitForURL((u) => u.pathname === '/apps/launcher/' && !u.search, { timeout: 30_000 });
        await launcher.locator('main h1').first().waitFor({ timeout: 30_000 });
        const token = await launcher.evaluate(() => {
          const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""') as string;
          return (JSON.parse(sessionStorage.getItem(key) ?? '{}') as { tokenResponse?: { access_token?: string } }).tokenResponse?.access_token ?? '';
        });
        const headers = { Authorization: `Bearer ${token}`, Accept: 'application/fhir+json' };
        const found = await fetch(`${server.url}/fhir/R4/Patient?_count=1`, { headers });
        if (found.status !== 200) throw new Error(`patient search as the clinician: ${found.status} (token ${token ? "present" : "missing"})`);
        const patients = (await found.json()) as { entry?: { resource: { id: string } }[] };
        const patient = patients.entry?.[0]?.resource.id;
        if (!patient) throw new Error('the clinician sees no patient to launch for');
        open = async () => {
          const res = await fetch(`${server.url}/auth/launch`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ app: a.id, patient }) });
          if (res.status !== 201) throw new Error(`launch refused: ${res.status}`);
          return ((await res.json()) as { url: string }).url;
        };
        await launcher.close();
      }
      // First launch: sign in and consent (not measured).
      const first = await context.newPage();
      await first.goto(await open());
      await first.waitForURL((u) => u.pathname.startsWith('/auth/') || u.pathname === `/apps/${a.id}/`, { timeout: 15_000 });
      await signIn(first, a.who);
      await first.waitForURL((u) => u.pathname === `/apps/${a.id}/`, { timeout: 30_000 });
      await first.locator('main h1').first().waitFor({ timeout: 30_000 });
      await first.close();
      const runs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const page = await context.newPage();
        runs.push(await firstScreen(page, await open(), a.id));
        await page.close();
      }
      const sorted = [...runs].sort((x, y) => x - y);
      times.push({ app: a.id, medianMs: percentile(sorted, 50), worstMs: sorted[sorted.length - 1], runs });
      await context.close();
    }
  } finally {
    await browser.close();
    await server.stop();
    await shared.drop();
  }

  console.log('\nJavaScript loaded at first, gzip (target ≤ 400 kB per app)');
  console.table(sizes);
  console.log(`Launch → first meaningful screen, ${RUNS} launches each, signed in (target ≤ 1500 ms)`);
  console.table(times.map(({ runs: _r, ...t }) => t));
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  const file = join(ROOT, '.bench', `apps-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ sizes, times, runs: RUNS, database: process.env.DATABASE_URL ? 'postgresql' : 'pglite' }, null, 2));
  console.log(`written ${file}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

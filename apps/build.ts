import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds the SMART apps into apps/dist when their sources changed since the last build (a hash of
 * every source file and the lockfile, kept in dist/.build-hash). Runs before `npm start` and
 * `npm test`, so a fresh clone serves built apps with no extra command; unchanged sources cost
 * a hash, not a build.
 */
const appsDir = fileURLToPath(new URL('.', import.meta.url));
const distDir = join(appsDir, 'dist');
const hashFile = join(distDir, '.build-hash');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(p));
    else out.push(p);
  }
  return out.sort();
}

function sourceHash(): string {
  const h = createHash('sha256');
  for (const f of [...sourceFiles(appsDir), join(appsDir, '..', 'package-lock.json')]) {
    h.update(relative(appsDir, f));
    h.update(readFileSync(f));
  }
  return h.digest('hex');
}

/**
 * Builds into a fresh folder beside the target and renames it into place, so a server reading the
 * old build never sees a half-written one. `outDir` defaults to apps/dist (what the server
 * serves); tests pass a folder named after the source hash, which never changes once written.
 */
export async function buildApps(options: { force?: boolean; outDir?: string } = {}): Promise<{ result: 'built' | 'fresh'; dir: string }> {
  const dir = options.outDir ?? distDir;
  const hash = sourceHash();
  const stamp = join(dir, '.build-hash');
  if (!options.force && existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return { result: 'fresh', dir };
  const { build } = await import('vite');
  const started = Date.now();
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await build({ configFile: join(appsDir, 'vite.config.ts'), build: { outDir: tmp, emptyOutDir: true } });
  precompress(tmp);
  writeFileSync(join(tmp, '.build-hash'), hash);
  const old = `${dir}.old-${process.pid}-${Date.now()}`;
  if (existsSync(dir)) renameSync(dir, old);
  try {
    renameSync(tmp, dir);
  } catch {
    // Another process put the same build in place first.
    rmSync(tmp, { recursive: true, force: true });
  }
  rmSync(old, { recursive: true, force: true });
  console.log(`apps built in ${((Date.now() - started) / 1000).toFixed(1)} s → ${relative(process.cwd(), dir) || dir}`);
  return { result: 'built', dir };
}

/**
 * A `.gz` beside every script and stylesheet (best compression, done once here instead of on
 * every request): the server sends it to browsers that accept gzip (server/src/http/apps.ts).
 */
function precompress(dir: string): void {
  for (const f of sourceFiles(dir)) {
    if (!/\.(js|css|html|svg|json)$/.test(f)) continue;
    const body = readFileSync(f);
    if (body.length < 1024) continue;
    writeFileSync(`${f}.gz`, gzipSync(body, { level: 9 }));
  }
}

/** For tests: a build for the current sources in its own folder (test-output/apps-dist/<hash>). */
export async function buildAppsForTests(): Promise<string> {
  const dir = join(appsDir, '..', 'test-output', 'apps-dist', sourceHash().slice(0, 16));
  if (existsSync(join(dir, '.build-hash'))) return dir;
  mkdirSync(dirname(dir), { recursive: true });
  return (await buildApps({ outDir: dir })).dir;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const force = process.argv.includes('--force');
  buildApps({ force }).then(
    (r) => {
      if (r.result === 'fresh') console.log('apps are up to date');
    },
    (e: unknown) => {
      console.error('apps build failed:', e instanceof Error ? e.message : e);
      process.exit(1);
    }
  );
}
export { distDir };

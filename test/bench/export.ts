/**
 * npm run bench:export [-- --scale=10] [--bundles=N] [--concurrency=8] [--downloads=4]
 *
 * Bulk Data $export end to end on PostgreSQL (BENCH_DATABASE_URL, default the local server): a
 * server process on a fresh database, the Synthea sample loaded through transaction bundles, then
 * a system-level $export by a backend client: kick-off → polling → every file downloaded, timed
 * as resources per second, with the server's resident memory sampled every 100 ms meanwhile.
 * Then the data is made `--scale` times larger in SQL (copies of every row under new ids: rows
 * of `resource` and the `_security` index rows the access check reads; no re-ingest) and the
 * export runs again, so memory at 1× and N× can be compared. Prints JSON, writes it to .bench/.
 */
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import pg from 'pg';
import { type ServerProcess, freePort, freshPostgres, setUpTenant, startServerProcess, systemToken } from './server-process.ts';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v ?? 'true']));
const ROOT = join(import.meta.dirname, '../..');
const DATA = process.env.SYNTHEA ?? join(ROOT, '../shared/data/synthea-r4-bundles.ndjson.gz');
const SCALE = Number(args.scale ?? 10);
const MAX_BUNDLES = args.bundles ? Number(args.bundles) : Infinity;
const CONCURRENCY = Number(args.concurrency ?? 8);
const DOWNLOADS = Number(args.downloads ?? 4);
const ADMIN = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function rssMb(pid: number): number {
  try {
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}

async function ingest(fhirBase: string, newToken: () => Promise<string>): Promise<number> {
  // Backend tokens live at most 300 s: a new one every 4 minutes.
  let token = await newToken();
  const refresh = setInterval(() => void newToken().then((t) => (token = t)), 240_000);
  const rl = createInterface({ input: createReadStream(DATA).pipe(createGunzip()), crlfDelay: Infinity });
  const lines: string[] = [];
  for await (const line of rl) {
    if (lines.length >= MAX_BUNDLES) break;
    lines.push(line);
  }
  let resources = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < lines.length) {
        const line = lines[next++];
        const post = () => fetch(`${fhirBase}/`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: line });
        // A kept-alive connection the server closes as it is reused resets the request before
        // anything was processed (seen under load): send it again once.
        const res = await post().catch((err: { cause?: { code?: string } }) => {
          if (err.cause?.code !== 'ECONNRESET') throw err;
          return post();
        });
        if (res.status !== 200) throw new Error(`bundle failed: ${res.status} ${(await res.text()).slice(0, 200)}`);
        await res.arrayBuffer();
        resources += (JSON.parse(line) as { entry: unknown[] }).entry.length;
      }
    })
  );
  clearInterval(refresh);
  return resources;
}

interface Run {
  scale: number;
  resources: number;
  files: number;
  seconds: number;
  /** Kick-off to manifest (the rest is the download). */
  exportSeconds: number;
  resourcesPerSec: number;
  megabytes: number;
  serverRssMbBefore: number;
  serverRssMbMax: number;
}

async function exportOnce(server: ServerProcess, newToken: () => Promise<string>, scale: number): Promise<Run> {
  // A bulk client authenticates again when its token (at most 300 s) runs out.
  let token = await newToken();
  const refresh = setInterval(() => void newToken().then((t) => (token = t)), 240_000);
  const fhirBase = `${server.url}/fhir/R4`;
  const pid = server.proc.pid ?? 0;
  const before = rssMb(pid);
  let max = before;
  const sampler = setInterval(() => (max = Math.max(max, rssMb(pid))), 100);
  const started = performance.now();
  const kick = await fetch(`${fhirBase}/$export`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', prefer: 'respond-async' } });
  if (kick.status !== 202) throw new Error(`kick-off: ${kick.status} ${await kick.text()}`);
  const status = kick.headers.get('content-location') as string;
  let manifest: { output: { url: string; count: number }[] } | undefined;
  while (!manifest) {
    const r = await fetch(status, { headers: { authorization: `Bearer ${token}` } });
    if (r.status === 200) manifest = (await r.json()) as typeof manifest;
    else if (r.status === 202) await new Promise((res) => setTimeout(res, 100));
    else throw new Error(`status: ${r.status} ${await r.text()}`);
  }
  const exportSeconds = (performance.now() - started) / 1000;
  let resources = 0;
  let bytes = 0;
  // Downloaded DOWNLOADS at a time, as a bulk client fetches the files of a manifest.
  const queue = [...manifest.output];
  await Promise.all(
    Array.from({ length: DOWNLOADS }, async () => {
      for (let o = queue.shift(); o; o = queue.shift()) {
        const r = await fetch(o.url, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+ndjson' } });
        if (r.status !== 200 || !r.body) throw new Error(`file: ${r.status}`);
        let lines = 0;
        for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
          bytes += chunk.length;
          const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
          for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) lines++;
        }
        if (lines !== o.count) throw new Error(`file has ${lines} lines, manifest says ${o.count}`);
        resources += lines;
      }
    })
  );
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  clearInterval(refresh);
  await fetch(status, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  return { scale, resources, files: manifest.output.length, seconds: +seconds.toFixed(2), exportSeconds: +exportSeconds.toFixed(2), resourcesPerSec: Math.round(resources / seconds), megabytes: Math.round(bytes / 1e6), serverRssMbBefore: before, serverRssMbMax: max };
}

/** Copies 2..scale of every resource under new ids (`<id>-x<k>`), with the `_security` rows the access check reads. */
async function scaleUp(url: string, scale: number): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  for (let k = 2; k <= scale; k++) {
    await c.query(
      `INSERT INTO resource (tenant, type, id, version, last_updated, deleted, content)
       SELECT tenant, type, id || '-x' || $1::text, version, last_updated, deleted, replace(content, '"id":"' || id || '"', '"id":"' || id || '-x' || $1::text || '"')
       FROM resource WHERE tenant = 'bench' AND id NOT LIKE '%-x%'`,
      [String(k)]
    );
    await c.query(
      `INSERT INTO idx_token (tenant, rtype, rid, param, grp, system, code, text)
       SELECT tenant, rtype, rid || '-x' || $1::text, param, grp, system, code, text FROM idx_token WHERE tenant = 'bench' AND param = '_security' AND rid NOT LIKE '%-x%'`,
      [String(k)]
    );
  }
  await c.query('ANALYZE');
  await c.end();
}

const shared = await freshPostgres(ADMIN, 'bench_export');
const exportDir = mkdtempSync(join(tmpdir(), 'bench-export-'));
let server: ServerProcess | undefined;
try {
  const tenancy = await setUpTenant(shared, 'bench', 'system/*.cruds system/*.rs');
  server = await startServerProcess({ shared, port: await freePort(), env: { EXPORT_DIR: exportDir, WORKERS: '1', LOG_LEVEL: 'error', STATISTICS_INTERVAL_MS: '2000' }, quiet: false });
  const t0 = performance.now();
  const loaded = await ingest(`${server.url}/fhir/R4`, () => systemToken(server!.url, tenancy));
  console.error(`loaded ${loaded} resources in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const runs: Run[] = [];
  runs.push(await exportOnce(server, () => systemToken(server!.url, tenancy, 'system/*.rs'), 1));
  console.error(JSON.stringify(runs[0]));
  if (SCALE > 1) {
    await scaleUp(shared.url as string, SCALE);
    runs.push(await exportOnce(server, () => systemToken(server!.url, tenancy, 'system/*.rs'), SCALE));
    console.error(JSON.stringify(runs[1]));
  }
  const result = { bench: 'export', database: 'postgres', loaded, bundles: MAX_BUNDLES === Infinity ? 'all' : MAX_BUNDLES, runs, target: { resourcesPerSec: 20_000 } };
  console.log(JSON.stringify(result, null, 2));
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', `export-${Date.now()}.json`), JSON.stringify(result, null, 2));
} finally {
  await server?.stop();
  await shared.drop();
  rmSync(exportDir, { recursive: true, force: true });
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ServerProcess, type SharedDatabase, type Tenancy, freePort, freshProcessDatabase, setUpTenant, startServerProcess, systemToken } from '../bench/server-process.ts';
import { type Res, download, ids, kickoff, poll, postBundle, readBundles } from './support.ts';

// $export jobs are rows (server/src/bulk/README.md): a server stopped in the middle of an export
// hands the job back with its resume point, and the next start finishes it — every resource
// exactly once in the files. Real server processes over one database (a PGlite data directory,
// or a fresh PostgreSQL database when DATABASE_URL is set). Small pages (EXPORT_PAGE_SIZE) make
// the export long enough to be caught in the middle.

const TENANT = 'bulk-restart';
let shared: SharedDatabase;
let tenancy: Tenancy;
let port: number;
let server: ServerProcess | undefined;
let exportDir: string;
const expected = new Map<string, string[]>();

const start = async () => {
  server = await startServerProcess({ shared, port, env: { EXPORT_DIR: exportDir, EXPORT_PAGE_SIZE: '5' } });
};

beforeAll(async () => {
  shared = await freshProcessDatabase('bulk');
  tenancy = await setUpTenant(shared, TENANT);
  exportDir = mkdtempSync(join(tmpdir(), 'bulk-restart-'));
  port = await freePort();
  await start();
  const token = await systemToken(server!.url, tenancy);
  for (const bundle of (await readBundles()).slice(0, 4)) {
    const serverIds = await postBundle(`${server!.url}/fhir/R4`, token, bundle);
    bundle.entry.forEach((e: Res, i: number) => {
      const t = e.resource.resourceType as string;
      if (t === 'Observation' || t === 'Patient') expected.set(t, [...(expected.get(t) ?? []), serverIds[i]]);
    });
  }
}, 300_000);

afterAll(async () => {
  await server?.kill();
  await shared?.drop();
  rmSync(exportDir, { recursive: true, force: true });
});

describe(`an export survives a restart (${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite data directory'})`, () => {
  test('stopped mid-job, the job completes after the next start, every resource once', async () => {
    const fhirBase = `${server!.url}/fhir/R4`;
    let token = await systemToken(server!.url, tenancy, 'system/Patient.rs system/Observation.rs');
    const status = await kickoff(fhirBase, token, '$export?_type=Patient,Observation');
    // Wait until some resources are written but the job is not done.
    let midway = '';
    for (let i = 0; i < 400 && !midway; i++) {
      const res = await fetch(status, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(202);
      const p = res.headers.get('x-progress') ?? '';
      if (/ [1-9]\d* resources$/.test(p)) midway = p;
      else await new Promise((r) => setTimeout(r, 25));
    }
    expect(midway).toMatch(/^[01]\/2 types, [1-9]\d* resources$/);
    await server!.stop();

    await start();
    token = await systemToken(server!.url, tenancy, 'system/Patient.rs system/Observation.rs');
    const { manifest } = await poll(status, token);
    const files = await download(manifest, token);
    expect(ids(files.get('Patient'))).toEqual([...expected.get('Patient')!].sort());
    expect(ids(files.get('Observation'))).toEqual([...expected.get('Observation')!].sort());
    expect(expected.get('Observation')!.length).toBeGreaterThan(100);
  });
});

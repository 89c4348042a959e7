import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadInstrumentsForAllTenants } from '../../server/src/clinical/instruments/index.ts';
import { installProfilesEverywhere } from '../../server/src/clinical/profiles/install.ts';
import { platformProfiles } from '../../server/src/clinical/profiles/registry.ts';
import { installRelease, releaseOf, tenantsWithout } from '../../server/src/clinical/releases.ts';
import { installRiskDefaultsEverywhere } from '../../server/src/clinical/risk/index.ts';
import { INSTRUMENTS } from '../../server/src/clinical/scoring/index.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

// What the server ships into every tenant is installed at a start only where that release has not
// been installed yet (server/src/clinical/releases.ts): a start costs the same whatever the number
// of tenants, and a new release still reaches every tenant, the failed ones again at the next start.

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
  for (const t of ['r-a', 'r-b', 'r-c']) await s.ensureTenant(t);
});
afterAll(async () => {
  await s?.close();
});

/** The tenants of this file, of those an install ran in. */
const ours = (tenants: string[]) => tenants.filter((t) => t.startsWith('r-'));

describe('a release of shipped content is installed once per tenant', () => {
  test('every tenant once; a new release everywhere again; a new tenant alone', async () => {
    const ran: string[] = [];
    const install = async (tenant: string) => void ran.push(tenant);
    await installRelease(s.db, 'profiles', { release: 1 }, install);
    expect(ours(ran)).toEqual(['r-a', 'r-b', 'r-c']);

    ran.length = 0;
    await installRelease(s.db, 'profiles', { release: 1 }, install);
    expect(ran).toEqual([]);

    await installRelease(s.db, 'profiles', { release: 2 }, install);
    expect(ours(ran)).toEqual(['r-a', 'r-b', 'r-c']);

    ran.length = 0;
    await s.ensureTenant('r-d');
    await installRelease(s.db, 'profiles', { release: 2 }, install);
    expect(ran).toEqual(['r-d']);
  });

  test('a tenant whose install failed is not recorded, and is tried again at the next start', async () => {
    const ran: string[] = [];
    const failing = async (tenant: string) => {
      ran.push(tenant);
      if (tenant === 'r-b') throw new Error('install failed');
    };
    await expect(installRelease(s.db, 'instruments', { release: 'x' }, failing)).rejects.toThrow('install failed');
    // It stopped at r-b: r-a is recorded, r-b and those after it are not.
    expect(ours(await tenantsWithout(s.db, 'instruments', releaseOf('instruments', { release: 'x' })))).toEqual(['r-b', 'r-c', 'r-d']);
    ran.length = 0;
    await installRelease(s.db, 'instruments', { release: 'x' }, async (tenant) => void ran.push(tenant));
    expect(ours(ran)).toEqual(['r-b', 'r-c', 'r-d']);
  });

  test("the start's installs record the release they installed, so the next start reads nothing back", async () => {
    await installProfilesEverywhere(s.db);
    await loadInstrumentsForAllTenants(s.db);
    await installRiskDefaultsEverywhere(s.db);
    expect(await tenantsWithout(s.db, 'profiles', releaseOf('profiles', [...platformProfiles().values()]))).toEqual([]);
    expect(await tenantsWithout(s.db, 'instruments', releaseOf('instruments', Object.values(INSTRUMENTS).map((d) => d.questionnaire)))).toEqual([]);
    // The shipped rule set and crisis resources are what risk/install.ts installs; their release
    // is recorded for every tenant too.
    const { rows } = await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tenant_release WHERE part = 'risk-defaults'`);
    const { rows: tenants } = await s.db.query<{ n: number }>('SELECT count(*)::int AS n FROM tenant');
    expect(rows[0].n).toBe(tenants[0].n);
  });
});

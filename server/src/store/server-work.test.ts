import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../../test/support/database.ts';
import { scopePolicy } from '../access/policy.ts';
import type { Database } from '../db/database.ts';
import { loadDefinitions } from '../kernel/definitions.ts';
import { Repository } from './repository.ts';

/**
 * Tenant-wide access has one door (issue 10, item 13): `Repository.asServer` for the server's
 * follow-up work in a caller's interaction, `Repository.forServer` where there is no caller.
 */
const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && e.name !== 'test-fixture.ts' ? [p] : [];
  });
}

describe('tenant-wide access', () => {
  it('is built only by the Repository (no module makes a tenant-admin policy for itself)', () => {
    const building = sources(SRC)
      .filter((f) => /\btenantAdminPolicy\(/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    expect(building.sort()).toEqual(['access/policy.ts', 'store/repository.ts']);
  });

  describe('Repository.asServer', () => {
    let db: Database;
    let drop: () => Promise<void>;
    beforeAll(async () => {
      loadDefinitions();
      ({ db, drop } = await freshDatabase());
    });
    afterAll(async () => drop?.());

    const obs: Observation = { resourceType: 'Observation', status: 'final', code: { text: 'x' } };
    const reader = () =>
      new Repository(db, { tenant: 't1', access: scopePolicy('t1', 'reader-app', 'system/Observation.rs'), fhirBase: 'http://x/fhir/R4', lenient: false, defaultCount: 20, maxCount: 100 });

    it('decides tenant-wide but keeps the caller identity, and says why', async () => {
      const caller = reader();
      await expect(caller.createResource(obs)).rejects.toThrow();
      const server = await caller.asServer({ reason: 'test follow-up', serverBuilt: true });
      const stored = await server.createResource(obs);
      expect(stored.id).toBeTruthy();
      expect(server.ctx.tenant).toBe('t1');
      expect(server.ctx.access.context).toBe(caller.ctx.access.context);
      expect(server.ctx.access.can('Observation', 'c')).toBe(true);
      expect(server.ctx.serverBuilt).toBe(true);
      expect(server.ctx.serverWork).toBe('test follow-up');
      // serverBuilt is asked for each time, never inherited.
      expect((await server.asServer({ reason: 'again' })).ctx.serverBuilt).toBeUndefined();
    });

    it('moves to another tenant only from the tenant-less root of a background loop', async () => {
      await expect(reader().asServer({ reason: 'elsewhere', tenant: 't2' })).rejects.toMatchObject({ outcome: { id: 'server-error' } });
      const root = Repository.forServer(db, { reason: 'test loop', tenant: '', fhirBase: 'http://x/fhir/R4', lenient: false, defaultCount: 20, maxCount: 100 });
      const inT2 = await root.asServer({ reason: 'test loop', tenant: 't2', serverBuilt: true });
      expect(inT2.ctx.tenant).toBe('t2');
      expect(inT2.ctx.access.context).toMatchObject({ tenant: 't2', clientId: undefined });
      expect((await inT2.createResource(obs)).id).toBeTruthy();
    });
  });
});

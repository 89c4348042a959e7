import type { Goal, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../../test/support/database.ts';
import { scopePolicy } from '../access/policy.ts';
import type { Database } from '../db/database.ts';
import { loadDefinitions } from '../kernel/definitions.ts';
import { Repository } from './repository.ts';

/**
 * Reads sent ahead in a transaction (Repository.readAhead, a create's write hooks' lookups) answer
 * the later read only while nothing of the types they read was written in between: a read after
 * such a write reads again and sees it.
 */
describe('reads sent ahead', () => {
  let db: Database;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    loadDefinitions();
    ({ db, drop } = await freshDatabase());
  });
  afterAll(async () => drop?.());

  const repo = () => new Repository(db, { tenant: 't1', access: scopePolicy('t1', 'app', 'system/*.cruds'), fhirBase: 'http://x/fhir/R4', lenient: false, defaultCount: 20, maxCount: 100 });
  const goals = { sql: `SELECT id FROM resource WHERE tenant = $1 AND type = 'Goal' AND NOT deleted ORDER BY id`, params: ['t1'] };

  it('answer the read that follows, unless a write of a type they read came in between', async () => {
    const p = await repo().createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Before' }] });
    const seen = await repo().withTransaction(async (tx) => {
      await tx.readAhead({ reads: [['Patient', p.id]], statements: [{ statement: goals, types: ['Goal'] }] });
      // Both read types are written after the read ahead: the reads must see the writes.
      await tx.updateResource<Patient>({ ...p, name: [{ family: 'After' }] });
      const goal = await tx.createResource<Goal>({ resourceType: 'Goal', lifecycleStatus: 'active', description: { text: 'g' }, subject: { reference: `Patient/${p.id}` } });
      const patient = await tx.readResource<Patient>('Patient', p.id);
      const ids = await tx.aggregateOver<{ id: string }>(['Goal'], goals.sql, goals.params);
      return { family: patient.name?.[0]?.family, goal: goal.id, ids: ids.map((r) => r.id) };
    });
    expect(seen.family).toBe('After');
    expect(seen.ids).toContain(seen.goal);
  });

  it('answer once, with what was read when they were sent', async () => {
    const p = await repo().createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'One' }] });
    const { first, second } = await repo().withTransaction(async (tx) => {
      await tx.readAhead({ reads: [['Patient', p.id]] });
      const first = await tx.readResource<Patient>('Patient', p.id);
      const second = await tx.readResource<Patient>('Patient', p.id);
      return { first, second };
    });
    expect(first).toEqual(second);
    expect(first.name?.[0]?.family).toBe('One');
    // Outside a transaction nothing is sent ahead, and the read is as always.
    await repo().readAhead({ reads: [['Patient', p.id]] });
    expect((await repo().readResource<Patient>('Patient', p.id)).id).toBe(p.id);
  });
});

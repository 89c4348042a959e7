import type { AuditEvent, Bundle, Communication, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Server, createServer } from '../../server/src/app.ts';
import type { Database } from '../../server/src/db/database.ts';
import { openDatabase } from '../../server/src/db/open.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { MIN, clinic, clinician, patient, phq9, riskTasks, search, submit, timers } from './risk-support.ts';

/**
 * The escalation ladder on the server's clock (RISK_POLL_MS=0: the test moves the clock and runs
 * the loop), and durable timers that fire once when several server processes share a database.
 * A file of its own: the loop fires every tenant's due timers, so nothing else may be waiting here.
 */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ RISK_POLL_MS: '0' });
}, 60_000);
afterAll(async () => {
  await s?.close();
});

describe('the escalation ladder', () => {
  test('backup on call, supervisor, clinic lead, then the clinic lead again; each step a version, a note, Communications and an audit record', async () => {
    const c = await clinic(s, 'ladder');
    const p = await patient(s, c);
    await submit(s, c.tenant, phq9(p, 2));
    const [task] = await riskTasks(s, c.tenant, p);
    expect(task.owner?.reference).toBe(`Practitioner/${c.rivera}`);

    // Not yet due: nothing fires.
    s.clock.advance(59 * MIN);
    expect(await s.server.loops.risk.runOnce()).toBe(0);

    const expected = [
      [c.shah, 'on-call-backup', c.rivera],
      [c.okoye, 'supervisor', c.shah],
      [c.okoye, 'clinic-lead', c.okoye],
      [c.okoye, 'clinic-lead', c.okoye],
    ] as const;
    for (const [i, [owner, rung, previous]] of expected.entries()) {
      s.clock.advance(2 * MIN + (i === 0 ? 0 : 60 * MIN));
      expect(await s.server.loops.risk.runOnce()).toBe(1);
      const current = (await (await s.fhir(`Task/${task.id}`, { token: await s.token('system/*.cruds', c.tenant) })).json()) as Task;
      expect(current.owner?.reference).toBe(`Practitioner/${owner}`);
      expect(current.businessStatus?.coding?.[0]?.code).toBe(rung);
      expect(current.status).toBe('requested');
      expect(current.note?.at(-1)?.text).toContain(`Escalation step ${i + 1}`);
      // The deadline renews with the same window.
      const renewed = new Date(current.restriction?.period?.end ?? '').getTime();
      expect(renewed - s.clock.now().getTime()).toBeGreaterThan(59 * MIN);
      expect(current.meta?.versionId).toBe(String(i + 2));
      const toOwner = await search<Communication>(s, c.tenant, `Communication?recipient=Practitioner/${owner}&category=http://bh-fhir.org/fhir/CodeSystem/communication-category|risk-escalation&_count=100`);
      expect(toOwner.length).toBeGreaterThan(0);
      if (previous !== owner) {
        const toPrevious = await search<Communication>(s, c.tenant, `Communication?recipient=Practitioner/${previous}&category=http://bh-fhir.org/fhir/CodeSystem/communication-category|risk-escalation&_count=100`);
        expect(toPrevious.length).toBeGreaterThan(0);
      }
    }
    const history = (await (await s.fhir(`Task/${task.id}/_history`, { token: await s.token('system/*.cruds', c.tenant) })).json()) as Bundle<Task>;
    expect(history.entry?.map((e) => e.resource?.owner?.reference)).toEqual([c.okoye, c.okoye, c.okoye, c.shah, c.rivera].map((x) => `Practitioner/${x}`));
    expect((await timers(s, c.tenant))[0]).toMatchObject({ task_id: task.id, step: 4 });

    // The escalations are audited as the server's own work.
    const audits = await search<AuditEvent>(s, c.tenant, `AuditEvent?entity=Task/${task.id}&_count=100`);
    const updates = audits.filter((a) => a.subtype?.some((x) => x.code === 'update'));
    expect(updates).toHaveLength(4);
    expect(updates.every((a) => a.agent.some((g) => g.requestor && g.who?.display === 'bh-fhir server (internal)'))).toBe(true);

    // Accepting stops the ladder: no timer, nothing fires however long nobody closes it.
    const okoye = await clinician(s, c, c.okoye, ['clinician', 'supervisor']);
    const current = (await (await s.fhir(`Task/${task.id}`, { token: okoye })).json()) as Task;
    const accepted = await s.fhir(`Task/${task.id}`, { method: 'PUT', token: okoye, json: { ...current, status: 'accepted' } });
    expect(accepted.status, await accepted.clone().text()).toBe(200);
    expect(await timers(s, c.tenant)).toHaveLength(0);
    s.clock.advance(24 * 60 * MIN);
    expect(await s.server.loops.risk.runOnce()).toBe(0);
  });

  test('with nobody on call the treating clinician owns the Task; without a rota the ladder still never leaves it unowned', async () => {
    const c = await clinic(s, 'no-rota', { rota: false });
    const p = await patient(s, c);
    await submit(s, c.tenant, phq9(p, 1));
    const [task] = await riskTasks(s, c.tenant, p);
    expect(task.owner?.reference).toBe(`Practitioner/${c.lee}`);
    s.clock.advance(61 * MIN);
    expect(await s.server.loops.risk.runOnce()).toBe(1);
    const after = (await (await s.fhir(`Task/${task.id}`, { token: await s.token('system/*.cruds', c.tenant) })).json()) as Task;
    expect(after.owner?.reference).toBe(`Practitioner/${c.lee}`);
    expect(after.note?.at(-1)?.text).toContain('Escalation step 4');
    expect((await timers(s, c.tenant))[0].step).toBe(4);
    // The treating clinician acknowledges it: the ladder stops.
    const lee = await clinician(s, c, c.lee);
    expect((await s.fhir(`Task/${task.id}`, { method: 'PUT', token: lee, json: { ...after, status: 'in-progress' } })).status).toBe(200);
    expect(await timers(s, c.tenant)).toHaveLength(0);
  });
});


describe('several server processes', () => {
  let second: Server;
  beforeAll(async () => {
    // A second server over its own connection pool to the same database (PostgreSQL); on PGlite,
    // which is one in-process connection, a second server over that same connection.
    let db: Database;
    if (s.db.kind === 'postgres') {
      const { rows } = await s.db.query<{ name: string }>('SELECT current_database() AS name');
      const url = new URL(process.env.DATABASE_URL as string);
      url.pathname = `/${rows[0].name}`;
      db = await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory', dbPoolSize: 4, secretKeys: process.env.SECRET_KEYS });
    } else {
      db = { ...s.db, close: async () => undefined };
    }
    second = await createServer(s.server.config, db, { clock: s.clock });
  }, 60_000);
  afterAll(async () => {
    await second?.close();
  });

  test('a due timer fires exactly once when both run the loop at the same moment', async () => {
    const c = await clinic(s, 'twins');
    const p = await patient(s, c);
    await submit(s, c.tenant, phq9(p, 1));
    const [task] = await riskTasks(s, c.tenant, p);
    s.clock.advance(61 * MIN);
    const fired = await Promise.all([s.server.loops.risk.runOnce(), second.loops.risk.runOnce(), second.loops.risk.runOnce(), s.server.loops.risk.runOnce()]);
    expect(fired.reduce((a, b) => a + b, 0)).toBe(1);
    const [current] = await riskTasks(s, c.tenant, p);
    expect(current).toMatchObject({ id: task.id, meta: { versionId: '2' }, owner: { reference: `Practitioner/${c.shah}` } });
    const notices = await search<Communication>(s, c.tenant, 'Communication?category=http://bh-fhir.org/fhir/CodeSystem/communication-category|risk-escalation');
    expect(notices.map((n) => n.recipient?.[0]?.reference).sort()).toEqual([`Practitioner/${c.rivera}`, `Practitioner/${c.shah}`].sort());
    expect(await timers(s, c.tenant)).toEqual([expect.objectContaining({ task_id: task.id, step: 1 })]);
  });
});

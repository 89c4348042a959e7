import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { auditAuthEvent } from '../../server/src/audit/auth-events.ts';
import { sealPending, verifyChain } from '../../server/src/audit/hash-chain.ts';
import { runCli } from '../../server/src/cli/run.ts';
import type { Database } from '../../server/src/db/database.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { auditEvents, waitForAudit } from './support.ts';

// AuditEvents are append-only (API and database refuse changes) and hash-chained per tenant, so a
// change made behind the server's back (a superuser disabling the trigger) is detected.
let s: TestServer;
let admin: string;
let anId: string;

beforeAll(async () => {
  s = await startTestServer();
  admin = await s.token('system/*.cruds');
  await s.fhir('Patient/p1', { method: 'PUT', token: admin, json: { resourceType: 'Patient', id: 'p1', name: [{ family: 'Chain' }] } });
  await s.fhir('Patient/p1', { token: admin });
  const [e] = await waitForAudit(s.db, (x) => x.subtype?.[0]?.code === 'read');
  anId = e.id as string;
});
afterAll(async () => {
  await s?.close();
});

async function sqlFails(sql: string, params: unknown[] = []): Promise<string> {
  try {
    await s.db.query(sql, params);
  } catch (err) {
    return (err as Error).message;
  }
  return 'succeeded';
}

describe('history of an AuditEvent (its one version is its current row)', () => {
  test('instance history, type history and vread answer it', async () => {
    const instance = await s.fhir(`AuditEvent/${anId}/_history`, { token: admin });
    expect(instance.status).toBe(200);
    const ib = (await instance.json()) as Bundle;
    expect(ib.entry?.map((e) => [e.resource?.id, e.response?.etag, e.request?.method])).toEqual([[anId, 'W/"1"', 'POST']]);
    const type = await s.fhir('AuditEvent/_history?_count=1000', { token: admin });
    expect(type.status).toBe(200);
    expect(((await type.json()) as Bundle).entry?.some((e) => e.resource?.id === anId)).toBe(true);
    const vread = await s.fhir(`AuditEvent/${anId}/_history/1`, { token: admin });
    expect(vread.status).toBe(200);
    expect(((await vread.json()) as AuditEvent).id).toBe(anId);
    expect((await s.fhir(`AuditEvent/${anId}/_history/2`, { token: admin })).status).toBe(404);
  });
});

describe('append-only', () => {
  test('the API refuses create, update, patch and delete of AuditEvent, even with system/*.cruds', async () => {
    const ae: AuditEvent = {
      resourceType: 'AuditEvent',
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
      recorded: '2026-01-01T00:00:00Z',
      agent: [{ requestor: true, who: { display: 'forger' } }],
      source: { observer: { display: 'forger' } },
    };
    const created = await s.fhir('AuditEvent', { token: admin, method: 'POST', json: ae });
    const updated = await s.fhir(`AuditEvent/${anId}`, { token: admin, method: 'PUT', json: { ...ae, id: anId } });
    const upserted = await s.fhir('AuditEvent/new-one', { token: admin, method: 'PUT', json: { ...ae, id: 'new-one' } });
    const patched = await s.fhir(`AuditEvent/${anId}`, {
      token: admin,
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/outcome', value: '0' }]),
    });
    const deleted = await s.fhir(`AuditEvent/${anId}`, { token: admin, method: 'DELETE' });
    for (const res of [created, updated, upserted, patched, deleted]) {
      expect([403, 405]).toContain(res.status);
      const body = (await res.json()) as { resourceType: string; issue: { code: string }[] };
      expect(body.resourceType).toBe('OperationOutcome');
    }
    const stored = await auditEvents(s.db);
    expect(stored.find((e) => e.id === anId)?.outcome).toBe('0');
    expect(stored.some((e) => e.id === 'new-one' || e.source?.observer?.display === 'forger')).toBe(false);
  });

  test('a transaction bundle cannot write an AuditEvent either', async () => {
    const res = await s.fhir('', {
      token: admin,
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: { resourceType: 'AuditEvent', type: { code: 'rest' }, recorded: '2026-01-01T00:00:00Z', agent: [{ requestor: true }], source: { observer: { display: 'forger' } } },
            request: { method: 'POST', url: 'AuditEvent' },
          },
        ],
      },
    });
    expect([403, 405]).toContain(res.status);
    expect((await auditEvents(s.db)).some((e) => e.source?.observer?.display === 'forger')).toBe(false);
  });

  test('the database refuses UPDATE and DELETE of AuditEvent rows and of the chain', async () => {
    const refused = /append-only/;
    expect(await sqlFails(`UPDATE audit_event SET content = '{}' WHERE id = $1`, [anId])).toMatch(refused);
    expect(await sqlFails(`DELETE FROM audit_event WHERE id = $1`, [anId])).toMatch(refused);
    expect(await sqlFails(`TRUNCATE audit_event`)).toMatch(refused);
    // An AuditEvent is stored once, in its own table: the record's tables take no AuditEvent copy.
    const copy = (table: string) =>
      sqlFails(
        `INSERT INTO ${table} (tenant, type, id, version, last_updated, deleted, ${table === 'resource' ? '' : 'method, '}content)
         SELECT tenant, type, id, version, last_updated, deleted, ${table === 'resource' ? '' : `'POST', `}content FROM audit_event WHERE id = $1`,
        [anId]
      );
    expect(await copy('resource')).toMatch(/resource_not_audit_event/);
    expect(await copy('resource_history')).toMatch(/resource_history_not_audit_event/);
    await sealPending(s.db);
    expect(await sqlFails(`UPDATE audit_chain SET hash = 'x' WHERE id = $1`, [anId])).toMatch(refused);
    expect(await sqlFails(`DELETE FROM audit_chain`)).toMatch(refused);
    expect(await sqlFails(`TRUNCATE audit_chain`)).toMatch(refused);
    // Other resources stay as changeable as ever.
    expect(await sqlFails(`UPDATE resource SET last_updated = last_updated WHERE type = 'Patient'`)).toBe('succeeded');
  });
});

async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const db: Database = { ...s.db, query: s.db.query.bind(s.db), transaction: s.db.transaction.bind(s.db), close: async () => undefined };
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => out.push(l), openDb: async () => db });
  return { code, out: out.join('\n') };
}

describe('hash chain', () => {
  test('auth events join the chain; the chain verifies; tampering (triggers disabled) is found at its link', async () => {
    await auditAuthEvent(s.db, { tenant: 'test', action: 'login', outcome: 'failure', clientId: 'portal', ip: '10.1.2.3', detail: 'unknown user' });
    await auditAuthEvent(s.db, { tenant: 'test', action: 'token-issued', outcome: 'success', userId: 'u1', fhirUser: 'Practitioner/x', clientId: 'portal', detail: 'openid user/*.rs' });
    // Concurrent writes and reads: each writer takes a sequence number, none waits for the chain.
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        i % 2 ? s.fhir('Patient/p1', { token: admin }) : s.fhir('Observation', { token: admin, method: 'POST', json: { resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: 'Patient/p1' } } })
      )
    );
    await waitForAudit(s.db, (x) => x.subtype?.[0]?.code === 'read' && x.id !== anId);
    await new Promise((r) => setTimeout(r, 200));
    await sealPending(s.db);
    const good = await verifyChain(s.db, 'test');
    expect(good.ok).toBe(true);
    expect(good.unsealed).toBe(0);
    expect(good.checked).toBe((await auditEvents(s.db)).length);
    expect(good.head).toMatch(/^[0-9a-f]{64}$/);
    expect((await cli('audit', 'verify', '--tenant', 'test')).code).toBe(0);

    // A superuser backdates a sealed AuditEvent behind the server's back.
    const { rows } = await s.db.query<{ pos: string; id: string }>(`SELECT pos, id FROM audit_chain WHERE tenant = 'test' ORDER BY pos LIMIT 1 OFFSET 2`);
    const victim = rows[0];
    await s.db.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only');
    await s.db.query(`UPDATE audit_event SET content = replace(content, '"recorded":"2', '"recorded":"1') WHERE tenant = 'test' AND id = $1`, [victim.id]);
    await s.db.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only');
    const bad = await verifyChain(s.db, 'test');
    expect(bad.ok).toBe(false);
    expect(bad.broken?.pos).toBe(Number(victim.pos));
    expect(bad.broken?.id).toBe(victim.id);
    const c = await cli('audit', 'verify', '--tenant', 'test');
    expect(c.code).toBe(1);
    expect(c.out).toContain(`BROKEN at link ${victim.pos} (AuditEvent/${victim.id})`);

    expect(bad.broken?.reason).toMatch(/hash mismatch/);

    // Removing a link is caught too.
    await s.db.query('ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_append_only');
    const { rows: last } = await s.db.query<{ pos: string }>(`SELECT max(pos) AS pos FROM audit_chain WHERE tenant = 'test'`);
    await s.db.query(`DELETE FROM audit_chain WHERE tenant = 'test' AND pos = $1`, [Number(victim.pos) - 1]);
    await s.db.query('ALTER TABLE audit_chain ENABLE TRIGGER audit_chain_append_only');
    expect((await verifyChain(s.db, 'test')).broken).toMatchObject({ pos: Number(victim.pos) - 1, reason: expect.stringMatching(/missing/) });
    expect(Number(last[0].pos)).toBeGreaterThan(Number(victim.pos));
  });

  test('a tenant chain is separate: another tenant verifies on its own', async () => {
    const other = await s.token('system/*.cruds', 'other');
    await s.fhir('Patient?_count=1', { token: other });
    await waitForAudit(s.db, () => true, 'other');
    await sealPending(s.db);
    expect(await verifyChain(s.db, 'other')).toMatchObject({ ok: true, unsealed: 0 });
    expect((await verifyChain(s.db, 'other')).checked).toBeGreaterThan(0);
  });
});

describe('auth events', () => {
  test('login failure and token issue are AuditEvents with DICOM / IHE codes, no secrets', async () => {
    const all = await auditEvents(s.db);
    const login = all.find((e) => e.subtype?.some((c) => c.code === '110122'));
    expect(login).toMatchObject({
      type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110114' },
      action: 'E',
      outcome: '4',
      outcomeDesc: 'login failed: unknown user',
    });
    // A failure against an unknown username names nobody (what was typed may be a password): the client and the address only.
    expect(login?.agent).toHaveLength(1);
    expect(login?.agent?.[0]).toMatchObject({ who: { identifier: { value: 'portal' } }, requestor: true, network: { address: '10.1.2.3', type: '2' } });
    const token = all.find((e) => e.subtype?.some((c) => c.code === 'ITI-71'));
    expect(token).toMatchObject({ outcome: '0', action: 'C' });
    expect(token?.agent?.[0]?.who?.reference).toBe('Practitioner/x');
    expect(token?.entity?.[0]?.detail?.[0]).toEqual({ type: 'scope', valueString: 'openid user/*.rs' });
    // Searchable by type like any AuditEvent.
    const res = await s.fhir('AuditEvent?type=http://dicom.nema.org/resources/ontology/DCM|110114&_count=50', { token: admin });
    const found = ((await res.json()) as { entry?: unknown[] }).entry ?? [];
    expect(found.length).toBe(2);
  });
});

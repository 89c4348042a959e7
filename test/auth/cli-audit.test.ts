import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../../server/src/cli/run.ts';
import type { Database } from '../../server/src/db/database.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

// Admin actions taken with the CLI are AuditEvents of the tenant they touch, like the same
// actions over HTTP (issue 10, item 12), found by the FHIR API's AuditEvent search.

const SUBTYPE = 'http://bh-fhir.org/fhir/CodeSystem/audit-event-subtype';
const TENANT = 'cli-audited';
let s: TestServer;

async function cli(...argv: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const db: Database = { ...s.db, query: s.db.query.bind(s.db), transaction: s.db.transaction.bind(s.db), close: async () => undefined };
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => out.push(l), openDb: async () => db });
  return { code, out };
}

async function audits(subtype: string): Promise<AuditEvent[]> {
  const token = await s.token('system/AuditEvent.rs', TENANT);
  const res = await s.fhir(`AuditEvent?subtype=${SUBTYPE}|${subtype}&_count=50`, { token });
  expect(res.status).toBe(200);
  return (((await res.json()) as Bundle<AuditEvent>).entry ?? []).map((e) => e.resource as AuditEvent);
}

const byCli = (e: AuditEvent) => e.agent?.some((a) => a.requestor && a.who?.identifier?.value === 'admin-cli');

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

describe('admin CLI actions are audited', () => {
  let userId: string;

  test('tenant create', async () => {
    expect((await cli('tenant', 'create', TENANT, '--name', 'Audited clinic')).code).toBe(0);
    const [e] = await audits('tenant-created');
    expect(e).toMatchObject({ action: 'C', outcome: '0', type: { code: '110113' } });
    expect(byCli(e)).toBe(true);
  });

  test('user create, unlock and reset-mfa name the user acted on', async () => {
    const created = await cli('user', 'create', '--tenant', TENANT, '--username', 'new.clinician', '--password', 'a long enough password', '--role', 'clinician', '--fhir-user', 'Practitioner/p-1');
    expect(created.code).toBe(0);
    userId = /id (\S+)$/.exec(created.out[0])![1];
    expect((await cli('user', 'unlock', '--tenant', TENANT, '--username', 'new.clinician')).code).toBe(0);
    expect((await cli('user', 'reset-mfa', '--tenant', TENANT, '--username', 'new.clinician')).code).toBe(0);
    for (const [subtype, action] of [['user-created', 'C'], ['user-unlocked', 'U'], ['mfa-reset', 'U']] as const) {
      const found = await audits(subtype);
      expect(found, subtype).toHaveLength(1);
      expect(found[0].action).toBe(action);
      expect(byCli(found[0])).toBe(true);
      expect(found[0].entity?.find((x) => x.what)?.what).toEqual({ reference: 'Practitioner/p-1', identifier: { system: 'http://bh-fhir.org/fhir/sid/user-id', value: userId } });
      expect(JSON.stringify(found[0])).not.toContain('a long enough password');
    }
  });

  test('client register (backend and app)', async () => {
    const backend = await cli('client', 'register', '--tenant', TENANT, '--name', 'Feed', '--jwks-url', 'https://feed.example/jwks.json', '--scope', 'system/*.rs');
    expect(backend.code).toBe(0);
    const app = await cli('client', 'register', '--app', '--tenant', TENANT, '--name', 'App', '--redirect-uri', 'https://app.example/cb', '--auth-method', 'none', '--scope', 'launch/patient patient/*.rs');
    expect(app.code).toBe(0);
    const registered = await audits('client-registered');
    const ids = registered.map((e) => e.agent?.find((a) => a.who?.identifier?.system === 'http://bh-fhir.org/fhir/sid/oauth-client-id')?.who?.identifier?.value);
    expect(ids).toEqual(expect.arrayContaining([backend.out.at(-1), app.out.at(-1)]));
  });

  test('keys rotate is recorded in every tenant', async () => {
    expect((await cli('keys', 'rotate')).code).toBe(0);
    const [e] = await audits('keys-rotated');
    expect(e).toMatchObject({ action: 'U', outcome: '0' });
    expect(byCli(e)).toBe(true);
    expect(e.entity?.[0]?.name).toMatch(/^added /);
  });
});

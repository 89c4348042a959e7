import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../../server/src/cli/run.ts';
import { requestToken } from '../../server/src/cli/backend-key.ts';
import type { Database } from '../../server/src/db/database.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

// Issue 13 item 6: backend clients registered with their organization and allowed purposes of
// use; a token asks for one purpose with the scope purpose/<CODE>, carries it (and the
// organization) into the access policy, introspection and every AuditEvent; a purpose the
// registration does not allow is refused at the token endpoint (invalid_scope) and, when the
// registration changed after the token was issued, at the FHIR API (403).

const TENANT = 'purpose-clinic';
const V3_ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const PAYER = 'Organization/payer-1';
let s: TestServer;
let dir: string;
let keyFile: string;
let jwksFile: string;

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const db: Database = { ...s.db, query: s.db.query.bind(s.db), transaction: s.db.transaction.bind(s.db), close: async () => undefined };
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l), openDb: async () => db });
  return { code, out, err };
}

async function register(...extra: string[]): Promise<string> {
  const r = await cli('client', 'register', '--tenant', TENANT, '--name', 'payer system', '--jwks-file', jwksFile, '--scope', 'system/*.rs', ...extra);
  expect(r.code, r.err.join('\n')).toBe(0);
  return r.out[0];
}

async function tokenFor(clientId: string, scope: string) {
  return requestToken({ baseUrl: s.baseUrl, clientId, key: { jwk: JSON.parse(readFileSync(keyFile, 'utf8')) }, scope });
}

async function accessToken(clientId: string, scope: string): Promise<string> {
  const r = await tokenFor(clientId, scope);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.access_token as string;
}

/** Reads of the test patient by `clientId`, as audited; the trail is written in batches, so wait for them. */
async function readsBy(clientId: string): Promise<AuditEvent[]> {
  const reader = await s.token('system/AuditEvent.rs', TENANT);
  for (let i = 0; ; i++) {
    const res = await s.fhir(`AuditEvent?entity=Patient/${patientId}&subtype=read&_count=100`, { token: reader });
    expect(res.status).toBe(200);
    const events = (((await res.json()) as Bundle<AuditEvent>).entry ?? [])
      .map((e) => e.resource as AuditEvent)
      .filter((e) => e.agent?.some((a) => a.who?.identifier?.value === clientId));
    if (events.length > 0 || i > 40) return events;
    await new Promise((r) => setTimeout(r, 250));
  }
}

let patientId: string;

beforeAll(async () => {
  s = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'purpose-'));
  keyFile = join(dir, 'client.jwk');
  jwksFile = join(dir, 'client.jwks');
  expect((await cli('tenant', 'create', TENANT)).code).toBe(0);
  const kg = await cli('client', 'keygen', '--out', keyFile);
  expect(kg.code).toBe(0);
  writeFileSync(jwksFile, kg.out.join('\n'));
  const admin = await s.token('system/*.cruds', TENANT);
  const res = await s.fhir('Patient', { token: admin, method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Payee' }] } });
  expect(res.status).toBe(201);
  patientId = ((await res.json()) as { id: string }).id;
}, 60_000);

afterAll(async () => {
  await s?.close();
});

describe('registration', () => {
  test('client register stores organization and purposes; client list shows them', async () => {
    const id = await register('--organization', PAYER, '--purposes', 'HPAYMT, HOPERAT');
    const list = await cli('client', 'list', '--tenant', TENANT);
    expect(list.code).toBe(0);
    const header = list.out[0].split('\n')[0];
    expect(header).toMatch(/ORGANIZATION\s+PURPOSES/);
    const row = list.out[0].split('\n').find((l) => l.startsWith(id));
    expect(row).toMatch(/Organization\/payer-1\s+HPAYMT,HOPERAT\s/);
  });

  test('unknown purpose codes, purposes without an organization and a malformed organization are refused', async () => {
    const bad = await cli('client', 'register', '--tenant', TENANT, '--name', 'x', '--jwks-file', jwksFile, '--organization', PAYER, '--purposes', 'HPAYMT,MARKETING');
    expect(bad.code).toBe(1);
    expect(bad.err.join('\n')).toMatch(/Purpose "MARKETING".*HPAYMT/);
    const noOrg = await cli('client', 'register', '--tenant', TENANT, '--name', 'x', '--jwks-file', jwksFile, '--purposes', 'HPAYMT');
    expect(noOrg.code).toBe(1);
    expect(noOrg.err.join('\n')).toMatch(/needs its organization/);
    const badOrg = await cli('client', 'register', '--tenant', TENANT, '--name', 'x', '--jwks-file', jwksFile, '--organization', 'Patient/1');
    expect(badOrg.code).toBe(1);
    expect(badOrg.err.join('\n')).toMatch(/Organization\/<id>/);
  });

  test('without the new flags a client has no organization and no purpose (as before)', async () => {
    const id = await register();
    const row = (await cli('client', 'list', '--tenant', TENANT)).out[0].split('\n').find((l) => l.startsWith(id));
    expect(row).toMatch(/system\/\*\.rs\s+-\s+-\s+enabled/);
  });
});

describe('tokens', () => {
  let payer: string;
  beforeAll(async () => {
    payer = await register('--organization', PAYER, '--purposes', 'HPAYMT,HOPERAT');
  });

  test('purpose/HPAYMT: granted, in the token response and introspection; reads are audited with purpose and organization', async () => {
    const r = await tokenFor(payer, 'system/Patient.rs purpose/HPAYMT');
    expect(r.status).toBe(200);
    expect(String(r.body.scope).split(' ').sort()).toEqual(['purpose/HPAYMT', 'system/Patient.rs']);
    const token = r.body.access_token as string;

    const intro = await fetch(`${s.baseUrl}/auth/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(intro.status).toBe(200);
    expect(await intro.json()).toMatchObject({ active: true, client_id: payer, purpose_of_use: 'HPAYMT', organization: PAYER });

    expect((await s.fhir(`Patient/${patientId}`, { token })).status).toBe(200);
    const [event] = await readsBy(payer);
    expect(event.purposeOfEvent?.[0]?.coding?.[0]).toMatchObject({ system: V3_ACT_REASON, code: 'HPAYMT' });
    const client = event.agent?.find((a) => a.who?.identifier?.value === payer);
    expect(client?.requestor).toBe(true);
    expect(client?.purposeOfUse?.[0]?.coding?.[0]?.code).toBe('HPAYMT');
    const recipient = event.agent?.find((a) => a.who?.reference === PAYER);
    expect(recipient?.type?.coding?.[0]?.code).toBe('IRCP');
    expect(recipient?.purposeOfUse?.[0]?.coding?.[0]?.code).toBe('HPAYMT');
  });

  test('a purpose the client is not registered for, or two purposes, is invalid_scope (400)', async () => {
    const research = await tokenFor(payer, 'system/Patient.rs purpose/HRESCH');
    expect(research.status).toBe(400);
    expect(research.body.error).toBe('invalid_scope');
    expect(String(research.body.error_description)).toMatch(/HRESCH.*purpose\/HPAYMT purpose\/HOPERAT/);
    const two = await tokenFor(payer, 'system/Patient.rs purpose/HPAYMT purpose/HOPERAT');
    expect(two.status).toBe(400);
    expect(two.body.error).toBe('invalid_scope');
    // A client registered before purposes existed has none: asking for one is refused too.
    const plain = await register();
    const treat = await tokenFor(plain, 'system/Patient.rs purpose/TREAT');
    expect(treat.status).toBe(400);
    expect(treat.body.error).toBe('invalid_scope');
  });

  test('no purpose asked: a token as today, audited without a purpose (with the recipient when registered)', async () => {
    const plain = await register();
    const r = await tokenFor(plain, 'system/Patient.rs');
    expect(r.status).toBe(200);
    expect(r.body.scope).toBe('system/Patient.rs');
    expect((await s.fhir(`Patient/${patientId}`, { token: r.body.access_token as string })).status).toBe(200);
    const [event] = await readsBy(plain);
    expect(event.purposeOfEvent).toBeUndefined();
    expect(event.agent?.some((a) => a.who?.reference?.startsWith('Organization/'))).toBe(false);

    const recipient = await register('--organization', 'Organization/registry-9');
    const t = await tokenFor(recipient, 'system/Patient.rs');
    expect(t.body.scope).toBe('system/Patient.rs');
    expect((await s.fhir(`Patient/${patientId}`, { token: t.body.access_token as string })).status).toBe(200);
    const [seen] = await readsBy(recipient);
    expect(seen.purposeOfEvent).toBeUndefined();
    expect(seen.agent?.find((a) => a.who?.reference === 'Organization/registry-9')?.purposeOfUse).toBeUndefined();
  });

  test('a token whose purpose the registration no longer allows gets 403 at the FHIR API', async () => {
    const operations = await accessToken(payer, 'system/Patient.rs purpose/HOPERAT');
    const payment = await accessToken(payer, 'system/Patient.rs purpose/HPAYMT');
    const changed = await cli('client', 'purposes', '--id', payer, '--organization', PAYER, '--purposes', 'HPAYMT');
    expect(changed.code, changed.err.join('\n')).toBe(0);
    const refused = await s.fhir(`Patient/${patientId}`, { token: operations });
    expect(refused.status).toBe(403);
    const outcome = (await refused.json()) as { issue: { details?: { text?: string } }[] };
    expect(outcome.issue[0].details?.text).toMatch(/no longer registered for purpose of use "HOPERAT"/);
    expect((await s.fhir(`Patient/${patientId}`, { token: payment })).status).toBe(200);
    expect((await tokenFor(payer, 'system/Patient.rs purpose/HOPERAT')).body.error).toBe('invalid_scope');

    // A new recipient organization: tokens issued for the old one are refused as well.
    const before = await accessToken(payer, 'system/Patient.rs purpose/HPAYMT');
    expect((await cli('client', 'purposes', '--id', payer, '--organization', 'Organization/payer-2', '--purposes', 'HPAYMT')).code).toBe(0);
    expect((await s.fhir(`Patient/${patientId}`, { token: before })).status).toBe(403);
  });

  test('a purpose opens no restricted records to a machine: purpose/TREAT reads what the same token without it reads', async () => {
    const treating = await register('--organization', 'Organization/clinic-lab', '--purposes', 'TREAT');
    const admin = await s.token('system/*.cruds', TENANT);
    const created = await s.fhir('Observation', {
      token: admin,
      method: 'POST',
      json: {
        resourceType: 'Observation',
        meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
        status: 'final',
        code: { text: 'restricted' },
        subject: { reference: `Patient/${patientId}` },
      },
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    for (const scope of ['system/*.rs purpose/TREAT', 'system/*.rs']) {
      const token = await accessToken(treating, scope);
      const search = (await (await s.fhir(`Observation?_id=${id}`, { token })).json()) as Bundle;
      expect(search.entry ?? [], scope).toHaveLength(0);
      expect((await s.fhir(`Observation/${id}`, { token })).status, scope).not.toBe(200);
    }
  });
});

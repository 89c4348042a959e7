import type { AuditEvent, Bundle, Observation, QuestionnaireResponse } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { log } from '../../server/src/log.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { responseFor } from '../clinical/instruments-fixtures.ts';
import { auditEvents, patientsOf, queryOf, subtypeOf, waitForAudit, whats } from './support.ts';

// Every FHIR interaction leaves one R4 AuditEvent (type rest, subtype from restful-interaction)
// naming who (person + client app), what, when, from where, the outcome and the purpose of use.
let s: TestServer;
let person: string;
let admin: string;
let clientId: string;
const PRACTITIONER = 'Practitioner/dr-a';

beforeAll(async () => {
  s = await startTestServer();
  await s.fhir('Patient/pa', { method: 'PUT', json: { resourceType: 'Patient', id: 'pa', name: [{ family: 'Smith' }] } });
  await s.fhir('Patient/pb', { method: 'PUT', json: { resourceType: 'Patient', id: 'pb', name: [{ family: 'Jones' }] } });
  await s.fhir('Patient/pc', { method: 'PUT', json: { resourceType: 'Patient', id: 'pc', name: [{ family: 'Smithers' }] } });
  for (const [id, p] of [['oa', 'pa'], ['ob', 'pb']]) {
    await s.fhir(`Observation/${id}`, {
      method: 'PUT',
      json: { resourceType: 'Observation', id, status: 'final', code: { text: 'phq-9' }, subject: { reference: `Patient/${p}` } },
    });
  }
  person = await s.personToken({ scope: 'user/*.cruds', fhirUser: PRACTITIONER, roles: ['clinician'], purposeOfUse: 'TREAT', clientId: 'notes-app' });
  admin = await s.token('system/*.cruds');
  const [first] = await auditEvents(s.db);
  clientId = first.agent?.[0]?.who?.identifier?.value as string;
});
afterAll(async () => {
  await s?.close();
});

const isRest = (sub: string) => (e: AuditEvent) => e.type?.code === 'rest' && subtypeOf(e) === sub;
const byPerson = (e: AuditEvent) => e.agent?.[0]?.who?.reference === PRACTITIONER;
const byClient = (e: AuditEvent) => e.agent?.[0]?.who?.identifier?.value === clientId;

/** A backend client acting for itself: one agent, the requestor, identified by client_id. */
function expectClientAgent(e: AuditEvent): void {
  expect(e.agent).toHaveLength(1);
  const [app] = e.agent ?? [];
  expect(app.who?.identifier).toEqual({ system: 'http://bh-fhir.org/fhir/sid/oauth-client-id', value: clientId });
  expect(app.requestor).toBe(true);
  expect(app.type?.coding?.[0]).toMatchObject({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110153' });
  expect(app.network?.address).toMatch(/127\.0\.0\.1/);
  expect(e.source?.observer?.identifier?.value).toBe(s.fhirBase);
  expect(e.type).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' });
  expect(e.subtype?.[0]?.system).toBe('http://hl7.org/fhir/restful-interaction');
  expect(Date.parse(e.recorded as string)).toBeGreaterThan(Date.now() - 60_000);
}

function expectPersonAgents(e: AuditEvent, author = false): void {
  const [who, app] = e.agent ?? [];
  expect(who.who?.reference).toBe(PRACTITIONER);
  expect(who.requestor).toBe(true);
  expect(who.type?.coding?.[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: author ? 'AUT' : 'IRCP' });
  expect(who.role?.[0]?.coding?.[0]?.code).toBe('clinician');
  expect(who.purposeOfUse?.[0]?.coding?.[0]).toEqual({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' });
  expect(who.network?.address).toMatch(/127\.0\.0\.1/);
  expect(app.who?.identifier?.value).toBe('notes-app');
  expect(app.requestor).toBe(false);
  expect(e.purposeOfEvent?.[0]?.coding?.[0]?.code).toBe('TREAT');
  expect(e.source?.observer?.identifier?.value).toBe(s.fhirBase);
  expect(e.type).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' });
  expect(e.subtype?.[0]?.system).toBe('http://hl7.org/fhir/restful-interaction');
  expect(Date.parse(e.recorded as string)).toBeGreaterThan(Date.now() - 60_000);
}

describe('reads', () => {
  test('read: action R, outcome 0, the resource version and its patient', async () => {
    expect((await s.fhir('Observation/oa', { token: admin })).status).toBe(200);
    const [e] = await waitForAudit(s.db, (x) => isRest('read')(x) && byClient(x) && whats(x).includes('Observation/oa/_history/1'));
    expect(e).toBeDefined();
    expectClientAgent(e);
    expect(e.action).toBe('R');
    expect(e.outcome).toBe('0');
    expect(patientsOf(e)).toEqual(['Patient/pa']);
    const pe = e.entity?.find((x) => x.role?.code === '1');
    expect(pe?.role?.system).toBe('http://terminology.hl7.org/CodeSystem/object-role');
  });

  test('vread', async () => {
    expect((await s.fhir('Patient/pb/_history/1', { token: admin })).status).toBe(200);
    const [e] = await waitForAudit(s.db, (x) => isRest('vread')(x) && byClient(x));
    expect(e.action).toBe('R');
    expect(whats(e)).toContain('Patient/pb/_history/1');
    expect(patientsOf(e)).toEqual(['Patient/pb']);
  });

  test('search-type: the query (base64) and one entity per patient whose data was returned', async () => {
    const res = await s.fhir('Patient?name=smith', { token: admin });
    const bundle = (await res.json()) as Bundle;
    expect(bundle.entry?.map((x) => x.resource?.id).sort()).toEqual(['pa', 'pc']);
    const [e] = await waitForAudit(s.db, (x) => isRest('search-type')(x) && byClient(x) && queryOf(x) === 'name=smith');
    expectClientAgent(e);
    expect(e.action).toBe('E');
    expect(e.outcome).toBe('0');
    expect(patientsOf(e)).toEqual(['Patient/pa', 'Patient/pc']);
    expect(e.entity?.find((x) => x.query)?.role?.code).toBe('24');
  });

  test('search-type over a patient-compartment type names the subjects', async () => {
    await s.fhir('Observation?status=final', { token: admin });
    const [e] = await waitForAudit(s.db, (x) => isRest('search-type')(x) && queryOf(x) === 'status=final');
    expect(patientsOf(e)).toEqual(['Patient/pa', 'Patient/pb']);
  });

  test('search-system', async () => {
    expect((await s.fhir('?_type=Patient&name=smith', { token: admin })).status).toBe(200);
    const [e] = await waitForAudit(s.db, (x) => isRest('search-system')(x) && byClient(x));
    expect(e.action).toBe('E');
    expect(queryOf(e)).toBe('_type=Patient&name=smith');
    expect(patientsOf(e)).toEqual(['Patient/pa', 'Patient/pc']);
  });

  test('POST _search: the form parameters are the query', async () => {
    const res = await s.fhir('Patient/_search', {
      token: admin,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=jones',
    });
    expect(res.status).toBe(200);
    const [e] = await waitForAudit(s.db, (x) => isRest('search-type')(x) && queryOf(x) === 'name=jones');
    expect(patientsOf(e)).toEqual(['Patient/pb']);
  });

  test('history-instance, history-type, history-system', async () => {
    await s.fhir('Patient/pa/_history', { token: admin });
    await s.fhir('Observation/_history', { token: admin });
    await s.fhir('_history?_count=5', { token: admin });
    const [hi] = await waitForAudit(s.db, (x) => isRest('history-instance')(x) && byClient(x));
    expect(whats(hi)).toContain('Patient/pa');
    expect(patientsOf(hi)).toEqual(['Patient/pa']);
    const [ht] = await waitForAudit(s.db, (x) => isRest('history-type')(x) && byClient(x));
    expect(patientsOf(ht)).toEqual(['Patient/pa', 'Patient/pb']);
    const [hs] = await waitForAudit(s.db, (x) => isRest('history-system')(x) && byClient(x));
    expect(hs.action).toBe('R');
    expect(queryOf(hs)).toBe('_count=5');
  });

  test('operation: Patient/$everything names the operation and the patient', async () => {
    expect((await s.fhir('Patient/pa/$everything', { token: admin })).status).toBe(200);
    const [e] = await waitForAudit(s.db, (x) => isRest('operation')(x) && byClient(x) && x.entity?.some((y) => y.description === '$everything') === true);
    expect(e.action).toBe('E');
    expect(whats(e)).toContain('Patient/pa');
    expect(patientsOf(e)).toEqual(['Patient/pa']);
  });
});

describe('writes: audited in the write transaction, visible as soon as the response is', () => {
  test('create, update, patch, delete', async () => {
    const created = await s.fhir('Observation', {
      token: admin,
      method: 'POST',
      json: { resourceType: 'Observation', status: 'preliminary', code: { text: 'gad-7' }, subject: { reference: 'Patient/pc' } },
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    const updated = await s.fhir(`Observation/${id}`, {
      token: admin,
      method: 'PUT',
      json: { resourceType: 'Observation', id, status: 'final', code: { text: 'gad-7' }, subject: { reference: 'Patient/pc' } },
    });
    expect(updated.status).toBe(200);
    const patched = await s.fhir(`Observation/${id}`, {
      token: admin,
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/status', value: 'amended' }]),
    });
    expect(patched.status).toBe(200);
    expect((await s.fhir(`Observation/${id}`, { token: admin, method: 'DELETE' })).status).toBe(200);

    // No waiting: the AuditEvents committed with the writes.
    const mine = (await auditEvents(s.db)).filter((e) => byClient(e) && whats(e).some((w) => w.startsWith(`Observation/${id}`)));
    const got = mine.filter((e) => ['create', 'update', 'patch', 'delete'].includes(subtypeOf(e) as string));
    expect(got.map((e) => [subtypeOf(e), e.action, e.outcome, whats(e)[0]])).toEqual([
      ['create', 'C', '0', `Observation/${id}/_history/1`],
      ['update', 'U', '0', `Observation/${id}/_history/2`],
      ['patch', 'U', '0', `Observation/${id}/_history/3`],
      ['delete', 'D', '0', `Observation/${id}`],
    ]);
    for (const e of got) {
      expectClientAgent(e);
      expect(patientsOf(e)).toEqual(['Patient/pc']);
    }
  });

  // A transaction is one interaction (R4 AuditEvent models one event per interaction): one
  // AuditEvent of subtype transaction, stored in the bundle's transaction, names every resource
  // written (lifecycle create/update/delete) and every patient — no longer one event per entry.
  test('a transaction: one AuditEvent for the bundle naming every write and patient, in its transaction', async () => {
    const res = await s.fhir('', {
      token: admin,
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:7c1e8a52-0000-4000-8000-000000000001', resource: { resourceType: 'Patient', name: [{ family: 'Tx' }] }, request: { method: 'POST', url: 'Patient' } },
          {
            resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:7c1e8a52-0000-4000-8000-000000000001' } },
            request: { method: 'POST', url: 'Observation' },
          },
        ],
      },
    });
    expect(res.status).toBe(200);
    const out = (await res.json()) as Bundle;
    const pid = out.entry?.[0]?.response?.location?.split('/')[1];
    // Visible as soon as the response is (written in the bundle's transaction, not buffered).
    const all = await auditEvents(s.db);
    expect(all.filter((e) => isRest('create')(e) && patientsOf(e).includes(`Patient/${pid}`))).toHaveLength(0);
    const txs = all.filter((e) => isRest('transaction')(e) && patientsOf(e).includes(`Patient/${pid}`));
    expect(txs).toHaveLength(1);
    const [t] = txs;
    expect(byClient(t)).toBe(true);
    expect(t.outcome).toBe('0');
    expect(whats(t).filter((w) => !w.startsWith('Patient/') || w.includes('/_history/')).map((w) => w.split('/')[0]).sort()).toEqual(['Observation', 'Patient']);
    expect(t.entity?.filter((e) => e.lifecycle?.code === '1')).toHaveLength(2);
  });

  // The server's own follow-up writes (scores as Observations, derived in the response's
  // transaction) belong to the client's one interaction: one AuditEvent names the response first,
  // then every Observation, each with lifecycle create, and the patient — not one event per resource.
  test('a scored response: one create AuditEvent naming the response and every Observation derived from it', async () => {
    const res = await s.fhir('QuestionnaireResponse', { token: admin, method: 'POST', json: responseFor('gad-7', [1, 1, 0, 0, 2, 0, 1], { subject: { reference: 'Patient/pb' } }) });
    expect(res.status).toBe(201);
    const qr = (await res.json()) as QuestionnaireResponse;
    const scores = (await (await s.fhir(`Observation?derived-from=QuestionnaireResponse/${qr.id}&_count=100`, { token: admin })).json()) as Bundle<Observation>;
    const observations = (scores.entry ?? []).map((e) => `Observation/${e.resource?.id}/_history/1`);
    expect(observations.length).toBeGreaterThan(1);
    const mine = (await auditEvents(s.db)).filter((e) => whats(e).some((w) => w.startsWith(`QuestionnaireResponse/${qr.id}`) || observations.includes(w)));
    expect(mine).toHaveLength(1);
    const [e] = mine;
    expect([subtypeOf(e), e.action, e.outcome]).toEqual(['create', 'C', '0']);
    expectClientAgent(e);
    const named = whats(e).filter((w) => !w.startsWith('Patient/'));
    expect(named[0]).toBe(`QuestionnaireResponse/${qr.id}/_history/1`);
    expect(named.slice(1).sort()).toEqual([...observations].sort());
    expect(e.entity?.filter((x) => x.lifecycle?.code === '1')).toHaveLength(1 + observations.length);
    expect(patientsOf(e)).toEqual(['Patient/pb']);
  });

  test('a failed transaction leaves no AuditEvent of success, only its own failure (outcome 4)', async () => {
    const before = (await auditEvents(s.db)).filter(isRest('create')).length;
    const res = await s.fhir('', {
      token: admin,
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: 'Rolled back' }] }, request: { method: 'POST', url: 'Patient' } },
          // A stale If-Match fails the second entry after the first was written: all rolls back.
          {
            resource: { resourceType: 'Observation', id: 'oa', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/pa' } },
            request: { method: 'PUT', url: 'Observation/oa', ifMatch: 'W/"99"' },
          },
        ],
      },
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    const [t] = await waitForAudit(s.db, (x) => isRest('transaction')(x) && x.outcome === '4');
    expect(t.outcomeDesc).toMatch(/^HTTP 4\d\d$/);
    expect((await auditEvents(s.db)).filter(isRest('create')).length).toBe(before);
    expect((await auditEvents(s.db)).filter((e) => isRest('update')(e) && whats(e).some((w) => w.startsWith('Observation/oa')))).toHaveLength(0);
  });
});

describe('a person: who, role, purpose of use, the client app, where from', () => {
  test('the person is the requestor (fhirUser, roles, purposeOfUse, network address); the app is the second agent', async () => {
    // Whatever the access decision answers, the request is audited with who asked.
    const res = await s.fhir('Patient/pa', { token: person });
    const [e] = await waitForAudit(s.db, (x) => isRest('read')(x) && byPerson(x));
    expectPersonAgents(e);
    expect(e.outcome).toBe(res.status === 200 ? '0' : '4');
  });
});

describe('failures are audited', () => {
  test('404 and 403 with outcome 4; a request without a valid token has no tenant and no AuditEvent', async () => {
    expect((await s.fhir('Observation/nope', { token: admin })).status).toBe(404);
    const [nf] = await waitForAudit(s.db, (x) => isRest('read')(x) && x.outcome === '4' && whats(x).includes('Observation/nope'));
    expect(nf.outcomeDesc).toBe('HTTP 404');

    const narrow = await s.token('system/Patient.rs');
    const refused = await s.fhir('Observation/oa', { token: narrow });
    expect(refused.status).toBe(403);
    const [fb] = await waitForAudit(s.db, (x) => isRest('read')(x) && x.outcome === '4' && whats(x).includes('Observation/oa'));
    expect(fb.outcomeDesc).toBe('HTTP 403');
    expect(fb.agent).toHaveLength(1); // a backend client alone: it is the requestor
    expect(fb.agent?.[0]?.requestor).toBe(true);

    await new Promise((r) => setTimeout(r, 300));
    const count = (await auditEvents(s.db)).length;
    expect((await s.fhir('Patient/pb', { token: 'not-a-token' })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect((await auditEvents(s.db)).length).toBe(count);
  });
});

describe('AuditEvents are searchable by patient, agent, date, type and subtype', () => {
  test('search', async () => {
    const ids = async (q: string) => {
      const res = await s.fhir(`AuditEvent?${q}&_count=500`, { token: admin });
      expect(res.status).toBe(200);
      return ((await res.json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource as AuditEvent) ?? [];
    };
    await waitForAudit(s.db, (x) => isRest('read')(x) && whats(x).includes('Observation/oa/_history/1'));
    const aboutPa = await ids('patient=Patient/pa');
    expect(aboutPa.length).toBeGreaterThan(0);
    // R4 AuditEvent `patient`: agent.who or entity.what that is a Patient (resolve() is Patient).
    expect(aboutPa.every((e) => whats(e).some((w) => w === 'Patient/pa' || w.startsWith('Patient/pa/')))).toBe(true);
    expect(aboutPa.some((e) => patientsOf(e).includes('Patient/pa') && subtypeOf(e) === 'read')).toBe(true);
    const byDr = await ids(`agent=${PRACTITIONER}`);
    expect(byDr.length).toBeGreaterThan(0);
    expect(byDr.every(byPerson)).toBe(true);
    const byApp = await ids(`agent:identifier=http://bh-fhir.org/fhir/sid/oauth-client-id|${clientId}`);
    expect(byApp.length).toBeGreaterThan(0);
    expect(byApp.every(byClient)).toBe(true);
    const reads = await ids('subtype=http://hl7.org/fhir/restful-interaction|read&patient=Patient/pa');
    expect(reads.every((e) => subtypeOf(e) === 'read')).toBe(true);
    expect(reads.some((e) => whats(e).includes('Observation/oa/_history/1'))).toBe(true);
    const rest = await ids('type=rest');
    expect(rest.length).toBeGreaterThan(0);
    expect((await ids('type=http://dicom.nema.org/resources/ontology/DCM|110114')).length).toBe(0);
    const today = new Date().toISOString().slice(0, 10);
    expect((await ids(`date=${today}&patient=Patient/pa`)).length).toBe(aboutPa.length);
    expect(await ids('date=lt2000-01-01')).toHaveLength(0);
  });
});

describe('logs carry no PHI', () => {
  test('names in queries and bodies reach AuditEvents but never the log, whatever the outcome', async () => {
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    const level = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = 'info';
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      lines.push(String(chunk));
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    try {
      await s.fhir('Patient?name=Zebedee', { token: admin });
      await s.fhir('Patient?name=Zebedee', { token: 'invalid' });
      await s.fhir('Patient?birthdate=not-a-date&name=Zebedee', { token: admin });
      await s.fhir('Patient', { token: admin, method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Zebedee' }], bogus: true } });
      log.error('a careless caller', { query: 'name=Zebedee', body: { name: 'Zebedee' }, status: 500 });
      await waitForAudit(s.db, (x) => queryOf(x) === 'name=Zebedee');
    } finally {
      process.stderr.write = write;
      process.env.LOG_LEVEL = level;
    }
    expect(lines.some((l) => l.includes('a careless caller') && l.includes('[redacted]'))).toBe(true);
    expect(lines.some((l) => l.includes('not audited per tenant'))).toBe(true);
    expect(lines.filter((l) => /zebedee/i.test(l))).toEqual([]);
  });
});

describe('the audit trail over HTTP', () => {
  test('AuditEvent?… by its parameters; an unindexed one is a 400 naming it; the CapabilityStatement says which', async () => {
    await s.fhir('Patient/pc', { token: admin });
    await waitForAudit(s.db, (e) => subtypeOf(e) === 'read' && patientsOf(e).includes('Patient/pc'));
    const found = await s.fhir(`AuditEvent?patient=Patient/pc&subtype=read&_sort=-date`, { token: admin });
    expect(found.status).toBe(200);
    const bundle = (await found.json()) as Bundle<AuditEvent>;
    expect(bundle.entry?.length).toBeGreaterThan(0);
    for (const e of bundle.entry ?? []) expect(patientsOf(e.resource as AuditEvent)).toContain('Patient/pc');
    const refused = await s.fhir('AuditEvent?action=R', { token: admin });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { issue: { expression?: string[] }[] }).issue[0].expression).toEqual(['action']);

    const meta = (await (await s.fhir('metadata')).json()) as { rest: { resource: { type: string; interaction: { code: string }[]; searchParam: { name: string }[] }[] }[] };
    const audit = meta.rest[0].resource.find((r) => r.type === 'AuditEvent');
    expect(audit?.interaction.map((i) => i.code).sort()).toEqual(['history-instance', 'history-type', 'read', 'search-type', 'vread']);
    expect(audit?.searchParam.map((p) => p.name).sort()).toEqual(['_id', '_lastUpdated', 'agent', 'date', 'entity', 'outcome', 'patient', 'subtype', 'type']);
  });
});

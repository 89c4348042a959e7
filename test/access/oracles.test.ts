import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { TENANT, buildClinic } from './clinic.ts';

/**
 * Existence oracles (server/src/access/README.md "Reads" and "Writes"): a record the caller may
 * not see answers exactly like one that never existed, byte for byte apart from its id — for
 * version reads, and for every write interaction with or without If-Match. Permission and
 * visibility are decided before the If-Match comparison, so a version number is never named to
 * someone who may not read the record. The clinic is ./clinic.ts: obs-a1-x (version 2) belongs to
 * Dr A's patient a1, obs-b1-x (version 1) to Dr B's patient b1; `nope-x` never existed.
 */
let s: TestServer;
const tok: Record<string, string> = {};
const MISSING = 'nope-x';

beforeAll(async () => {
  s = await startTestServer();
  await buildClinic(s);
  const person = (fhirUser: string, roles: string[], scope: string, extra: Record<string, string> = {}) =>
    s.personToken({ tenant: TENANT, fhirUser, userId: fhirUser, roles: roles as never, scope, ...extra });
  tok.drA = await person('Practitioner/prac-a-x', ['clinician'], 'user/*.cruds');
  tok.drB = await person('Practitioner/prac-b-x', ['clinician'], 'user/*.cruds');
  tok.drBRead = await person('Practitioner/prac-b-x', ['clinician'], 'user/*.rs');
  tok.desk = await person('Practitioner/prac-d-x', ['front-desk'], 'user/*.cruds');
  tok.deskRead = await person('Practitioner/prac-d-x', ['front-desk'], 'user/*.rs');
  tok.patient = await person('Patient/pat-a1-x', ['patient'], 'patient/*.cruds', { patient: 'pat-a1-x' });
  tok.patientRead = await person('Patient/pat-a1-x', ['patient'], 'patient/*.rs', { patient: 'pat-a1-x' });
  tok.system = await s.token('system/*.cruds', TENANT);
});
afterAll(async () => {
  await s?.close();
});

interface Answer {
  status: number;
  contentType: string | null;
  body: string;
}

/** The answer with the id replaced, so that two answers can be compared byte for byte. */
async function answer(res: Response, id: string): Promise<Answer> {
  return { status: res.status, contentType: res.headers.get('content-type'), body: (await res.text()).replaceAll(id, 'ID') };
}

const observation = (id: string | undefined, patient: string) => ({
  resourceType: 'Observation',
  ...(id ? { id } : {}),
  status: 'amended',
  code: { coding: [{ system: 'http://loinc.org', code: '44249-1' }] },
  subject: { reference: `Patient/${patient}` },
});

type Write = (token: string, id: string, ifMatch?: string) => Promise<Response>;

const headers = (ifMatch: string | undefined, more: Record<string, string> = {}) => ({ ...more, ...(ifMatch ? { 'if-match': ifMatch } : {}) });
const jsonPatch = JSON.stringify([{ op: 'replace', path: '/status', value: 'cancelled' }]);

const WRITES: Record<string, Write> = {
  PUT: (token, id, ifMatch) => s.fhir(`Observation/${id}`, { method: 'PUT', token, json: observation(id, 'pat-b1-x'), headers: headers(ifMatch) }),
  PATCH: (token, id, ifMatch) =>
    s.fhir(`Observation/${id}`, { method: 'PATCH', token, body: jsonPatch, headers: headers(ifMatch, { 'content-type': 'application/json-patch+json' }) }),
  DELETE: (token, id, ifMatch) => s.fhir(`Observation/${id}`, { method: 'DELETE', token, headers: headers(ifMatch) }),
  'conditional PUT': (token, id, ifMatch) => s.fhir(`Observation?_id=${id}`, { method: 'PUT', token, json: observation(undefined, 'pat-b1-x'), headers: headers(ifMatch) }),
  'conditional PATCH': (token, id, ifMatch) =>
    s.fhir(`Observation?_id=${id}`, { method: 'PATCH', token, body: jsonPatch, headers: headers(ifMatch, { 'content-type': 'application/json-patch+json' }) }),
  'conditional DELETE': (token, id, ifMatch) => s.fhir(`Observation?_id=${id}`, { method: 'DELETE', token, headers: headers(ifMatch) }),
  'batch PUT': (token, id, ifMatch) =>
    s.fhir('', {
      method: 'POST',
      token,
      json: { resourceType: 'Bundle', type: 'batch', entry: [{ resource: observation(id, 'pat-b1-x'), request: { method: 'PUT', url: `Observation/${id}`, ...(ifMatch ? { ifMatch } : {}) } }] },
    }),
};

async function version(type: string, id: string): Promise<string> {
  const body = (await (await s.fhir(`${type}/${id}`, { token: tok.system })).json()) as { meta: { versionId: string } };
  return body.meta.versionId;
}

describe('version read (vread)', () => {
  const cases: [string, string, string][] = [
    ['clinician without a relationship', 'drB', 'obs-a1-x'],
    ['patient (another patient\u2019s record)', 'patient', 'obs-b1-x'],
    ['front desk (type not granted)', 'desk', 'obs-a1-x'],
  ];
  for (const [who, key, hidden] of cases) {
    test(`${who}: every version of a hidden record, and a version it never had, answer like a record that never existed`, async () => {
      for (const v of ['1', '2', '7']) {
        const h = await answer(await s.fhir(`Observation/${hidden}/_history/${v}`, { token: tok[key] }), hidden);
        const n = await answer(await s.fhir(`Observation/${MISSING}/_history/${v}`, { token: tok[key] }), MISSING);
        expect(h, `version ${v}`).toEqual(n);
        expect(h.status).toBe(key === 'desk' ? 403 : 404);
      }
    });
  }

  test('a caller who may see the record: a missing version answers like a missing record; existing versions are read', async () => {
    const h = await answer(await s.fhir('Observation/obs-a1-x/_history/7', { token: tok.drA }), 'obs-a1-x');
    const n = await answer(await s.fhir(`Observation/${MISSING}/_history/7`, { token: tok.drA }), MISSING);
    expect(h).toEqual(n);
    expect(h.status).toBe(404);
    expect((await s.fhir('Observation/obs-a1-x/_history/1', { token: tok.drA })).status).toBe(200);
    expect((await s.fhir('Observation/obs-a1-x/_history/2', { token: tok.drA })).status).toBe(200);
  });
});

describe('writes with and without If-Match', () => {
  // [who, token, hidden record, expected status for the hidden record]
  const cases: [string, string, string, number][] = [
    ['front desk (Observation not granted)', 'desk', 'obs-a1-x', 403],
    ['clinician without a relationship, read-only token', 'drBRead', 'obs-a1-x', 403],
    ['clinician without a relationship', 'drB', 'obs-a1-x', 404],
    ['patient, read-only token', 'patientRead', 'obs-b1-x', 403],
    ['patient (another patient\u2019s record)', 'patient', 'obs-b1-x', 404],
  ];
  for (const [who, key, hidden, expected] of cases) {
    test(`${who}: every write interaction answers the same for the hidden record and for one that never existed; nothing changes`, async () => {
      const before = await version('Observation', hidden);
      for (const [name, write] of Object.entries(WRITES)) {
        for (const ifMatch of [undefined, 'W/"99"', `W/"${before}"`]) {
          const label = `${name} If-Match ${ifMatch ?? 'none'}`;
          const h = await answer(await write(tok[key], hidden, ifMatch), hidden);
          expect(h.body, label).not.toMatch(/current version/);
          if (name === 'conditional PUT') {
            // No match (the record is hidden): a create with a new id, as for an id that never existed.
            const n = await write(tok[key], MISSING, ifMatch);
            expect(h.status, label).toBe(n.status);
            expect(await n.text(), label).not.toMatch(/current version/);
            continue;
          }
          if (name.startsWith('conditional')) {
            // A search that finds nothing (the record is hidden) does nothing (DELETE) or is a 404 (PATCH).
            expect(h.status, label).toBe(expected === 403 ? 403 : name === 'conditional DELETE' ? 200 : 404);
          } else if (name === 'batch PUT') {
            const entry = (JSON.parse(h.body) as { entry: { response: { status: string } }[] }).entry[0];
            expect(entry.response.status, label).toBe(String(expected));
          } else {
            expect(h.status, label).toBe(expected);
          }
          // PUT without If-Match to an id that never existed creates it (update as create), for a
          // caller who may create; every other answer is the same for a record that never existed.
          const upsert = (name === 'PUT' || name === 'batch PUT') && ifMatch === undefined && expected === 404;
          if (!upsert) expect(await answer(await write(tok[key], MISSING, ifMatch), MISSING), label).toEqual(h);
        }
      }
      expect(await version('Observation', hidden)).toBe(before);
      expect((await s.fhir(`Observation/${MISSING}`, { token: tok.system })).status).toBe(404);
    });
  }

  test('front desk with a read-only token: a record it may read is 403 with or without If-Match, never 412 naming its version', async () => {
    const current = await version('Patient', 'pat-a1-x');
    const patient = (await (await s.fhir('Patient/pat-a1-x', { token: tok.deskRead })).json()) as Record<string, unknown>;
    for (const ifMatch of [undefined, 'W/"99"', `W/"${current}"`]) {
      const put = await s.fhir('Patient/pat-a1-x', { method: 'PUT', token: tok.deskRead, json: { ...patient, gender: 'female' }, headers: headers(ifMatch) });
      const patch = await s.fhir('Patient/pat-a1-x', { method: 'PATCH', token: tok.deskRead, body: jsonPatch, headers: headers(ifMatch, { 'content-type': 'application/json-patch+json' }) });
      const del = await s.fhir('Patient/pat-a1-x', { method: 'DELETE', token: tok.deskRead, headers: headers(ifMatch) });
      for (const res of [put, patch, del]) {
        expect(res.status).toBe(403);
        expect(await res.text()).not.toMatch(/current version/);
      }
    }
    expect(await version('Patient', 'pat-a1-x')).toBe(current);
  });

  test('a caller who may read and write the record still gets 412 naming the current version, and the right version succeeds', async () => {
    const current = await version('Observation', 'obs-a1-x');
    const stale = await s.fhir('Observation/obs-a1-x', { method: 'PUT', token: tok.drA, json: observation('obs-a1-x', 'pat-a1-x'), headers: { 'if-match': 'W/"99"' } });
    expect(stale.status).toBe(412);
    expect((await stale.json()).issue[0].diagnostics).toContain(`current version "${current}"`);
    const missing = await s.fhir(`Observation/${MISSING}`, { method: 'PUT', token: tok.drA, json: observation(MISSING, 'pat-a1-x'), headers: { 'if-match': 'W/"1"' } });
    expect(missing.status).toBe(404);
    const ok = await s.fhir('Observation/obs-a1-x', { method: 'PUT', token: tok.drA, json: observation('obs-a1-x', 'pat-a1-x'), headers: { 'if-match': `W/"${current}"` } });
    expect(ok.status).toBe(200);
  });
});

import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { ALL_IDS, RESOURCES, TENANT, TYPES, TYPE_OF, buildClinic } from './clinic.ts';
import { PRINCIPALS, type Principal } from './principals.ts';

/**
 * The authorization matrix: every principal of ./principals.ts (roles × v1/v2/granular/patient/
 * scopes × purposes of use, and system tokens) against every resource of the clinic through
 * every read path: read, vread, search (with _total=accurate and _summary=count), _include and
 * _revinclude (with :iterate), chains, _has, system search, history (instance, type, system),
 * batch read and search entries, and Patient/$everything. Each path must return exactly what the
 * principal may see, and no response may contain the id of anything it may not see.
 * Writes (before and after checks) are in ./writes.test.ts.
 */
let s: TestServer;
const tokens = new Map<string, string>();
/**
 * When the clinic was complete. The audit trail adds an AuditEvent per access as the tests run;
 * searches and history are bounded to the clinic (`_lastUpdated=le`, `_at`) so they see the
 * clinic's own resources, and revincludes leave AuditEvent out (its read rule has its own test).
 */
let built = '';
let asOf = '';

beforeAll(async () => {
  s = await startTestServer();
  await buildClinic(s);
  built = new Date(Date.now() + 1).toISOString();
  asOf = `_lastUpdated=le${encodeURIComponent(built)}`;
  // Signed directly with an hour's lifetime (a backend-service token lives 5 minutes, less than
  // this file takes on a busy machine); a system token is one without a person. Real backend
  // tokens from the token endpoint are used by the last tests of this file.
  for (const p of PRINCIPALS) {
    const claims = p.system ? { tenant: TENANT, scope: p.system } : (p.person as NonNullable<Principal['person']>);
    tokens.set(p.name, await s.personToken({ ...claims, ttlSeconds: 3600 }));
  }
});
afterAll(async () => {
  await s?.close();
});

async function get(p: Principal, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await s.fhir(path, { token: tokens.get(p.name) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * Bundle entry ids of the matches and includes, of the clinic's resources only: the server adds
 * resources of its own to every tenant (the instrument Questionnaires, AuditEvents of the access).
 */
function idsOf(body: Record<string, unknown>): string[] {
  return ((body.entry as BundleEntry[] | undefined) ?? [])
    .filter((e) => e.resource && e.resource.resourceType !== 'OperationOutcome')
    .map((e) => e.resource?.id as string)
    .filter((id) => TYPE_OF.has(id));
}

/** The whole body, minus the Bundle's own links (they echo the request's query). */
function text(body: unknown): string {
  return JSON.stringify(body, (k, v) => (k === 'link' ? undefined : v));
}

function assertNoLeak(body: unknown, hidden: string[], where: string): void {
  const t = text(body);
  const leaked = hidden.filter((id) => t.includes(id));
  expect(leaked, `${where} leaked`).toEqual([]);
}

const sorted = (a: Iterable<string>) => [...a].sort();
const subjectOf = new Map(
  RESOURCES.map((r) => [r.id as string, /Patient\/([\w.-]+)/.exec(JSON.stringify((r as { subject?: unknown }).subject ?? ''))?.[1]])
);

test('ids are distinct and none contains another (so the leak scan is exact)', () => {
  for (const a of ALL_IDS) for (const b of ALL_IDS) if (a !== b) expect(b.includes(a), `${a} in ${b}`).toBe(false);
});

describe.each(PRINCIPALS)('$name', (p) => {
  const visible = new Set(p.visible);
  // Ids that must appear nowhere: hidden resources that no visible resource refers to (a visible
  // Observation naming its hidden patient shows that reference, as its content; the patient
  // itself must still never appear as an entry, which every test checks on the entries).
  const named = new Set(RESOURCES.filter((r) => visible.has(r.id as string)).flatMap((r) => ALL_IDS.filter((i) => i !== r.id && JSON.stringify(r).includes(i))));
  const hidden = ALL_IDS.filter((i) => !visible.has(i) && !named.has(i));
  const vis = (id: string) => visible.has(id);

  test('read and vread: 200 for exactly the visible; otherwise the same answer as a resource that does not exist', async () => {
    const absent = new Map<string, number>();
    for (const t of TYPES) absent.set(t, (await get(p, `${t}/nothing-here-x`)).status);
    for (const id of ALL_IDS) {
      const t = TYPE_OF.get(id) as string;
      const read = await get(p, `${t}/${id}`);
      const vread = await get(p, `${t}/${id}/_history/1`);
      if (vis(id)) {
        expect(read.status, `read ${id}`).toBe(200);
        expect(read.body.id).toBe(id);
        expect(vread.status, `vread ${id}`).toBe(200);
      } else {
        expect([403, 404], `read ${id}`).toContain(read.status);
        expect(read.status, `read ${id} vs absent`).toBe(absent.get(t));
        expect(vread.status, `vread ${id} vs absent`).toBe(absent.get(t));
        expect(read.body.resourceType).toBe('OperationOutcome');
      }
    }
  });

  test('search per type, _total=accurate and _summary=count: exactly the visible ids', async () => {
    for (const t of TYPES) {
      const expected = sorted(p.visible.filter((i) => TYPE_OF.get(i) === t));
      const r = await get(p, `${t}?_count=1000&_total=accurate&${asOf}`);
      if (r.status === 403) {
        expect(expected, `${t} denied but visible`).toEqual([]);
        continue;
      }
      expect(r.status, `${t} search`).toBe(200);
      expect(sorted(idsOf(r.body)), `${t} search`).toEqual(expected);
      const extra = ((r.body.entry as BundleEntry[] | undefined) ?? []).length - idsOf(r.body).length;
      expect(r.body.total, `${t} total`).toBe(expected.length + extra);
      const c = await get(p, `${t}?_summary=count&${asOf}`);
      expect(c.body.total, `${t} count`).toBe(expected.length + extra);
      assertNoLeak(r.body, hidden, `${t} search`);
    }
  });

  test('_include, _revinclude and :iterate never bring in a hidden resource', async () => {
    const rev = TYPES.filter((t) => t !== 'AuditEvent').map((t) => `_revinclude:iterate=${t}:*`).join('&');
    for (const t of TYPES) {
      const r = await get(p, `${t}?_count=1000&_include=*&_include:iterate=*&${rev}&${asOf}`);
      if (r.status === 403) continue;
      expect(r.status, `${t} includes`).toBe(200);
      for (const id of idsOf(r.body)) expect(vis(id), `${t} includes ${id}`).toBe(true);
      assertNoLeak(r.body, hidden, `${t} includes`);
    }
    // The Composition's entries include a restricted Observation: only those who may see it get it.
    const comp = await get(p, 'Composition?_include=Composition:entry');
    if (comp.status === 200 && vis('comp-a1-x')) {
      expect(idsOf(comp.body).includes('obsr-a1-x')).toBe(vis('obsr-a1-x'));
      expect(idsOf(comp.body).includes('obs-a1-x')).toBe(vis('obs-a1-x'));
    }
  });

  test('chains and _has match only through resources the caller may see', async () => {
    const cases: { url: string; expect: () => string[] }[] = [
      // Observations by a property of their patient: the patient must be visible too.
      { url: 'Observation?subject:Patient.family=Fam', expect: () => p.visible.filter((i) => TYPE_OF.get(i) === 'Observation' && vis(subjectOf.get(i) ?? '')) },
      // A visible Composition whose only restricted entry matches: hidden when the entry is.
      { url: 'Composition?entry:Observation.code=rcode', expect: () => (vis('comp-a1-x') && vis('obsr-a1-x') ? ['comp-a1-x'] : []) },
      { url: 'Patient?_has:Observation:subject:code=rcode', expect: () => (vis('pat-a1-x') && vis('obsr-a1-x') ? ['pat-a1-x'] : []) },
      // Someone else's psychotherapy note must not reveal that it exists.
      { url: 'Patient?_has:DocumentReference:subject:author=Practitioner/prac-b-x', expect: () => (vis('pat-a1-x') && vis('psyb-a1-x') ? ['pat-a1-x'] : []) },
      { url: 'Patient?_has:Condition:subject:_security=42CFRPart2', expect: () => (vis('pat-a1-x') && vis('cond-a1-x') ? ['pat-a1-x'] : []) },
      // Nested _has: patients with an Observation that a Composition lists.
      {
        url: 'Patient?_has:Observation:subject:_has:Composition:entry:status=final',
        expect: () => (vis('pat-a1-x') && vis('comp-a1-x') && (vis('obsr-a1-x') || vis('obs-a1-x')) ? ['pat-a1-x'] : []),
      },
      {
        url: 'CareTeam?subject:Patient._has:EpisodeOfCare:patient:care-manager=Practitioner/prac-a-x',
        expect: () => [],
      },
      { url: 'Appointment?actor:Patient.family=Fam', expect: () => (vis('appt-a1-x') && vis('pat-a1-x') ? ['appt-a1-x'] : []) },
    ];
    for (const c of cases) {
      const r = await get(p, `${c.url}&_total=accurate`);
      if (r.status === 403) {
        expect(c.expect(), `${c.url} denied`).toEqual([]);
        continue;
      }
      expect(r.status, c.url).toBe(200);
      expect(sorted(idsOf(r.body)), c.url).toEqual(sorted(c.expect()));
      expect(r.body.total, c.url).toBe(c.expect().length);
      assertNoLeak(r.body, hidden, c.url);
    }
  });

  test('system search: exactly the visible resources', async () => {
    const r = await get(p, `?_count=1000&_total=accurate&${asOf}`);
    if (r.status === 403) {
      expect(p.visible).toEqual([]);
      return;
    }
    expect(r.status).toBe(200);
    // A system search leaves the audit trail out (server/src/audit): AuditEvent is searched on its own.
    expect(sorted(idsOf(r.body))).toEqual(sorted(p.visible.filter((i) => TYPE_OF.get(i) !== 'AuditEvent')));
    assertNoLeak(r.body, hidden, 'system search');
  });

  test('history (system, type, instance): only visible resources', async () => {
    const at = `_at=${encodeURIComponent(built)}`;
    const sys = await get(p, `_history?_count=1000&${at}`);
    if (sys.status === 200) {
      // System history leaves the audit trail out (server/src/audit): AuditEvent has its own history.
      expect(sorted(new Set(idsOf(sys.body)))).toEqual(sorted(p.visible.filter((i) => TYPE_OF.get(i) !== 'AuditEvent')));
      assertNoLeak(sys.body, hidden, 'system history');
    } else {
      expect(sys.status).toBe(403);
    }
    for (const t of TYPES) {
      const r = await get(p, `${t}/_history?_count=1000&${at}`);
      if (r.status === 403) {
        expect(p.visible.filter((i) => TYPE_OF.get(i) === t)).toEqual([]);
        continue;
      }
      expect(sorted(new Set(idsOf(r.body))), `${t} history`).toEqual(sorted(p.visible.filter((i) => TYPE_OF.get(i) === t)));
      assertNoLeak(r.body, hidden, `${t} history`);
    }
    for (const id of ALL_IDS) {
      const t = TYPE_OF.get(id) as string;
      const r = await get(p, `${t}/${id}/_history`);
      if (vis(id)) {
        expect(r.status, `${id} history`).toBe(200);
        expect(new Set(idsOf(r.body))).toEqual(new Set([id]));
      } else {
        expect([403, 404], `${id} history`).toContain(r.status);
      }
    }
  });

  test('batch: each read and search entry under the same rules', async () => {
    const entry = [
      ...ALL_IDS.map((id) => ({ request: { method: 'GET', url: `${TYPE_OF.get(id)}/${id}` } })),
      ...TYPES.map((t) => ({ request: { method: 'GET', url: `${t}?_count=1000&${asOf}` } })),
    ];
    const res = await s.fhir('', { method: 'POST', token: tokens.get(p.name), json: { resourceType: 'Bundle', type: 'batch', entry } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Bundle;
    const out = body.entry ?? [];
    expect(out.length).toBe(entry.length);
    ALL_IDS.forEach((id, i) => {
      const status = out[i].response?.status ?? '';
      if (vis(id)) {
        expect(status, `batch read ${id}`).toMatch(/^200/);
        expect(out[i].resource?.id).toBe(id);
      } else {
        expect(status, `batch read ${id}`).toMatch(/^40[34]/);
      }
    });
    TYPES.forEach((t, j) => {
      const e = out[ALL_IDS.length + j];
      if (!/^200/.test(e.response?.status ?? '')) return;
      expect(sorted(idsOf(e.resource as unknown as Record<string, unknown>)), `batch search ${t}`).toEqual(sorted(p.visible.filter((i) => TYPE_OF.get(i) === t)));
      assertNoLeak(e.resource, hidden, `batch search ${t}`);
    });
  });

  test('Patient/$everything: only what the caller may see; a hidden patient as if absent', async () => {
    const absent = (await get(p, 'Patient/nothing-here-x/$everything')).status;
    for (const id of ALL_IDS.filter((i) => TYPE_OF.get(i) === 'Patient')) {
      const r = await get(p, `Patient/${id}/$everything?_type=${TYPES.filter((t) => t !== 'AuditEvent').join(',')}`);
      if (!vis(id)) {
        expect(r.status, `${id} $everything`).toBe(absent);
        continue;
      }
      expect(r.status, `${id} $everything`).toBe(200);
      const got = idsOf(r.body);
      expect(got).toContain(id);
      for (const x of got) expect(vis(x), `${id} $everything has ${x}`).toBe(true);
      assertNoLeak(r.body, hidden, `${id} $everything`);
    }
  });
});

test('AuditEvent is readable by tenant admins and system tokens with an AuditEvent or * scope only', async () => {
  const named = await s.token('system/AuditEvent.rs', TENANT);
  expect((await s.fhir('AuditEvent/audit-x', { token: named })).status).toBe(200);
  const other = await s.token('system/Patient.rs', TENANT);
  expect((await s.fhir('AuditEvent/audit-x', { token: other })).status).toBe(403);
  const clinician = await s.personToken({ tenant: TENANT, scope: 'user/*.cruds', fhirUser: 'Practitioner/prac-s-x', roles: ['supervisor'] });
  expect((await s.fhir('AuditEvent?_count=10', { token: clinician })).status).toBe(403);
});

test('a tenant-wide grant (TENANT_WIDE_ROLES) widens a clinician to every patient, still not others\u2019 psychotherapy notes', async () => {
  process.env.TENANT_WIDE_ROLES = `${TENANT}:clinician`;
  try {
    // Purpose of use TREAT, so that restricted records count too (without it they stay hidden).
    const token = await s.personToken({ tenant: TENANT, scope: 'user/*.rs', fhirUser: 'Practitioner/prac-b-x', roles: ['clinician'], purposeOfUse: 'TREAT' });
    const r = (await (await s.fhir('Observation?_count=100', { token })).json()) as Record<string, unknown>;
    expect(sorted(idsOf(r))).toEqual(sorted(ALL_IDS.filter((i) => TYPE_OF.get(i) === 'Observation')));
    const notes = (await (await s.fhir('DocumentReference?_count=100', { token })).json()) as Record<string, unknown>;
    expect(idsOf(notes)).toEqual(['psyb-a1-x']);
  } finally {
    delete process.env.TENANT_WIDE_ROLES;
  }
});

test('system token with a granular scope sees only matching rows', async () => {
  const token = await s.token('system/Observation.rs?category=survey', TENANT);
  const r = (await (await s.fhir('Observation?_count=100&_total=accurate', { token })).json()) as Record<string, unknown>;
  expect(idsOf(r)).toEqual(['survey-a1-x']);
  expect(r.total).toBe(1);
  expect((await s.fhir('Observation/obs-a1-x', { token })).status).toBe(404);
});

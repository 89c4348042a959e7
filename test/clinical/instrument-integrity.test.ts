import type { Observation, Questionnaire } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PLATFORM_QUESTIONNAIRE_BASE } from '../../server/src/access/platform.ts';
import { tenantAdminPolicy } from '../../server/src/access/policy.ts';
import { RISK_FLAG_SYSTEM } from '../../server/src/clinical/codes.ts';
import { INSTRUMENTS } from '../../server/src/clinical/scoring/index.ts';
import { Repository } from '../../server/src/store/repository.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { createPatient, def, derived, responseFor, totalOf } from './instruments-fixtures.ts';

/**
 * Scoring integrity (server/src/access/platform.ts, server/src/clinical/scoring/resolve.ts): the
 * platform's published instruments are read-only to every tenant principal — tenant admin, system
 * client, clinician — and scoring always uses the platform's own definition for their URLs, so
 * nobody in a tenant can change a total or suppress a suicide-risk flag. A tenant adds its own
 * instruments under its own canonical URLs.
 */
const TENANT = 'test';
const PHQ9 = def('phq-9');
let s: TestServer;
let patient: string;
let installed: Questionnaire;
const tok: Record<string, string> = {};

/** The PHQ-9 with its total rewritten to always be 0 (what an attacker would want stored). */
function tampered(extra: Partial<Questionnaire> = {}): Questionnaire {
  const q = JSON.parse(JSON.stringify(PHQ9.questionnaire).replace(/"expression":"%resource\.item[^"]*"/, '"expression":"0"')) as Questionnaire;
  expect(JSON.stringify(q)).toContain('"expression":"0"');
  return { ...q, version: '1.0.1', ...extra };
}

beforeAll(async () => {
  s = await startTestServer();
  patient = await createPatient(s, 'female');
  tok.admin = await s.personToken({ tenant: TENANT, fhirUser: 'Practitioner/admin-x', userId: 'admin-x', roles: ['tenant-admin'], scope: 'user/*.cruds' });
  tok.system = await s.token('system/*.cruds', TENANT);
  tok.clinician = await s.personToken({ tenant: TENANT, fhirUser: 'Practitioner/clin-x', userId: 'clin-x', roles: ['clinician', 'supervisor'], scope: 'user/*.cruds' });
  const found = await (await s.fhir(`Questionnaire?url=${PHQ9.url}`, { token: tok.system })).json();
  installed = found.entry[0].resource;
});
afterAll(async () => {
  await s?.close();
});

async function outcome(res: Response): Promise<{ status: number; diagnostics: string; expression?: string[] }> {
  const body = await res.json();
  expect(body.resourceType).toBe('OperationOutcome');
  return { status: res.status, diagnostics: body.issue[0].diagnostics, expression: body.issue[0].expression };
}

async function storedPhq9(): Promise<Questionnaire[]> {
  const bundle = await (await s.fhir(`Questionnaire?url=${PHQ9.url}`, { token: tok.system })).json();
  return (bundle.entry ?? []).map((e: { resource: Questionnaire }) => e.resource);
}

test('every shipped instrument lives under the platform base', () => {
  for (const d of Object.values(INSTRUMENTS)) expect(d.url.startsWith(PLATFORM_QUESTIONNAIRE_BASE), d.url).toBe(true);
});

// [who, token, what the 403 says, where]: the clinician's role grants no Questionnaire write at all.
const READ_ONLY = ['read-only', ['Questionnaire.url']] as const;
describe.each([
  ['tenant admin', 'admin', ...READ_ONLY],
  ['system client (system/*.cruds)', 'system', ...READ_ONLY],
  ['clinician and supervisor', 'clinician', 'does not allow create on Questionnaire', undefined],
] as [string, string, string, string[] | undefined][])('%s cannot write the platform instruments', (_who, key, says, where) => {
  test('create under a platform URL (a new version of PHQ-9, or a new name) is 403 and stores nothing', async () => {
    for (const q of [tampered(), tampered({ url: `${PLATFORM_QUESTIONNAIRE_BASE}my-phq`, version: '1.0.0' })]) {
      const o = await outcome(await s.fhir('Questionnaire', { method: 'POST', token: tok[key], json: q }));
      expect(o.status).toBe(403);
      expect(o.diagnostics).toContain(says);
      expect(o.expression).toEqual(where);
    }
    expect((await storedPhq9()).map((q) => q.version)).toEqual([PHQ9.version]);
    const bundle = await (await s.fhir(`Questionnaire?url=${PLATFORM_QUESTIONNAIRE_BASE}my-phq`, { token: tok.system })).json();
    expect(bundle.entry ?? []).toEqual([]);
  });

  test('update, patch, delete and their conditional and bundle forms of the installed PHQ-9 are 403; it stays as shipped', async () => {
    const id = installed.id as string;
    const attempts: Response[] = [
      await s.fhir(`Questionnaire/${id}`, { method: 'PUT', token: tok[key], json: { ...tampered({ version: PHQ9.version }), id } }),
      await s.fhir(`Questionnaire/${id}`, { method: 'PUT', token: tok[key], json: { ...installed, url: 'https://clinic.example/Questionnaire/stolen' } }),
      await s.fhir(`Questionnaire/${id}`, {
        method: 'PATCH',
        token: tok[key],
        headers: { 'content-type': 'application/json-patch+json' },
        body: JSON.stringify([{ op: 'replace', path: '/status', value: 'retired' }]),
      }),
      await s.fhir(`Questionnaire/${id}`, { method: 'DELETE', token: tok[key] }),
      await s.fhir(`Questionnaire?url=${PHQ9.url}`, { method: 'PUT', token: tok[key], json: tampered({ version: PHQ9.version }) }),
      await s.fhir(`Questionnaire?url=${PHQ9.url}`, { method: 'DELETE', token: tok[key] }),
    ];
    for (const res of attempts) expect((await outcome(res)).status).toBe(403);
    const tx = await s.fhir('', {
      method: 'POST',
      token: tok[key],
      json: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { ...tampered({ version: PHQ9.version }), id }, request: { method: 'PUT', url: `Questionnaire/${id}` } }] },
    });
    expect(tx.status).toBe(403);
    const now = await (await s.fhir(`Questionnaire/${id}`, { token: tok.system })).json();
    expect(now.meta.versionId).toBe(installed.meta?.versionId);
    expect(now.status).toBe(installed.status);
  });
});

describe('a tenant\u2019s own instruments', () => {
  test('a tenant admin creates, updates and deletes its own instrument under its own URL, but cannot move it under the platform base', async () => {
    const own = { ...tampered(), url: 'https://clinic.example/fhir/Questionnaire/mood', version: '1' };
    const created = await s.fhir('Questionnaire', { method: 'POST', token: tok.admin, json: own });
    expect(created.status).toBe(201);
    const body = await created.json();
    const updated = await s.fhir(`Questionnaire/${body.id}`, { method: 'PUT', token: tok.admin, json: { ...body, title: 'Mood check' } });
    expect(updated.status).toBe(200);
    const moved = await outcome(await s.fhir(`Questionnaire/${body.id}`, { method: 'PUT', token: tok.admin, json: { ...body, url: PHQ9.url, version: '2.0.0' } }));
    expect(moved.status).toBe(403);
    expect(moved.expression).toEqual(['Questionnaire.url']);
    expect((await storedPhq9()).map((q) => q.version)).toEqual([PHQ9.version]);
    expect((await s.fhir(`Questionnaire/${body.id}`, { method: 'DELETE', token: tok.admin })).status).toBe(200);
  });
});

describe('scoring uses the platform\u2019s definition, whatever the tenant holds', () => {
  // A tampered copy stored in the tenant as data could have been before this rule (the server's own
  // repository, no token): a higher version whose total is always 0.
  let planted: string;
  beforeAll(async () => {
    const repo = new Repository(s.db, { tenant: TENANT, access: tenantAdminPolicy(TENANT), fhirBase: s.fhirBase, lenient: false, defaultCount: 20, maxCount: 100 });
    planted = (await repo.createResource(tampered())).id;
  });

  const item9Positive = [0, 0, 0, 0, 0, 0, 0, 1, 2]; // total 3; item 9 (thoughts of self-harm) = 2
  const flags = (o: Observation) => (o.meta?.tag ?? []).filter((t) => t.system === RISK_FLAG_SYSTEM).map((t) => t.code);

  test('an unversioned PHQ-9 canonical is scored with the shipped total and keeps its suicide-risk flag', async () => {
    const res = await s.fhir('QuestionnaireResponse', {
      method: 'POST',
      token: tok.system,
      json: responseFor('phq-9', item9Positive, { questionnaire: PHQ9.url, subject: { reference: `Patient/${patient}` } }),
    });
    expect(res.status).toBe(201);
    const [total] = totalOf(PHQ9, await derived(s, (await res.json()).id));
    expect(total.valueQuantity?.value).toBe(3);
    expect(flags(total)).toContain('suicide-risk');
  });

  test('a version the platform never published, or the tampered copy named by id, is refused (400), never scored', async () => {
    for (const questionnaire of [`${PHQ9.url}|1.0.1`, `Questionnaire/${planted}`]) {
      const o = await outcome(
        await s.fhir('QuestionnaireResponse', { method: 'POST', token: tok.system, json: responseFor('phq-9', item9Positive, { questionnaire, subject: { reference: `Patient/${patient}` } }) })
      );
      expect(o.status, questionnaire).toBe(400);
      expect(o.expression).toEqual(['QuestionnaireResponse.questionnaire']);
    }
  });

  test('$extract also uses the shipped definition', async () => {
    const res = await s.fhir('QuestionnaireResponse/$extract', { method: 'POST', token: tok.system, json: responseFor('phq-9', item9Positive, { questionnaire: PHQ9.url, subject: { reference: `Patient/${patient}` } }) });
    expect(res.status).toBe(200);
    const bundle = await res.json();
    const totals = bundle.entry.map((e: { resource: Observation }) => e.resource).filter((o: Observation) => o.code.coding?.some((c) => c.code === PHQ9.totalCode.code));
    expect(totals[0].valueQuantity.value).toBe(3);
  });
});

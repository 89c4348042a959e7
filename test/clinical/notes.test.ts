import { type JWK, compactVerify, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tenantAdminPolicy } from '../../server/src/access/policy.ts';
import { canonicalJson } from '../../server/src/clinical/notes/canonical-json.ts';
import { countersignComposition, signComposition } from '../../server/src/clinical/notes/sign.ts';
import { Repository } from '../../server/src/store/repository.ts';
import { writeHooks } from '../../server/src/write-hooks.ts';
import { type TestServer, startTestServer } from '../support/server.ts';

/**
 * SOAP notes (server/src/clinical/notes): profile, psychotherapy split, $sign by the author,
 * $countersign by a supervisor, the lock on signed notes, addenda, and the JWS in the Provenance
 * checked against the server's published JWKS.
 */
let s: TestServer;
let patient: string;
let encounter: string;
let plan: string;
let goal: string;
let obs: string;
let author: string;
let supervisor: string;
let colleague: string;
const tokens: Record<'author' | 'supervisor' | 'colleague' | 'supervisorAsClinician', string> = { author: '', supervisor: '', colleague: '', supervisorAsClinician: '' };
const P = (name: string) => `http://bh-fhir.org/fhir/StructureDefinition/${name}`;
const XHTML = (t: string) => ({ status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml"><p>${t}</p></div>` });

async function create(json: Record<string, unknown>, token?: string): Promise<string> {
  const res = await s.fhir(String(json.resourceType), { method: 'POST', json, token });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`${json.resourceType}: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

function soapNote(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const section = (code: string, title: string, more: Record<string, unknown> = {}) => ({ title, code: { coding: [{ system: 'http://loinc.org', code }] }, text: XHTML(`${title} text`), ...more });
  return {
    resourceType: 'Composition',
    meta: { profile: [P('soap-note')] },
    status: 'preliminary',
    type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }] },
    subject: { reference: `Patient/${patient}` },
    encounter: { reference: `Encounter/${encounter}` },
    date: '2026-02-03T10:00:00Z',
    author: [{ reference: `Practitioner/${author}` }],
    title: 'Progress note',
    confidentiality: 'R',
    section: [
      section('61150-9', 'Subjective'),
      section('61149-1', 'Objective'),
      section('51848-0', 'Assessment', { entry: [{ reference: `Observation/${obs}` }] }),
      section('18776-5', 'Plan', { entry: [{ reference: `CarePlan/${plan}` }, { reference: `Goal/${goal}` }] }),
    ],
    ...extra,
  };
}

async function post(path: string, token: string): Promise<Response> {
  return s.fhir(path, { method: 'POST', token });
}

beforeAll(async () => {
  s = await startTestServer();
  patient = await create({ resourceType: 'Patient', name: [{ family: 'Noteworthy' }] });
  author = await create({ resourceType: 'Practitioner', name: [{ family: 'Author' }] });
  supervisor = await create({ resourceType: 'Practitioner', name: [{ family: 'Supervisor' }] });
  colleague = await create({ resourceType: 'Practitioner', name: [{ family: 'Colleague' }] });
  // The clinicians of the patient's CareTeam (created first, with a system token).
  await create({
    resourceType: 'CareTeam',
    status: 'active',
    subject: { reference: `Patient/${patient}` },
    participant: [author, supervisor, colleague].map((id) => ({ member: { reference: `Practitioner/${id}` } })),
  });
  encounter = await create({ resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient/${patient}` } });
  goal = await create({
    resourceType: 'Goal',
    meta: { profile: [P('treatment-goal')] },
    lifecycleStatus: 'active',
    description: { text: 'PHQ-9 below 5' },
    subject: { reference: `Patient/${patient}` },
    target: [{ measure: { coding: [{ system: 'http://loinc.org', code: '44261-6' }] }, detailQuantity: { value: 5, comparator: '<', unit: '{score}' }, dueDate: '2026-06-30' }],
  });
  plan = await create({
    resourceType: 'CarePlan',
    meta: { profile: [P('treatment-plan')] },
    status: 'active',
    intent: 'plan',
    category: [{ coding: [{ system: 'http://bh-fhir.org/fhir/CodeSystem/program', code: 'depression' }] }],
    subject: { reference: `Patient/${patient}` },
    goal: [{ reference: `Goal/${goal}` }],
  });
  obs = await create({
    resourceType: 'Observation',
    meta: { profile: [P('assessment-score')] },
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '44261-6' }] },
    subject: { reference: `Patient/${patient}` },
    encounter: { reference: `Encounter/${encounter}` },
    effectiveDateTime: '2026-02-03T09:50:00Z',
    valueQuantity: { value: 12, unit: '{score}', system: 'http://unitsofmeasure.org', code: '{score}' },
    derivedFrom: [{ reference: 'QuestionnaireResponse/qr-visit' }],
  });
  tokens.author = await s.personToken({ scope: 'user/*.cruds', fhirUser: `Practitioner/${author}`, roles: ['clinician'], purposeOfUse: 'TREAT' });
  tokens.colleague = await s.personToken({ scope: 'user/*.cruds', fhirUser: `Practitioner/${colleague}`, roles: ['clinician'], purposeOfUse: 'TREAT' });
  tokens.supervisor = await s.personToken({ scope: 'user/*.cruds', fhirUser: `Practitioner/${supervisor}`, roles: ['clinician', 'supervisor'], purposeOfUse: 'TREAT' });
  tokens.supervisorAsClinician = await s.personToken({ scope: 'user/*.cruds', fhirUser: `Practitioner/${supervisor}`, roles: ['clinician'], purposeOfUse: 'TREAT' });
});
afterAll(async () => {
  await s?.close();
});

describe('SOAP notes', () => {
  let note: string;

  test('a psychotherapy section is moved out of the note into its own labelled DocumentReference', async () => {
    const psycho = { title: 'Psychotherapy note', code: { coding: [{ system: 'http://bh-fhir.org/fhir/CodeSystem/note-section', code: 'psychotherapy-note' }] }, text: XHTML('process notes') };
    const base = soapNote();
    note = await create({ ...base, section: [...(base.section as unknown[]), psycho] }, tokens.author);
    const stored = await (await s.fhir(`Composition/${note}`)).json();
    expect(stored.section).toHaveLength(4);
    expect(JSON.stringify(stored)).not.toContain('process notes');
    // Read as the author: PSYTHPN records are shown to their author and supervisors only.
    const found = await (await s.fhir(`DocumentReference?related=Composition/${note}`, { token: tokens.author })).json();
    expect(found.entry).toHaveLength(1);
    const doc = found.entry[0].resource;
    expect(doc.meta.security).toEqual(expect.arrayContaining([
      expect.objectContaining({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSYTHPN' }),
      expect.objectContaining({ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }),
    ]));
    expect(doc.author).toEqual([{ reference: `Practitioner/${author}` }]);
    expect(doc.context.encounter).toEqual([{ reference: `Encounter/${encounter}` }]);
    expect(Buffer.from(doc.content[0].attachment.data, 'base64').toString('utf8')).toContain('process notes');
    // A later write of the unsigned note with the section replaces the content of the same record.
    const again = await s.fhir(`Composition/${note}`, { method: 'PUT', token: tokens.author, json: { ...stored, section: [...stored.section, { ...psycho, text: XHTML('revised process notes') }] } });
    expect(again.status).toBe(200);
    expect((await again.json()).section).toHaveLength(4);
    const revised = await (await s.fhir(`DocumentReference?related=Composition/${note}`, { token: tokens.author })).json();
    expect(revised.entry).toHaveLength(1);
    expect(revised.entry[0].resource.id).toBe(doc.id);
    expect(Buffer.from(revised.entry[0].resource.content[0].attachment.data, 'base64').toString('utf8')).toContain('revised process notes');
    // The labels do their work in the access layer: a supervisor sees it, a colleague on the team does not.
    const bySupervisor = await (await s.fhir(`DocumentReference?related=Composition/${note}`, { token: tokens.supervisor })).json();
    expect(bySupervisor.entry).toHaveLength(1);
    const byColleague = await (await s.fhir(`DocumentReference?related=Composition/${note}`, { token: tokens.colleague })).json();
    expect(byColleague.entry ?? []).toHaveLength(0);
  });

  test("the psychotherapy document holds the section's text, escaped, never the client's markup or links", async () => {
    const hostile = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Kept &amp; "quoted" text</p><p><a href="https://evil.example/steal">click here</a><img src="https://evil.example/pixel.png" alt="x"/></p></div>';
    const psycho = { title: 'Session <b>one</b>', code: { coding: [{ system: 'http://bh-fhir.org/fhir/CodeSystem/note-section', code: 'psychotherapy-note' }] }, text: { status: 'generated', div: hostile } };
    const base = soapNote();
    const id = await create({ ...base, section: [...(base.section as unknown[]), psycho] }, tokens.author);
    const found = await (await s.fhir(`DocumentReference?related=Composition/${id}`, { token: tokens.author })).json();
    const doc = found.entry[0].resource;
    expect(doc.content[0].attachment.contentType).toBe('text/html');
    const html = Buffer.from(doc.content[0].attachment.data, 'base64').toString('utf8');
    expect(html).toContain('<p>Kept &amp; &quot;quoted&quot; text</p>');
    expect(html).toContain('click here');
    expect(html).toContain('Session &lt;b&gt;one&lt;/b&gt;');
    expect(html).not.toMatch(/<(a|img|b|div)\b/i);
    expect(html).not.toContain('evil.example');
  });

  test("the Assessment section lists the visit's scored Observations", async () => {
    const base = soapNote();
    const sections = (base.section as { entry?: unknown }[]).map((x) => ({ ...x, entry: undefined }));
    const id = await create({ ...base, section: sections }, tokens.author);
    const stored = await (await s.fhir(`Composition/${id}`)).json();
    const assessment = stored.section.find((x: { code: { coding: { code: string }[] } }) => x.code.coding[0].code === '51848-0');
    expect(assessment.entry).toEqual([{ reference: `Observation/${obs}` }]);
    // An author's own entries are kept, and the score is not listed twice.
    const plan = stored.section.find((x: { code: { coding: { code: string }[] } }) => x.code.coding[0].code === '18776-5');
    expect(plan.entry).toBeUndefined();
    const again = await (await s.fhir(`Composition/${note}`)).json();
    expect(again.section.find((x: { code: { coding: { code: string }[] } }) => x.code.coding[0].code === '51848-0').entry).toEqual([{ reference: `Observation/${obs}` }]);
  });

  test('a client cannot write an attester (signatures come from $sign only)', async () => {
    const res = await s.fhir('Composition', { method: 'POST', token: tokens.author, json: soapNote({ attester: [{ mode: 'legal', party: { reference: `Practitioner/${author}` } }] }) });
    expect(res.status).toBe(422);
    expect((await res.json()).issue[0].expression).toEqual(['Composition.attester']);
  });

  test('someone other than the author cannot sign: 403', async () => {
    const res = await post(`Composition/${note}/$sign`, tokens.colleague);
    expect(res.status).toBe(403);
    const current = await (await s.fhir(`Composition/${note}`)).json();
    expect(current.status).toBe('preliminary');
  });

  test('countersigning an unsigned note is refused', async () => {
    expect((await post(`Composition/${note}/$countersign`, tokens.supervisor)).status).toBe(409);
  });

  test('the author signs: final, legal attester, Provenance with a JWS, and an HTML rendering', async () => {
    const res = await post(`Composition/${note}/$sign`, tokens.author);
    expect(res.status).toBe(200);
    const bundle = await res.json();
    const [c, prov, doc] = bundle.entry.map((e: { resource: unknown }) => e.resource);
    expect(c.status).toBe('final');
    expect(c.attester).toEqual([expect.objectContaining({ mode: 'legal', party: { reference: `Practitioner/${author}` } })]);
    expect(prov.resourceType).toBe('Provenance');
    expect(prov.target).toEqual([{ reference: `Composition/${note}/_history/${c.meta.versionId}` }]);
    expect(prov.agent[0].who).toEqual({ reference: `Practitioner/${author}` });
    expect(prov.agent[0].type.coding[0].code).toBe('author');
    const sig = prov.signature[0];
    expect(sig.type[0]).toEqual({ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.1', display: "Author's Signature" });
    expect(sig.sigFormat).toBe('application/jose');
    expect(sig.who).toEqual({ reference: `Practitioner/${author}` });
    expect(doc.resourceType).toBe('DocumentReference');
    expect(doc.content[0].attachment.contentType).toBe('text/html');
    const html = Buffer.from(doc.content[0].attachment.data, 'base64').toString('utf8');
    expect(html).toContain('Subjective text');
    expect(html).not.toContain('process notes');
    expect(doc.context.encounter).toEqual([{ reference: `Encounter/${encounter}` }]);
    expect(doc.meta.security).toEqual([{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }]);
    // Everything is stored, not only returned.
    expect((await s.fhir(`Provenance/${prov.id}`)).status).toBe(200);
    expect((await s.fhir(`DocumentReference/${doc.id}`, { token: tokens.author })).status).toBe(200);
  });

  test("the JWS verifies with the server's published /auth/jwks and covers the signed version", async () => {
    const provs = await (await s.fhir('Provenance?_count=50')).json();
    const prov = provs.entry.map((e: { resource: { target: { reference: string }[] } }) => e.resource).find((p: { target: { reference: string }[] }) => p.target[0].reference.startsWith(`Composition/${note}/`));
    const jws = Buffer.from(prov.signature[0].data, 'base64').toString('utf8');
    const jwks = (await (await fetch(`${s.baseUrl}/auth/jwks`)).json()) as { keys: JWK[] };
    const header = JSON.parse(Buffer.from(jws.split('.')[0], 'base64url').toString('utf8'));
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    expect(jwk).toBeDefined();
    const { payload } = await compactVerify(jws, await importJWK(jwk as JWK, header.alg));
    const version = await (await s.fhir(prov.target[0].reference)).json();
    expect(new TextDecoder().decode(payload)).toBe(canonicalJson(version));
    // A changed byte fails verification.
    const [h, p, sgn] = jws.split('.');
    const tampered = `${h}.${Buffer.from(canonicalJson({ ...version, title: 'changed' })).toString('base64url')}.${sgn}`;
    await expect(compactVerify(tampered, await importJWK(jwk as JWK, header.alg))).rejects.toThrow();
    expect(p.length).toBeGreaterThan(0);
  });

  test('a signed note is locked: PUT, PATCH and DELETE are refused with 409', async () => {
    const current = await (await s.fhir(`Composition/${note}`)).json();
    const put = await s.fhir(`Composition/${note}`, { method: 'PUT', token: tokens.author, json: { ...current, title: 'Changed' } });
    expect(put.status).toBe(409);
    const o = await put.json();
    expect(o.issue[0].diagnostics).toContain('signed');
    expect(o.issue[0].expression).toEqual(['Composition.status']);
    const patch = await s.fhir(`Composition/${note}`, {
      method: 'PATCH',
      token: tokens.author,
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/title', value: 'Patched' }]),
    });
    expect(patch.status).toBe(409);
    const del = await s.fhir(`Composition/${note}`, { method: 'DELETE', token: tokens.author });
    expect(del.status).toBe(409);
    // Not even a system client may change it.
    expect((await s.fhir(`Composition/${note}`, { method: 'PUT', json: { ...current, title: 'Changed' } })).status).toBe(409);
    const after = await (await s.fhir(`Composition/${note}`)).json();
    expect(after.meta.versionId).toBe(current.meta.versionId);
    expect((await post(`Composition/${note}/$sign`, tokens.author)).status).toBe(409);
  });

  test('the Provenance holding a signature cannot be changed or deleted', async () => {
    const provs = await (await s.fhir('Provenance?_count=50')).json();
    const prov = provs.entry.map((e: { resource: { id: string; target: { reference: string }[] } }) => e.resource).find((p: { target: { reference: string }[] }) => p.target[0].reference.startsWith(`Composition/${note}/`));
    expect((await s.fhir(`Provenance/${prov.id}`, { method: 'DELETE' })).status).toBe(409);
    expect((await s.fhir(`Provenance/${prov.id}`, { method: 'PUT', json: { ...prov, recorded: '2020-01-01T00:00:00Z' } })).status).toBe(409);
  });

  test('a clinician without the supervisor role cannot countersign: 403', async () => {
    expect((await post(`Composition/${note}/$countersign`, tokens.colleague)).status).toBe(403);
    expect((await post(`Composition/${note}/$countersign`, tokens.supervisorAsClinician)).status).toBe(403);
  });

  test('a supervisor countersigns: professional attester and a Verification Signature', async () => {
    const res = await post(`Composition/${note}/$countersign`, tokens.supervisor);
    expect(res.status).toBe(200);
    const [c, prov] = (await res.json()).entry.map((e: { resource: unknown }) => e.resource);
    expect(c.attester.map((a: { mode: string }) => a.mode)).toEqual(['legal', 'professional']);
    expect(c.attester[1].party).toEqual({ reference: `Practitioner/${supervisor}` });
    expect(prov.signature[0].type[0]).toEqual({ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.5', display: 'Verification Signature' });
    expect(prov.agent[0].type.coding[0]).toEqual({ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'verifier' });
    expect(prov.target[0].reference).toBe(`Composition/${note}/_history/${c.meta.versionId}`);
    // Still locked after countersigning; a second countersignature by the same person is refused.
    expect((await s.fhir(`Composition/${note}`, { method: 'DELETE', token: tokens.author })).status).toBe(409);
    expect((await post(`Composition/${note}/$countersign`, tokens.supervisor)).status).toBe(409);
  });

  test('seeding signs with an explicit signer under a tenant-admin policy', async () => {
    const id = await create(soapNote());
    const repo = new Repository(s.db, { tenant: 'test', access: tenantAdminPolicy('test'), fhirBase: s.fhirBase, lenient: false, defaultCount: 20, maxCount: 100, hooks: writeHooks });
    const signed = await signComposition(repo, id, { signer: `Practitioner/${author}` });
    expect(signed.composition.attester?.[0].party?.reference).toBe(`Practitioner/${author}`);
    expect(signed.provenance.signature?.[0].who.reference).toBe(`Practitioner/${author}`);
    const counter = await countersignComposition(repo, id, { signer: `Practitioner/${supervisor}` });
    expect(counter.composition.attester?.map((a) => a.mode)).toEqual(['legal', 'professional']);
    // Without a signer a tenant-admin policy names no person, so nobody signs.
    await expect(signComposition(repo, await create(soapNote()))).rejects.toThrow(/fhirUser/);
  });

  test('changes come as an addendum, which can itself be signed', async () => {
    const addendum = await create(
      soapNote({
        title: 'Addendum',
        relatesTo: [{ code: 'appends', targetReference: { reference: `Composition/${note}` } }],
        section: [{ title: 'Plan', code: { coding: [{ system: 'http://loinc.org', code: '18776-5' }] }, text: XHTML('Add sleep diary') }],
      }),
      tokens.author
    );
    const res = await post(`Composition/${addendum}/$sign`, tokens.author);
    expect(res.status).toBe(200);
    const signed = (await res.json()).entry[0].resource;
    expect(signed.status).toBe('final');
    expect(signed.relatesTo[0].targetReference.reference).toBe(`Composition/${note}`);
    // A partial note that is not an addendum still violates the profile.
    const partial = await s.fhir('Composition', { method: 'POST', token: tokens.author, json: soapNote({ section: [] }) });
    expect(partial.status).toBe(400);
  });
});

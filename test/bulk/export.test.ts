import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REDISCLOSURE_NOTICE, REDISCLOSURE_NOTICE_URL } from '../../server/src/clinical/part2/notice.ts';
import { consentFor } from '../disclosure/fixture.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { type Loaded, type Res, download, exportAll, ids, kickoff, newClient, poll, postBundle, readBundles } from './support.ts';

// FHIR Bulk Data Access 2.0 $export (https://hl7.org/fhir/uv/bulkdata/export.html) over real
// HTTP with real backend-service tokens: kick-off, polling, manifest, files, cancel, parameters,
// and access. Expected contents are computed from the Synthea source JSON with plain code.

const TENANT = 'bulk';
const TYPES = ['Patient', 'Encounter', 'Condition', 'Observation'];
/** Naming each type lets the token see records labelled for their type (access/README.md "Security labels"). */
const NAMED = TYPES.map((t) => `system/${t}.rs`).join(' ') + ' system/Group.rs';
let s: TestServer;
let exportDir: string;
const loaded: Loaded[] = [];
const idOf = new Map<string, string>();
let since: string;
let reader: { clientId: string; token: () => Promise<string> };
let token: string;

const expected = (type: string, pick: (l: Loaded) => boolean = () => true) => loaded.filter((l) => l.resource.resourceType === type && pick(l)).map((l) => l.id).sort();
const patientOf = (r: Res) => idOf.get(r.subject?.reference ?? r.patient?.reference ?? '');

beforeAll(async () => {
  exportDir = mkdtempSync(join(tmpdir(), 'bulk-export-'));
  s = await startTestServer({ EXPORT_DIR: exportDir });
  const admin = await s.token('system/*.cruds', TENANT);
  const bundles = await readBundles();
  for (const [i, bundle] of bundles.entries()) {
    // _since: everything of the last four bundles is written after this instant.
    if (i === 4) {
      await new Promise((r) => setTimeout(r, 20));
      since = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 20));
    }
    const serverIds = await postBundle(s.fhirBase, admin, bundle);
    bundle.entry.forEach((e: Res, k: number) => {
      loaded.push({ resource: e.resource, bundle: i, id: serverIds[k] });
      idOf.set(e.fullUrl, serverIds[k]);
    });
  }
  reader = await newClient(s.db, s.baseUrl, TENANT, NAMED);
  token = await reader.token();
}, 300_000);

afterAll(async () => {
  await s?.close();
  rmSync(exportDir, { recursive: true, force: true });
});

describe('system level', () => {
  test('kick-off, poll, manifest, files: every resource of the types, once, as stored', async () => {
    const status = await kickoff(s.fhirBase, token, `$export?_type=${TYPES.join(',')}`);
    const { manifest, progress } = await poll(status, token);
    expect(progress.every((p) => /^(queued|\d+\/4 types, \d+ resources)$/.test(p))).toBe(true);
    expect(manifest.requiresAccessToken).toBe(true);
    expect(manifest.request).toBe(`${s.fhirBase}/$export?_type=${TYPES.join(',')}`);
    expect(Date.parse(manifest.transactionTime)).toBeGreaterThan(Date.parse(since));
    expect(manifest.error).toEqual([]);
    expect(manifest.extension).toBeUndefined();
    expect(manifest.output.map((o) => o.type).sort()).toEqual([...TYPES].sort());
    const files = await download(manifest, token);
    for (const type of TYPES) expect(ids(files.get(type)), type).toEqual(expected(type));
    // The content is the stored resource: spot-check against the source.
    const source = loaded.find((l) => l.resource.resourceType === 'Patient')!;
    const exported = files.get('Patient')!.find((p) => p.id === source.id)!;
    expect(exported.name).toEqual(source.resource.name);
    expect(exported.birthDate).toBe(source.resource.birthDate);
    expect(exported.meta.versionId).toBe('1');
  });

  test('_since: only what changed after it (the last four bundles)', async () => {
    const { files } = await exportAll(s.fhirBase, token, `$export?_type=Patient,Encounter&_since=${encodeURIComponent(since)}`);
    expect(ids(files.get('Patient'))).toEqual(expected('Patient', (l) => l.bundle >= 4));
    expect(ids(files.get('Encounter'))).toEqual(expected('Encounter', (l) => l.bundle >= 4));
    expect(expected('Patient', (l) => l.bundle >= 4).length).toBe(4);
  });

  test('_typeFilter: each query through the search compiler, several for a type ORed', async () => {
    const codes = new Map<string, number>();
    for (const l of loaded) if (l.resource.resourceType === 'Observation') for (const c of l.resource.code.coding) codes.set(c.code, (codes.get(c.code) ?? 0) + 1);
    const [a, b] = [...codes].sort((x, y) => y[1] - x[1]).map(([c]) => c);
    const hasCode = (r: Res, code: string) => r.code.coding.some((c: Res) => c.system === 'http://loinc.org' && c.code === code);
    const filters = [`Observation?code=${encodeURIComponent(`http://loinc.org|${a}`)}`, `Observation?code=${encodeURIComponent(`http://loinc.org|${b}`)}`, 'Patient?gender=female'];
    const { files } = await exportAll(s.fhirBase, token, `$export?_type=Observation,Patient,Condition&${filters.map((f) => `_typeFilter=${encodeURIComponent(f)}`).join('&')}`);
    const obs = expected('Observation', (l) => hasCode(l.resource, a) || hasCode(l.resource, b));
    expect(obs.length).toBeGreaterThan(20);
    expect(ids(files.get('Observation'))).toEqual(obs);
    expect(ids(files.get('Patient'))).toEqual(expected('Patient', (l) => l.resource.gender === 'female'));
    // A type without a filter is exported whole.
    expect(ids(files.get('Condition'))).toEqual(expected('Condition'));
  });

  test('_outputFormat: the three NDJSON names are accepted, anything else is a 400', async () => {
    for (const f of ['application/fhir+ndjson', 'application/ndjson', 'ndjson']) {
      await kickoff(s.fhirBase, token, `$export?_type=Patient&_outputFormat=${encodeURIComponent(f)}`);
    }
    const res = await fetch(`${s.fhirBase}/$export?_outputFormat=text/csv`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', prefer: 'respond-async' } });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toMatch(/_outputFormat 'text\/csv' is not supported/);
  });
});

describe('Patient and Group level', () => {
  test('Group/[id]/$export: the compartments of the Group members only', async () => {
    const members = loaded.filter((l) => l.resource.resourceType === 'Patient').slice(0, 2).map((l) => l.id);
    const admin = await s.token('system/*.cruds', TENANT);
    const g = await s.fhir('Group', { token: admin, method: 'POST', json: { resourceType: 'Group', type: 'person', actual: true, member: members.map((m) => ({ entity: { reference: `Patient/${m}` } })) } });
    expect(g.status).toBe(201);
    const group = (await g.json()) as Res;
    const { files } = await exportAll(s.fhirBase, token, `Group/${group.id}/$export?_type=Patient,Encounter`);
    expect(ids(files.get('Patient'))).toEqual([...members].sort());
    expect(ids(files.get('Encounter'))).toEqual(expected('Encounter', (l) => members.includes(patientOf(l.resource) ?? '')));
  });

  test('POST Patient/$export with patient parameters: those patients only; without: every patient', async () => {
    const patient = loaded.filter((l) => l.resource.resourceType === 'Patient')[2].id;
    const body = { resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Condition' }, { name: 'patient', valueReference: { reference: `Patient/${patient}` } }] };
    const { files } = await exportAll(s.fhirBase, token, 'Patient/$export', body);
    expect(ids(files.get('Condition'))).toEqual(expected('Condition', (l) => patientOf(l.resource) === patient));
    const all = await exportAll(s.fhirBase, token, 'Patient/$export?_type=Patient,Condition');
    expect(ids(all.files.get('Condition'))).toEqual(expected('Condition'));
    expect(ids(all.files.get('Patient'))).toEqual(expected('Patient'));
  });

  test('a type outside the Patient compartment is refused at Patient level; patient at system level too', async () => {
    const res = await fetch(`${s.fhirBase}/Patient/$export?_type=Organization`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', prefer: 'respond-async' } });
    expect(res.status).toBe(400);
    const sys = await fetch(`${s.fhirBase}/$export`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', prefer: 'respond-async', 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: 'Patient/x' } }] }),
    });
    expect(sys.status).toBe(400);
  });
});

describe('the protocol', () => {
  test('without Prefer: respond-async, a 400; unknown parameters 400, or listed in the error file with handling=lenient', async () => {
    const noPrefer = await fetch(`${s.fhirBase}/$export`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    expect(noPrefer.status).toBe(400);
    expect(JSON.stringify(await noPrefer.json())).toMatch(/respond-async/);
    const unknown = await fetch(`${s.fhirBase}/$export?_type=Patient&includeAssociatedData=LatestProvenanceResources`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', prefer: 'respond-async' } });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(await unknown.json())).toMatch(/includeAssociatedData is not supported/);
    const status = await kickoff(s.fhirBase, token, '$export?_type=Patient&includeAssociatedData=LatestProvenanceResources', undefined, { prefer: 'respond-async, handling=lenient' });
    const { manifest } = await poll(status, token);
    expect(manifest.error).toHaveLength(1);
    const err = await fetch(manifest.error[0].url, { headers: { authorization: `Bearer ${token}` } });
    const outcome = JSON.parse((await err.text()).trim());
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].diagnostics).toMatch(/includeAssociatedData/);
    expect(manifest.output.map((o) => o.type)).toEqual(['Patient']);
  });

  test('DELETE on the status URL cancels: 202, then 404 for status and files, and the files are gone', async () => {
    const status = await kickoff(s.fhirBase, token, '$export?_type=Patient,Observation');
    const { manifest } = await poll(status, token);
    const jobId = status.split('/').at(-1)!;
    expect(existsSync(join(exportDir, TENANT, jobId))).toBe(true);
    const del = await fetch(status, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(del.status).toBe(202);
    expect((await fetch(status, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    expect((await fetch(manifest.output[0].url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    expect(existsSync(join(exportDir, TENANT, jobId))).toBe(false);
    // A job cancelled while it still waits or runs leaves nothing either.
    const running = await kickoff(s.fhirBase, token, '$export?_type=Observation');
    expect((await fetch(running, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await fetch(running, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    expect(existsSync(join(exportDir, TENANT, running.split('/').at(-1)!))).toBe(false);
  });

  test('status and files answer the requesting client only: another client of the tenant gets 404', async () => {
    const { manifest, status } = await exportAll(s.fhirBase, token, '$export?_type=Patient');
    const other = await (await newClient(s.db, s.baseUrl, TENANT, NAMED)).token();
    expect((await fetch(status, { headers: { authorization: `Bearer ${other}` } })).status).toBe(404);
    expect((await fetch(manifest.output[0].url, { headers: { authorization: `Bearer ${other}` } })).status).toBe(404);
    expect((await fetch(manifest.output[0].url)).status).toBe(401);
    expect((await fetch(manifest.output[0].url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  test('a type the token may not read: 403 when named; left out when not', async () => {
    const named = await fetch(`${s.fhirBase}/$export?_type=Patient,MedicationRequest`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', prefer: 'respond-async' } });
    expect(named.status).toBe(403);
    const { manifest } = await poll(await kickoff(s.fhirBase, token, '$export'), token);
    // The types the token names (the Group written by the Group-level test included).
    expect(manifest.output.map((o) => o.type).sort()).toEqual([...TYPES, 'Group'].sort());
  });

  test('the CapabilityStatement declares Bulk Data and the three $export operations', async () => {
    const cs = (await (await fetch(`${s.fhirBase}/metadata`)).json()) as Res;
    expect(cs.instantiates).toContain('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data');
    expect(cs.rest[0].operation).toContainEqual({ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' });
    const op = (type: string) => cs.rest[0].resource.find((r: Res) => r.type === type).operation;
    expect(op('Patient')).toContainEqual({ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export' });
    expect(op('Group')).toContainEqual({ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export' });
  });
});

describe('access', () => {
  let labelled: string;
  let patient: string;
  beforeAll(async () => {
    patient = loaded.find((l) => l.resource.resourceType === 'Patient')!.id;
    const writer = await s.token('system/Condition.cruds', TENANT);
    const res = await s.fhir('Condition', {
      token: writer,
      method: 'POST',
      json: {
        resourceType: 'Condition',
        meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: '42CFRPart2' }] },
        subject: { reference: `Patient/${patient}` },
        code: { text: 'Opioid use disorder' },
      },
    });
    expect(res.status).toBe(201);
    labelled = ((await res.json()) as Res).id;
  });

  test('a token without access to labelled records does not get them in files', async () => {
    const plain = await (await newClient(s.db, s.baseUrl, TENANT, 'system/*.rs')).token();
    const { files } = await exportAll(s.fhirBase, plain, '$export?_type=Condition');
    expect(ids(files.get('Condition'))).not.toContain(labelled);
    expect(ids(files.get('Condition')).length).toBeGreaterThan(0);
    // The same export by a token that names Condition has it, without the notice (not external).
    const { files: named } = await exportAll(s.fhirBase, token, '$export?_type=Condition');
    const c = named.get('Condition')!.find((r) => r.id === labelled)!;
    expect(c).toBeDefined();
    expect(c.meta.extension ?? []).toEqual([]);
  });

  test('exported to an external organization, a Part 2 record carries the §2.32 notice and the manifest says so', async () => {
    // Part 2 records reach a recipient outside the clinic only under the patient's Consent (issue 13 item 2).
    const admin = await s.token('system/*.cruds', TENANT);
    const consent = await s.fhir('Consent', { token: admin, method: 'POST', json: consentFor(patient, { actor: 'Organization/payer-1' }) });
    expect(consent.status, await consent.text()).toBe(201);
    const payer = await (await newClient(s.db, s.baseUrl, TENANT, NAMED, 'Organization/payer-1', 'HPAYMT')).token();
    const { files, manifest } = await exportAll(s.fhirBase, payer, '$export?_type=Condition,Patient');
    const c = files.get('Condition')!.find((r) => r.id === labelled)!;
    expect(c.meta.extension).toContainEqual({ url: REDISCLOSURE_NOTICE_URL, valueString: REDISCLOSURE_NOTICE });
    const unlabelled = files.get('Condition')!.filter((r) => !r.meta.security?.some((x: Res) => x.code === '42CFRPart2'));
    expect(unlabelled.length).toBeGreaterThan(0);
    for (const r of unlabelled) expect(r.meta.extension ?? []).toEqual([]);
    const ext = manifest.extension?.[REDISCLOSURE_NOTICE_URL];
    expect(ext.notice).toBe(REDISCLOSURE_NOTICE);
    const labelledCount = files.get('Condition')!.length - unlabelled.length;
    expect(ext.files).toEqual([{ url: manifest.output.find((o) => o.type === 'Condition')!.url, count: labelledCount }]);
  });
});

describe('retention', () => {
  test('the sweeper deletes a finished export and its files after EXPORT_RETENTION_MINUTES', async () => {
    const { status } = await exportAll(s.fhirBase, token, '$export?_type=Patient');
    const jobId = status.split('/').at(-1)!;
    await s.server.loops.bulkExportSweep.runOnce();
    expect((await fetch(status, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    s.clock.advance(61 * 60_000);
    expect(await s.server.loops.bulkExportSweep.runOnce()).toBeGreaterThan(0);
    expect((await fetch(status, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    expect(existsSync(join(exportDir, TENANT, jobId))).toBe(false);
  });
});

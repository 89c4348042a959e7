import type { AuditEvent, Bundle, Consent, Resource } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Manifest, kickoff, poll } from '../bulk/support.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import { PART2, PAYER, R, TENANT, backendClients, consentFor, create } from './fixture.ts';

/**
 * Issue 13 item 5 on the Bulk Data path: each download of an $export file by a recipient outside
 * the treating clinic (a backend client registered with --organization, token from /auth/token)
 * is a disclosure, listed by Patient/[id]/$disclosures for the patient and for a privacy officer:
 * the resources of that file carrying the patient's data, the organization, the client, the
 * purpose and the export job. A re-download is another disclosure; a failed download and an
 * internal client's downloads are none.
 */
const SUBTYPE = 'http://bh-fhir.org/fhir/CodeSystem/audit-event-subtype';
const JOB_SYSTEM = 'http://bh-fhir.org/fhir/sid/bulk-export-job';

let s: TestServer;
let payerClient: string;
let payer: string;
let internal: string;
let patientA: string;
let patientB: string;
const obs = { a: '', aPart2: '', b: '', bPart2: '' };
let job: string;
let manifest: Manifest;
/** Each downloaded file of the payer's export: its resources as NDJSON lines parsed. */
const files = new Map<string, Resource[]>();
let internalJob: string;
let exportDir: string;

const jobOf = (statusUrl: string) => statusUrl.split('/').pop() as string;
const fileName = (url: string) => url.split('/').pop() as string;

async function downloadFile(url: string, token: string): Promise<{ status: number; resources: Resource[] }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+ndjson' } });
  const text = await res.text();
  return { status: res.status, resources: res.status === 200 ? text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Resource) : [] };
}

beforeAll(async () => {
  exportDir = mkdtempSync(join(tmpdir(), 'export-accounting-'));
  s = await startTestServer({ EXPORT_DIR: exportDir });
  await s.ensureTenant(TENANT);
  const admin = await s.token('system/*.cruds', TENANT);
  await create(s, admin, { resourceType: 'Organization', id: 'payer', name: 'Payer' });
  patientA = (await create(s, admin, { resourceType: 'Patient', name: [{ family: 'Accounted' }] })).id;
  patientB = (await create(s, admin, { resourceType: 'Patient', name: [{ family: 'Bystander' }] })).id;
  await create(s, admin, consentFor(patientA, { labels: [PART2, R] }) as Consent);
  const observation = async (patient: string, text: string, extra: object = {}) =>
    (await create(s, admin, { resourceType: 'Observation', status: 'final', subject: { reference: `Patient/${patient}` }, effectiveDateTime: '2024-05-01', code: { text }, ...extra } as Resource)).id;
  obs.a = await observation(patientA, 'plain A');
  obs.aPart2 = await observation(patientA, 'part2 A', { meta: { security: [PART2, R] } });
  obs.b = await observation(patientB, 'plain B');
  obs.bPart2 = await observation(patientB, 'part2 B', { meta: { security: [PART2, R] } });
  const { register, token } = await backendClients(s);
  payerClient = await register('--organization', PAYER, '--purposes', 'HPAYMT');
  payer = await token(payerClient, 'system/*.rs purpose/HPAYMT');
  internal = await s.token('system/*.rs', TENANT);

  // The clinic's own system client exports and downloads first: no disclosure.
  const internalStatus = await kickoff(s.fhirBase, internal, 'Patient/$export');
  internalJob = jobOf(internalStatus);
  const done = await poll(internalStatus, internal);
  expect(done.manifest.output.length).toBeGreaterThan(0);
  for (const o of done.manifest.output) expect((await downloadFile(o.url, internal)).status).toBe(200);

  // The payer: a Patient-level export, every file downloaded once.
  const status = await kickoff(s.fhirBase, payer, 'Patient/$export');
  job = jobOf(status);
  manifest = (await poll(status, payer)).manifest;
  for (const o of manifest.output) {
    const got = await downloadFile(o.url, payer);
    expect(got.status).toBe(200);
    files.set(fileName(o.url), got.resources);
  }
}, 120_000);

afterAll(async () => {
  await s?.close();
  rmSync(exportDir, { recursive: true, force: true });
});

const patientToken = (p: string) => s.personToken({ tenant: TENANT, scope: 'patient/*.rs', fhirUser: `Patient/${p}`, roles: ['patient'], patient: p });
const officerToken = () => s.personToken({ tenant: TENANT, scope: 'user/Patient.rs user/AuditEvent.rs', fhirUser: 'Practitioner/privacy-officer', roles: ['privacy-officer'] });

/** The audit trail is written in batches (~100 ms): the patient's accounting once it holds `n` disclosures. */
async function listed(patient: string, token: string, n: number): Promise<AuditEvent[]> {
  for (let i = 0; ; i++) {
    const res = await s.fhir(`Patient/${patient}/$disclosures?_count=100`, { token });
    expect(res.status).toBe(200);
    const events = (((await res.json()) as Bundle<AuditEvent>).entry ?? []).map((e) => e.resource as AuditEvent);
    if (events.length >= n || i > 40) return events;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const jobEntity = (e: AuditEvent) => e.entity?.find((x) => x.role?.code === '20');
const disclosed = (e: AuditEvent) => (e.entity ?? []).filter((x) => x.role?.code === '4').map((x) => x.what?.reference).sort();
const subjectOf = (r: Resource) => (r.resourceType === 'Patient' ? r.id : (r as { subject?: { reference?: string }; patient?: { reference?: string } }).subject?.reference?.split('/')[1] ?? (r as { patient?: { reference?: string } }).patient?.reference?.split('/')[1]);
/** From the files as downloaded: per file, the resources carrying `patient`'s data, as Type/id/_history/v. */
function expectedFor(patient: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, rs] of files) {
    const mine = rs.filter((r) => subjectOf(r) === patient).map((r) => `${r.resourceType}/${r.id}/_history/${r.meta?.versionId}`);
    if (mine.length) out.set(name, mine.sort());
  }
  return out;
}

describe('$export downloads in the accounting of disclosures', () => {
  test("the payer's files hold A's consented Part 2 record, not B's", () => {
    const ids = (files.get('Observation.ndjson') ?? []).map((r) => r.id).sort();
    expect(ids).toEqual([obs.a, obs.aPart2, obs.b].sort());
    expect([...files.keys()]).toEqual(expect.arrayContaining(['Patient.ndjson', 'Observation.ndjson']));
  });

  test("the patient's $disclosures lists one disclosure per file downloaded: its resources, the organization, the client, the purpose, the job", async () => {
    const want = expectedFor(patientA);
    expect(want.get('Observation.ndjson')).toEqual([`Observation/${obs.a}/_history/1`, `Observation/${obs.aPart2}/_history/1`].sort());
    expect(want.get('Patient.ndjson')).toEqual([`Patient/${patientA}/_history/1`]);
    const events = await listed(patientA, await patientToken(patientA), want.size);
    expect(events).toHaveLength(want.size);
    const byFile = new Map(events.map((e) => [jobEntity(e)?.description, e]));
    for (const [name, refs] of want) {
      const e = byFile.get(`$export file ${name}`) as AuditEvent;
      expect(e, name).toBeDefined();
      expect(disclosed(e), name).toEqual(refs);
      expect(jobEntity(e)?.what?.identifier).toEqual({ system: JOB_SYSTEM, value: job });
      expect(e.subtype).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'operation' }), expect.objectContaining({ system: SUBTYPE, code: 'disclosure' })]));
      expect(e.outcome).toBe('0');
      expect(e.purposeOfEvent?.[0]?.coding?.[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HPAYMT' });
      expect(e.agent?.find((a) => a.who?.reference === PAYER)?.type?.coding?.[0]?.code).toBe('IRCP');
      expect(e.agent?.some((a) => a.who?.identifier?.value === payerClient)).toBe(true);
      expect(e.entity?.some((x) => x.what?.reference === `Patient/${patientA}` && x.role?.code === '1')).toBe(true);
      // B's records left in the same files: never in A's accounting.
      expect(JSON.stringify(e)).not.toContain(patientB);
    }
  });

  test("a privacy officer sees the same; B's accounting holds B's records only; the internal client's export is no disclosure", async () => {
    const officer = await officerToken();
    const forA = await listed(patientA, officer, expectedFor(patientA).size);
    expect(forA.map((e) => e.id).sort()).toEqual((await listed(patientA, await patientToken(patientA), 0)).map((e) => e.id).sort());
    const wantB = expectedFor(patientB);
    const forB = await listed(patientB, officer, wantB.size);
    expect(forB).toHaveLength(wantB.size);
    for (const e of forB) {
      const name = (jobEntity(e)?.description ?? '').replace('$export file ', '');
      expect(disclosed(e)).toEqual(wantB.get(name));
      expect(JSON.stringify(e)).not.toContain(obs.bPart2);
      expect(JSON.stringify(e)).not.toContain(patientA);
    }
    // The internal downloads were audited before the payer's (one buffer, flushed in order), as plain operations.
    const admin = await s.token('system/*.cruds', TENANT);
    const all = await s.fhir(`AuditEvent?subtype=${SUBTYPE}|disclosure&_count=200`, { token: admin });
    const events = (((await all.json()) as Bundle<AuditEvent>).entry ?? []).map((x) => x.resource as AuditEvent);
    expect(events.filter((e) => jobEntity(e)).every((e) => jobEntity(e)?.what?.identifier?.value === job)).toBe(true);
    expect(JSON.stringify(events)).not.toContain(internalJob);
    expect(events.filter((e) => jobEntity(e))).toHaveLength(manifest.output.length);
  });

  test('a re-download is another disclosure; a failed download is none', async () => {
    const officer = await officerToken();
    const before = (await listed(patientA, officer, expectedFor(patientA).size)).length;
    const url = manifest.output.find((o) => o.type === 'Observation')?.url as string;
    expect((await downloadFile(url.replace('Observation.ndjson', 'Condition.ndjson'), payer)).status).toBe(404);
    expect((await downloadFile(url, payer)).status).toBe(200);
    const after = await listed(patientA, officer, before + 1);
    expect(after).toHaveLength(before + 1);
    const obsEvents = after.filter((e) => jobEntity(e)?.description === '$export file Observation.ndjson');
    expect(obsEvents).toHaveLength(2);
    for (const e of obsEvents) expect(disclosed(e)).toEqual([`Observation/${obs.a}/_history/1`, `Observation/${obs.aPart2}/_history/1`].sort());
  });
});

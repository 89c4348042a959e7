import type { Bundle, Consent, Resource } from '@medplum/fhirtypes';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { requestToken } from '../../server/src/cli/backend-key.ts';
import { runCli } from '../../server/src/cli/run.ts';
import type { Database } from '../../server/src/db/database.ts';
import type { TestServer } from '../support/server.ts';

/**
 * The seeded tenant of the disclosure tests (issue 13 items 2 and 4): patients in every consent
 * state, each with records in every label class, and backend clients registered with their
 * recipient organization and purposes through the CLI, whose tokens come from /auth/token.
 */
export const TENANT = 'disclosure';
export const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
export const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
export const NOTICE_URL = 'http://bh-fhir.org/fhir/StructureDefinition/redisclosure-notice';
export const PART2 = { system: ACT_CODE, code: '42CFRPart2' };
export const R = { system: CONFIDENTIALITY, code: 'R' };
export const PSY = { system: ACT_CODE, code: 'PSYTHPN' };
export const PAYER = 'Organization/payer';
export const OTHER = 'Organization/other-payer';
export const PROGRAM = 'Organization/sud-program';
const PART2_PROGRAM = { system: 'http://bh-fhir.org/fhir/CodeSystem/part2-program', code: 'part2-program' };
export const LOCAL = 'http://example.org/disclosure-test';

export type State = 'none' | 'active' | 'expired' | 'revoked' | 'rejected' | 'period' | 'labels' | 'deny';
export const STATES: State[] = ['none', 'active', 'expired', 'revoked', 'rejected', 'period', 'labels', 'deny'];

/** plain: no label; panel: unlabelled, hasMember → the part2 Observation; part2/enc: written in a Part 2 program's Encounter; sud: Condition F11.20 (labelled by content); r: explicit R; psy: PSYTHPN. */
export type Kind = 'plain' | 'panel' | 'part2' | 'enc' | 'sud' | 'r' | 'psy';
export const KINDS: Kind[] = ['plain', 'panel', 'part2', 'enc', 'sud', 'r', 'psy'];
const LABELS: Record<Kind, string[]> = { plain: [], panel: [], part2: ['42CFRPart2', 'R'], enc: ['42CFRPart2', 'R'], sud: ['42CFRPart2', 'R'], r: ['R'], psy: ['PSYTHPN'] };
export const TYPE: Record<Kind, string> = { plain: 'Observation', panel: 'Observation', part2: 'Observation', enc: 'Encounter', sud: 'Condition', r: 'Observation', psy: 'Observation' };

/** What each state's Consent (for PAYER, purpose HPAYMT) covers; undefined: it opens nothing. */
const GRANT: Record<State, { labels: string[]; dated: boolean; denied: string[] } | undefined> = {
  none: undefined,
  active: { labels: ['42CFRPart2', 'R'], dated: true, denied: [] },
  expired: undefined,
  revoked: undefined,
  rejected: undefined,
  period: { labels: ['42CFRPart2', 'R'], dated: false, denied: [] },
  labels: { labels: ['R'], dated: true, denied: [] },
  deny: { labels: ['42CFRPart2', 'R'], dated: true, denied: ['42CFRPart2'] },
};

export interface Recipient {
  name: string;
  token: string;
  external: boolean;
  /** A backend client with system scopes (the matrix runs $export for these). */
  system?: boolean;
  /** Whether the record of `state`, `kind` may be given to this recipient. */
  sees(state: State, kind: Kind): boolean;
}

/** The consent rule, written out independently of the server: external recipient of PAYER for HPAYMT. */
export function consented(state: State, kind: Kind): boolean {
  const labels = LABELS[kind];
  if (labels.length === 0) return true;
  const g = GRANT[state];
  return Boolean(g && g.dated && labels.every((l) => g.labels.includes(l)) && !labels.some((l) => g.denied.includes(l)));
}
export const unlabelled = (kind: Kind): boolean => LABELS[kind].length === 0;

export interface Seeded {
  patients: Record<State, string>;
  records: Record<State, Record<Kind, string>>;
  consents: Partial<Record<State, Consent>>;
}

export const marker = (state: State, kind: Kind) => `DISCLOSURE-${state}-${kind}-MARK`;

export function consentFor(patient: string, o: { status?: Consent['status']; period?: { start?: string; end?: string }; dataPeriod?: { start?: string; end?: string }; labels?: { system: string; code: string }[]; purposes?: string[]; actor?: string; deny?: object[] }): Consent {
  return {
    resourceType: 'Consent',
    status: o.status ?? 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patient}` },
    dateTime: '2024-01-01',
    organization: [{ reference: 'Organization/clinic' }],
    policy: [{ uri: 'https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2' }],
    provision: {
      type: 'permit',
      period: o.period ?? { start: '2024-01-01' },
      actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: o.actor ?? PAYER } }],
      purpose: (o.purposes ?? ['HPAYMT']).map((code) => ({ system: ACT_REASON, code })),
      securityLabel: o.labels ?? [PART2, R, PSY],
      ...(o.dataPeriod ? { dataPeriod: o.dataPeriod } : {}),
      ...(o.deny ? { provision: o.deny } : {}),
    },
  } as Consent;
}

function consentOf(state: State, patient: string): Consent | undefined {
  const year = { start: '2024-01-01', end: '2024-12-31' };
  switch (state) {
    case 'none':
      return undefined;
    case 'active':
      return consentFor(patient, { dataPeriod: year });
    case 'expired':
      return consentFor(patient, { period: { start: '2023-01-01', end: '2024-06-30' } });
    case 'revoked':
      return consentFor(patient, { status: 'inactive' });
    case 'rejected':
      return consentFor(patient, { status: 'rejected' });
    case 'period':
      return consentFor(patient, { dataPeriod: { start: '2020-01-01', end: '2020-12-31' } });
    case 'labels':
      return consentFor(patient, { labels: [R] });
    case 'deny':
      return consentFor(patient, { deny: [{ type: 'deny', securityLabel: [PART2] }] });
  }
}

export async function cli(s: TestServer, ...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const db: Database = { ...s.db, query: s.db.query.bind(s.db), transaction: s.db.transaction.bind(s.db), close: async () => undefined };
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l), openDb: async () => db });
  return { code, out, err };
}

/** Backend clients registered by the CLI, tokens through the real /auth/token (private_key_jwt). */
export async function backendClients(s: TestServer) {
  const dir = mkdtempSync(join(tmpdir(), 'disclosure-'));
  const keyFile = join(dir, 'client.jwk');
  const jwksFile = join(dir, 'client.jwks');
  const kg = await cli(s, 'client', 'keygen', '--out', keyFile);
  expect(kg.code).toBe(0);
  writeFileSync(jwksFile, kg.out.join('\n'));
  const register = async (...extra: string[]) => {
    const r = await cli(s, 'client', 'register', '--tenant', TENANT, '--name', 'recipient', '--jwks-file', jwksFile, '--scope', 'system/*.rs system/Subscription.cruds', ...extra);
    expect(r.code, r.err.join('\n')).toBe(0);
    return r.out[0];
  };
  const token = async (clientId: string, scope: string) => {
    const r = await requestToken({ baseUrl: s.baseUrl, clientId, key: { jwk: JSON.parse(readFileSync(keyFile, 'utf8')) }, scope });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.access_token as string;
  };
  return { register, token };
}

export async function create<T extends Resource>(s: TestServer, token: string, resource: T): Promise<T & { id: string }> {
  const res = await s.fhir(resource.id ? `${resource.resourceType}/${resource.id}` : resource.resourceType, { token, method: resource.id ? 'PUT' : 'POST', json: resource });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBeLessThan(300);
  return body as T & { id: string };
}

export async function seed(s: TestServer, admin: string): Promise<Seeded> {
  await create(s, admin, { resourceType: 'Organization', id: 'clinic', name: 'Clinic' });
  await create(s, admin, { resourceType: 'Organization', id: 'payer', name: 'Payer' });
  await create(s, admin, { resourceType: 'Organization', id: 'other-payer', name: 'Other payer' });
  await create(s, admin, { resourceType: 'Organization', id: 'sud-program', name: 'SUD program', partOf: { reference: 'Organization/clinic' }, type: [{ coding: [PART2_PROGRAM] }] });
  const patients = {} as Record<State, string>;
  const records = {} as Record<State, Record<Kind, string>>;
  const consents: Partial<Record<State, Consent>> = {};
  for (const state of STATES) {
    const p = (await create(s, admin, { resourceType: 'Patient', name: [{ family: `Disclosure-${state}` }] })).id;
    patients[state] = p;
    const subject = { reference: `Patient/${p}` };
    const obs = (kind: Kind, extra: object = {}) => ({ resourceType: 'Observation', status: 'final', subject, effectiveDateTime: '2024-03-01', code: { coding: [{ system: LOCAL, code: kind }], text: marker(state, kind) }, ...extra }) as Resource;
    const enc = await create(s, admin, { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject, serviceProvider: { reference: PROGRAM }, period: { start: '2024-03-01', end: '2024-03-01' }, type: [{ text: marker(state, 'enc') }] } as Resource);
    const part2 = await create(s, admin, obs('part2', { encounter: { reference: `Encounter/${enc.id}` } }));
    const r: Record<Kind, string> = {
      enc: enc.id,
      part2: part2.id,
      plain: (await create(s, admin, obs('plain'))).id,
      panel: (await create(s, admin, obs('panel', { hasMember: [{ reference: `Observation/${part2.id}` }] }))).id,
      sud: (await create(s, admin, { resourceType: 'Condition', subject, recordedDate: '2024-03-01', code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'F11.20' }], text: marker(state, 'sud') } } as Resource)).id,
      r: (await create(s, admin, obs('r', { meta: { security: [R] } }))).id,
      psy: (await create(s, admin, obs('psy', { meta: { security: [PSY] } }))).id,
    };
    records[state] = r;
    const c = consentOf(state, p);
    if (c) consents[state] = await create(s, admin, c);
  }
  return { patients, records, consents };
}

/** Every resource in a body (the body, Bundle entries, nested Bundles). */
export function resourcesIn(body: unknown): Resource[] {
  const r = body as Resource | undefined;
  if (!r || typeof r !== 'object' || !r.resourceType) return [];
  if (r.resourceType === 'Bundle') return [r, ...((r as Bundle).entry ?? []).flatMap((e) => resourcesIn(e.resource))];
  return [r];
}

export const isPart2 = (r: Resource) => Boolean(r.meta?.security?.some((l) => l.system === ACT_CODE && l.code === '42CFRPart2'));
export const hasNotice = (r: Resource) => Boolean(r.meta?.extension?.some((e) => e.url === NOTICE_URL && typeof e.valueString === 'string' && e.valueString.includes('42 CFR part 2')));

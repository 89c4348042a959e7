import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

/**
 * Care relationships end (issue 10 item 7; server/src/access/reach.ts): a clinician reaches a
 * patient through an active CareTeam membership (team active, team period and her
 * participant.period not ended), an EpisodeOfCare that is open or ended within REACH_EPISODE_DAYS
 * (default 90), or an Encounter within REACH_ENCOUNTER_DAYS (default 365). Anything older reaches
 * nobody: the patient answers 404 and is absent from searches.
 */
const TENANT = 'reach';
let s: TestServer;
let clinician: string;
const patients: Record<string, string> = {};

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

beforeAll(async () => {
  s = await startTestServer();
  const sys = await s.token('system/*.cruds', TENANT);
  const create = async (json: Record<string, unknown>) => {
    const res = await s.fhir(String(json.resourceType), { method: 'POST', token: sys, json });
    if (res.status !== 201) throw new Error(`create ${String(json.resourceType)}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  };
  const practitioner = await create({ resourceType: 'Practitioner', name: [{ family: 'Reach' }] });
  const me = { reference: `Practitioner/${practitioner}` };
  const patient = async (key: string) => (patients[key] = await create({ resourceType: 'Patient', name: [{ family: key }] }));
  const encounter = async (key: string, period?: { start?: string; end?: string }, status = 'finished') =>
    create({
      resourceType: 'Encounter',
      status,
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: `Patient/${await patient(key)}` },
      participant: [{ individual: me }],
      ...(period ? { period } : {}),
    });
  await encounter('encounterTwoYearsAgo', { start: ago(730), end: ago(730) });
  await encounter('encounterLastWeek', { start: ago(7), end: ago(7) });
  await encounter('encounterStartedTwoYearsAgoNeverEnded', { start: ago(730) }, 'in-progress');
  await encounter('encounterCancelled', { start: ago(1), end: ago(1) }, 'cancelled');
  const careTeam = async (key: string, team: Record<string, unknown>, participantPeriod?: { start?: string; end?: string }) =>
    create({
      resourceType: 'CareTeam',
      status: 'active',
      subject: { reference: `Patient/${await patient(key)}` },
      participant: [{ member: me, ...(participantPeriod ? { period: participantPeriod } : {}) }],
      ...team,
    });
  await careTeam('teamActive', {});
  await careTeam('teamMembershipEnded', {}, { start: ago(400), end: ago(30) });
  await careTeam('teamMembershipRunning', {}, { start: ago(400), end: new Date(Date.now() + 30 * DAY).toISOString() });
  await careTeam('teamPeriodEnded', { period: { start: ago(400), end: ago(2) } });
  const episode = async (key: string, status: string, period?: { start?: string; end?: string }) =>
    create({ resourceType: 'EpisodeOfCare', status, patient: { reference: `Patient/${await patient(key)}` }, careManager: me, ...(period ? { period } : {}) });
  await episode('episodeActive', 'active', { start: ago(800) });
  await episode('episodeEndedLastMonth', 'finished', { start: ago(300), end: ago(30) });
  await episode('episodeEndedLastYear', 'finished', { start: ago(700), end: ago(365) });
  clinician = await s.personToken({ tenant: TENANT, scope: 'user/*.rs', fhirUser: `Practitioner/${practitioner}`, userId: 'reach-user', roles: ['clinician'] });
}, 60_000);
afterAll(async () => s?.close());

const REACHED = ['encounterLastWeek', 'teamActive', 'teamMembershipRunning', 'episodeActive', 'episodeEndedLastMonth'];
const NOT_REACHED = ['encounterTwoYearsAgo', 'encounterStartedTwoYearsAgoNeverEnded', 'encounterCancelled', 'teamMembershipEnded', 'teamPeriodEnded', 'episodeEndedLastYear'];

describe('reach follows active care relationships', () => {
  test('a search for patients returns exactly those with a current relationship', async () => {
    const res = await s.fhir('Patient?_count=100', { token: clinician });
    expect(res.status).toBe(200);
    const ids = (((await res.json()) as Bundle).entry ?? []).map((e) => e.resource?.id as string).sort();
    expect(ids).toEqual(REACHED.map((k) => patients[k]).sort());
  });

  test.each(REACHED)('%s: the patient is read (200)', async (key) => {
    expect((await s.fhir(`Patient/${patients[key]}`, { token: clinician })).status).toBe(200);
  });

  test.each(NOT_REACHED)('%s: the patient answers 404, as if missing', async (key) => {
    expect((await s.fhir(`Patient/${patients[key]}`, { token: clinician })).status).toBe(404);
  });
});

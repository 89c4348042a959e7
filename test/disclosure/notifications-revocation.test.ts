import type { Bundle, Consent, Resource, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { type Receiver, startReceiver } from '../subscriptions/receiver.ts';
import { topicSubscription } from '../subscriptions/subscription-fixtures.ts';
import { OTHER, PAYER, PART2, PSY, R, TENANT, backendClients, consentFor, create, hasNotice, isPart2, resourcesIn } from './fixture.ts';

/**
 * The disclosure rule on the paths that are not a request's answer: subscription notifications
 * (rest-hook, full-resource, to a loopback receiver) filtered per subscriber's stored principal,
 * which for a backend client carries its organization and purpose; and a patient revoking a
 * Consent, after which the recipient's next request and next notification leave the records out.
 */
const TOPIC = 'http://bh-fhir.org/fhir/SubscriptionTopic/resource/Observation';
const PROGRAM = { system: 'http://bh-fhir.org/fhir/CodeSystem/part2-program', code: 'part2-program' };

let s: TestServer;
let rx: Receiver;
let admin: string;
const patient = { consenting: '', none: '' };
let encounter = { consenting: '', none: '' };
let consent: Consent & { id: string };
const subs: Record<'payer' | 'other' | 'internal', { token: string; id: string; external: boolean }> = {} as never;

beforeAll(async () => {
  s = await startTestServer({ SUBSCRIPTION_POLL_MS: '0' });
  rx = await startReceiver();
  await s.ensureTenant(TENANT);
  admin = await s.token('system/*.cruds', TENANT);
  await create(s, admin, { resourceType: 'Organization', id: 'clinic', name: 'Clinic' });
  await create(s, admin, { resourceType: 'Organization', id: 'payer', name: 'Payer' });
  await create(s, admin, { resourceType: 'Organization', id: 'sud-program', name: 'SUD program', type: [{ coding: [PROGRAM] }] } as Resource);
  for (const k of ['consenting', 'none'] as const) {
    patient[k] = (await create(s, admin, { resourceType: 'Patient', name: [{ family: k }] })).id;
  }
  const enc = async (p: string) =>
    (await create(s, admin, { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${p}` }, serviceProvider: { reference: 'Organization/sud-program' }, period: { start: '2024-05-01' } } as Resource)).id;
  encounter = { consenting: await enc(patient.consenting), none: await enc(patient.none) };
  consent = await create(s, admin, consentFor(patient.consenting, { dataPeriod: { start: '2024', end: '2024' }, labels: [PART2, R] }));
  const { register, token } = await backendClients(s);
  const payer = await register('--organization', PAYER, '--purposes', 'HPAYMT');
  const other = await register('--organization', OTHER, '--purposes', 'HPAYMT');
  const tokens = {
    payer: await token(payer, 'system/*.rs system/Subscription.cruds purpose/HPAYMT'),
    other: await token(other, 'system/*.rs system/Subscription.cruds purpose/HPAYMT'),
    internal: await s.token('system/*.rs system/Subscription.cruds', TENANT),
  };
  for (const name of ['payer', 'other', 'internal'] as const) {
    const sub = await create(s, tokens[name], topicSubscription(TOPIC, `${rx.url}/${name}`, 'full-resource') as Subscription);
    subs[name] = { token: tokens[name], id: sub.id, external: name !== 'internal' };
  }
  await s.server.loops.subscriptions.runOnce();
  await rx.waitFor(3);
}, 120_000);

afterAll(async () => {
  await rx?.close();
  await s?.close();
});

async function observation(p: 'consenting' | 'none', mark: string, extra: object = {}): Promise<string> {
  const o = await create(s, admin, { resourceType: 'Observation', status: 'final', subject: { reference: `Patient/${patient[p]}` }, effectiveDateTime: '2024-05-01', code: { text: mark }, ...extra } as Resource);
  return o.id;
}

/** Runs delivery until every subscription has been sent all its events; returns what each endpoint got since `from`. */
async function deliverAll(from: number): Promise<Record<string, Resource[]>> {
  const out: Record<string, Resource[]> = { payer: [], other: [], internal: [] };
  for (let i = 0; i < 50; i++) {
    await s.server.loops.subscriptions.runOnce();
    const rows = await s.db.query<{ pending: string }>(`SELECT count(*)::text AS pending FROM subscription WHERE tenant = $1 AND delivered_through < events_since_start`, [TENANT]);
    if (rows.rows[0].pending === '0') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const got of rx.received.slice(from)) {
    const name = got.path.split('/').pop() as string;
    out[name].push(...resourcesIn(got.json as Bundle).filter((r) => r.resourceType !== 'Bundle' && r.resourceType !== 'Parameters'));
  }
  for (const [name, sub] of Object.entries(subs)) {
    const text = rx.received.slice(from).filter((g) => g.path.endsWith(`/${name}`)).map((g) => g.body).join('\n');
    (out as Record<string, unknown>)[`${name}:text`] = text;
    for (const r of out[name]) expect(hasNotice(r), `${name}: ${r.resourceType}/${r.id}`).toBe(sub.external && isPart2(r));
  }
  return out;
}

describe('subscription notifications', () => {
  test("a backend client's Subscription stores its organization and purpose of use", async () => {
    const { rows } = await s.db.query<{ principal: unknown }>('SELECT principal FROM subscription WHERE tenant = $1 AND id = $2', [TENANT, subs.payer.id]);
    const principal = typeof rows[0].principal === 'string' ? JSON.parse(rows[0].principal) : rows[0].principal;
    expect(principal).toMatchObject({ organization: PAYER, purposeOfUse: 'HPAYMT' });
  });

  test('full-resource notifications carry only what each subscriber may get; Part 2 records with the notice to the consented recipient', async () => {
    const from = rx.received.length;
    const ids = {
      part2: await observation('consenting', 'SUB-consenting-part2', { encounter: { reference: `Encounter/${encounter.consenting}` } }),
      old: await observation('consenting', 'SUB-consenting-outside-dataPeriod', { encounter: { reference: `Encounter/${encounter.consenting}` }, effectiveDateTime: '2019-05-01' }),
      psy: await observation('consenting', 'SUB-consenting-psy', { meta: { security: [PSY] } }),
      plain: await observation('consenting', 'SUB-consenting-plain'),
      nonePart2: await observation('none', 'SUB-none-part2', { encounter: { reference: `Encounter/${encounter.none}` } }),
      nonePlain: await observation('none', 'SUB-none-plain'),
    };
    const got = await deliverAll(from);
    const idsOf = (name: string) => got[name].map((r) => r.id).sort();
    expect(idsOf('payer')).toEqual([ids.part2, ids.plain, ids.nonePlain].sort());
    expect(idsOf('other')).toEqual([ids.plain, ids.nonePlain].sort());
    expect(idsOf('internal')).toEqual([ids.plain, ids.nonePlain].sort());
    const text = got as unknown as Record<string, string>;
    for (const hidden of ['SUB-consenting-outside-dataPeriod', 'SUB-consenting-psy', 'SUB-none-part2']) {
      for (const name of ['payer', 'other', 'internal']) expect(text[`${name}:text`].includes(hidden), `${name} got ${hidden}`).toBe(false);
    }
    for (const name of ['other', 'internal']) expect(text[`${name}:text`].includes('SUB-consenting-part2'), name).toBe(false);
    const part2 = got.payer.find((r) => r.id === ids.part2) as Resource;
    expect(isPart2(part2) && hasNotice(part2)).toBe(true);
    expect(part2.meta?.security?.some((l) => l.code === 'NORDSCLCD')).toBe(true);
  });
});

describe('a patient revokes a Consent', () => {
  const patientToken = () =>
    s.personToken({ tenant: TENANT, scope: 'patient/*.rs patient/Consent.cu', fhirUser: `Patient/${patient.consenting}`, roles: ['patient'], patient: patient.consenting });
  const put = async (token: string, c: Consent) => s.fhir(`Consent/${c.id}`, { token, method: 'PUT', json: c });
  const message = async (res: Response) => JSON.stringify(await res.json());

  test('the patient reads their Consents; anything but setting status to inactive is 403 and says so', async () => {
    const token = await patientToken();
    const list = (await (await s.fhir(`Consent?patient=Patient/${patient.consenting}`, { token })).json()) as Bundle<Consent>;
    expect(list.entry?.map((e) => e.resource?.id)).toEqual([consent.id]);
    const current = list.entry?.[0]?.resource as Consent;
    const widened = { ...current, status: 'inactive', provision: { ...current.provision, purpose: [...(current.provision?.purpose ?? []), { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HRESCH' }] } } as Consent;
    for (const [why, body] of [
      ['another change besides the status', widened],
      ['a status other than inactive', { ...current, status: 'rejected' } as Consent],
    ] as const) {
      const res = await put(token, body);
      expect(res.status, why).toBe(403);
      expect(await message(res), why).toMatch(/only revoke their own Consent/);
    }
    const created = await s.fhir('Consent', { token, method: 'POST', json: consentFor(patient.consenting, {}) });
    expect(created.status).toBe(403);
    expect(await message(created)).toMatch(/only revoke their own Consent/);
    const other = await s.fhir(`Consent?patient=Patient/${patient.none}`, { token });
    expect(((await other.json()) as Bundle).entry ?? []).toHaveLength(0);
  });

  test('after the revocation the recipient gets the records no more: next read, search and notification', async () => {
    const payer = subs.payer.token;
    const part2 = await observation('consenting', 'REV-before', { encounter: { reference: `Encounter/${encounter.consenting}` } });
    const before = await s.fhir(`Observation/${part2}`, { token: payer });
    expect(before.status).toBe(200);
    expect(hasNotice((await before.json()) as Resource)).toBe(true);
    await deliverAll(rx.received.length);

    const token = await patientToken();
    const current = (await (await s.fhir(`Consent/${consent.id}`, { token })).json()) as Consent;
    const revoked = await put(token, { ...current, status: 'inactive' });
    expect(revoked.status, await revoked.clone().text()).toBe(200);
    expect(((await revoked.json()) as Consent).status).toBe('inactive');

    // The same token, whose policy was cached before: the change reached it at once.
    expect((await s.fhir(`Observation/${part2}`, { token: payer })).status).toBe(404);
    const search = await (await s.fhir(`Observation?patient=Patient/${patient.consenting}&_count=100`, { token: payer })).text();
    expect(search.includes(part2)).toBe(false);
    expect(search.includes('REV-before')).toBe(false);
    const from = rx.received.length;
    const after = await observation('consenting', 'REV-after', { encounter: { reference: `Encounter/${encounter.consenting}` } });
    const got = await deliverAll(from);
    expect(got.payer.map((r) => r.id)).not.toContain(after);
    expect((got as unknown as Record<string, string>)['payer:text'].includes('REV-after')).toBe(false);
  });
});

describe('a Consent naming the recipient client by identifier', () => {
  test('opens the records to that client only, not to another client of the same organization', async () => {
    const { register, token } = await backendClients(s);
    const named = await register('--organization', 'Organization/lab', '--purposes', 'HPAYMT');
    const sibling = await register('--organization', 'Organization/lab', '--purposes', 'HPAYMT');
    const c = consentFor(patient.none, { labels: [PART2, R] });
    (c.provision?.actor ?? [])[0].reference = { identifier: { system: 'http://bh-fhir.org/fhir/sid/oauth-client-id', value: named } };
    await create(s, admin, c);
    const record = await observation('none', 'BY-CLIENT-ID', { encounter: { reference: `Encounter/${encounter.none}` } });
    const mine = await s.fhir(`Observation/${record}`, { token: await token(named, 'system/*.rs purpose/HPAYMT') });
    expect(mine.status).toBe(200);
    const body = (await mine.json()) as Resource;
    expect(isPart2(body) && hasNotice(body)).toBe(true);
    expect((await s.fhir(`Observation/${record}`, { token: await token(sibling, 'system/*.rs purpose/HPAYMT') })).status).toBe(404);
  });
});

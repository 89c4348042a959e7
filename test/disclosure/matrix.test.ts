import type { Bundle, Resource } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { kickoff, poll } from '../bulk/support.ts';
import { type TestServer, startTestServer } from '../support/server.ts';
import {
  KINDS,
  LOCAL,
  NOTICE_URL,
  OTHER,
  PAYER,
  type Kind,
  type Recipient,
  STATES,
  type Seeded,
  type State,
  TENANT,
  TYPE,
  backendClients,
  consented,
  create,
  hasNotice,
  isPart2,
  marker,
  resourcesIn,
  seed,
  unlabelled,
} from './fixture.ts';

/**
 * The disclosure matrix (issue 13, items 2 and 4): recipients × purposes × consent states × labels
 * × read paths. Every response body is scanned for the records the recipient must not get (by
 * resource identity and by a marker text each record carries), and every Part 2 resource given
 * to an external recipient must carry the §2.32 notice (and none given to an internal one).
 * The expected visibility is written out in fixture.ts (`consented`), independently of the server.
 */
let s: TestServer;
let exportDir: string;
let data: Seeded;
const recipients: Recipient[] = [];
/** Part 2 resources seen per recipient across all paths (the notice checks must not be vacuous). */
const part2Seen = new Map<string, number>();

beforeAll(async () => {
  exportDir = mkdtempSync(join(tmpdir(), 'disclosure-matrix-'));
  s = await startTestServer({ EXPORT_DIR: exportDir });
  await s.ensureTenant(TENANT);
  const admin = await s.token('system/*.cruds', TENANT);
  data = await seed(s, admin);
  await create(s, admin, { resourceType: 'Practitioner', id: 'dr', name: [{ family: 'Treating' }] });
  for (const state of STATES) {
    await create(s, admin, { resourceType: 'CareTeam', status: 'active', subject: { reference: `Patient/${data.patients[state]}` }, participant: [{ member: { reference: 'Practitioner/dr' } }] } as Resource);
  }
  const { register, token } = await backendClients(s);
  const payer = await register('--organization', PAYER, '--purposes', 'HPAYMT,HOPERAT');
  const other = await register('--organization', OTHER, '--purposes', 'HPAYMT');
  const all = () => true;
  recipients.push(
    { name: 'payer, consented purpose HPAYMT', token: await token(payer, 'system/*.rs purpose/HPAYMT'), external: true, system: true, sees: consented },
    { name: 'payer, other purpose HOPERAT', token: await token(payer, 'system/*.rs purpose/HOPERAT'), external: true, system: true, sees: (_s, k) => unlabelled(k) },
    { name: 'payer, no purpose', token: await token(payer, 'system/*.rs'), external: true, system: true, sees: (_s, k) => unlabelled(k) },
    { name: 'other organization, HPAYMT', token: await token(other, 'system/*.rs purpose/HPAYMT'), external: true, system: true, sees: (_s, k) => unlabelled(k) },
    { name: 'internal system client, system/*.rs', token: await s.token('system/*.rs', TENANT), external: false, system: true, sees: (_s, k) => unlabelled(k) },
    {
      name: 'internal system client naming the types',
      token: await s.token('system/Observation.rs system/Condition.rs system/Encounter.rs system/Patient.rs', TENANT),
      external: false,
      system: true,
      sees: all,
    },
    {
      name: 'treating clinician, TREAT',
      token: await s.personToken({ tenant: TENANT, scope: 'user/*.rs purpose/TREAT', fhirUser: 'Practitioner/dr', roles: ['clinician'], purposeOfUse: 'TREAT' }),
      external: false,
      sees: (_s, k) => k !== 'psy',
    },
    {
      name: 'treating clinician, no purpose',
      token: await s.personToken({ tenant: TENANT, scope: 'user/*.rs', fhirUser: 'Practitioner/dr', roles: ['clinician'] }),
      external: false,
      sees: (_s, k) => unlabelled(k),
    },
    {
      name: 'patient (consent active)',
      token: await s.personToken({ tenant: TENANT, scope: 'patient/*.rs', fhirUser: `Patient/${data.patients.active}`, roles: ['patient'], patient: data.patients.active }),
      external: false,
      sees: (st, k) => st === 'active' && unlabelled(k),
    }
  );
}, 240_000);

afterAll(async () => {
  await s?.close();
  rmSync(exportDir, { recursive: true, force: true });
});

/** Which seeded record a resource is, if any. */
function recordOf(r: Resource): { state: State; kind: Kind } | undefined {
  for (const state of STATES) for (const kind of KINDS) if (data.records[state][kind] === r.id && TYPE[kind] === r.resourceType) return { state, kind };
  return undefined;
}

/** No leak in `text`, the notice exactly where it belongs; returns the seeded records in it. */
function scan(who: Recipient, where: string, text: string): { state: State; kind: Kind }[] {
  for (const state of STATES) for (const kind of KINDS) if (!who.sees(state, kind)) expect(text.includes(marker(state, kind)), `${who.name}: ${where} leaks ${state}/${kind}`).toBe(false);
  const found: { state: State; kind: Kind }[] = [];
  if (!text.startsWith('{')) return found;
  for (const r of resourcesIn(JSON.parse(text))) {
    const rec = recordOf(r);
    if (rec) {
      expect(who.sees(rec.state, rec.kind), `${who.name}: ${where} returns ${rec.state}/${rec.kind}`).toBe(true);
      found.push(rec);
    }
    if (who.external && isPart2(r)) {
      expect(hasNotice(r), `${who.name}: ${where} ${r.resourceType}/${r.id} without the notice`).toBe(true);
      part2Seen.set(who.name, (part2Seen.get(who.name) ?? 0) + 1);
    }
    if (!who.external) expect(hasNotice(r), `${who.name}: ${where} ${r.resourceType}/${r.id} with the notice`).toBe(false);
    if (!who.external && isPart2(r)) part2Seen.set(who.name, (part2Seen.get(who.name) ?? 0) + 1);
  }
  return found;
}

async function get(who: Recipient, path: string): Promise<{ status: number; text: string; found: { state: State; kind: Kind }[] }> {
  const res = await s.fhir(path, { token: who.token });
  const text = await res.text();
  return { status: res.status, text, found: scan(who, path, text) };
}

const key = (x: { state: State; kind: Kind }) => `${x.state}/${x.kind}`;
const expected = (who: Recipient, kinds: Kind[], states: State[] = STATES) =>
  states.flatMap((state) => kinds.filter((kind) => who.sees(state, kind)).map((kind) => `${state}/${kind}`)).sort();

describe('disclosure matrix', () => {
  // First, while the recipients' tokens are fresh (the other paths take many requests).
  test('$export, system and Patient level: every NDJSON line of every file holds only what the recipient may get, the notice exactly on Part 2 records given outside', async () => {
    const exporters = recipients.filter((r) => r.system);
    expect(exporters).toHaveLength(6);
    const part2By = new Map<string, number>();
    for (const who of exporters) {
      for (const path of ['$export', 'Patient/$export']) {
        const { manifest } = await poll(await kickoff(s.fhirBase, who.token, path), who.token);
        const found: { state: State; kind: Kind }[] = [];
        let part2 = 0;
        for (const o of [...manifest.output, ...manifest.error]) {
          const res = await fetch(o.url, { headers: { authorization: `Bearer ${who.token}`, accept: 'application/fhir+ndjson' } });
          const text = await res.text();
          expect(res.status, `${who.name}: ${path} ${o.type}`).toBe(200);
          const lines = text.split('\n').filter(Boolean);
          expect(lines.length).toBe(o.count);
          for (const line of lines) {
            found.push(...scan(who, `${path} ${o.type}.ndjson`, line));
            if (isPart2(JSON.parse(line) as Resource)) part2++;
            part2By.set(who.name, (part2By.get(who.name) ?? 0) + (isPart2(JSON.parse(line) as Resource) ? 1 : 0));
          }
        }
        expect(found.map(key).sort(), `${who.name}: ${path}`).toEqual(expected(who, KINDS));
        // The manifest names the notice exactly when Part 2 records left for an external recipient.
        const notice = manifest.extension?.[NOTICE_URL] as { files: { count: number }[] } | undefined;
        expect(notice?.files.reduce((n, f) => n + f.count, 0) ?? 0, `${who.name}: ${path} manifest notice`).toBe(who.external ? part2 : 0);
      }
    }
    // Not vacuous: Part 2 records were exported, with the notice outside and without it inside.
    expect(part2By.get('payer, consented purpose HPAYMT')).toBeGreaterThan(0);
    expect(part2By.get('internal system client naming the types')).toBeGreaterThan(0);
  });

  test('read and instance history: 200 exactly for what the recipient may get, else 404 as for nothing', async () => {
    for (const who of recipients) {
      for (const state of STATES) {
        for (const kind of KINDS) {
          const path = `${TYPE[kind]}/${data.records[state][kind]}`;
          const read = await get(who, path);
          expect(read.status, `${who.name}: ${path} (${state}/${kind})`).toBe(who.sees(state, kind) ? 200 : 404);
          const history = await get(who, `${path}/_history`);
          expect(history.status, `${who.name}: ${path}/_history (${state}/${kind})`).toBe(who.sees(state, kind) ? 200 : 404);
        }
      }
    }
  });

  test('search, totals and type history hold exactly the records the recipient may get', async () => {
    for (const who of recipients) {
      for (const type of ['Observation', 'Condition', 'Encounter']) {
        const kinds = KINDS.filter((k) => TYPE[k] === type);
        const search = await get(who, `${type}?_count=500&_total=accurate`);
        expect(search.status).toBe(200);
        expect(search.found.map(key).sort(), `${who.name}: ${type} search`).toEqual(expected(who, kinds));
        expect((JSON.parse(search.text) as Bundle).total, `${who.name}: ${type} total`).toBe(expected(who, kinds).length);
        const history = await get(who, `${type}/_history?_count=500`);
        expect(history.status).toBe(200);
        expect([...new Set(history.found.map(key))].sort(), `${who.name}: ${type} history`).toEqual(expected(who, kinds));
      }
    }
  });

  test('_include and _revinclude bring in only what the recipient may get', async () => {
    for (const who of recipients) {
      const inc = await get(who, `Observation?code=${encodeURIComponent(`${LOCAL}|panel`)}&_include=Observation:has-member&_count=500`);
      expect(inc.status).toBe(200);
      expect(inc.found.map(key).sort(), `${who.name}: _include`).toEqual(expected(who, ['panel', 'part2']));
      const rev = await get(who, `Patient?_revinclude=Condition:subject&_revinclude=Encounter:subject&_count=500`);
      expect(rev.status).toBe(200);
      expect(rev.found.map(key).sort(), `${who.name}: _revinclude`).toEqual(expected(who, ['sud', 'enc']));
    }
  });

  test('a chain or _has through a hidden record matches nothing', async () => {
    for (const who of recipients) {
      const chain = await get(who, `Observation?has-member:Observation.code=${encodeURIComponent(`${LOCAL}|part2`)}&_count=500`);
      expect(chain.status).toBe(200);
      const panels = STATES.filter((st) => who.sees(st, 'panel') && who.sees(st, 'part2')).map((st) => `${st}/panel`);
      expect(chain.found.map(key).sort(), `${who.name}: chain`).toEqual(panels.sort());
      const has = await get(who, `Patient?_has:Condition:subject:code=F11.20&_count=500`);
      expect(has.status).toBe(200);
      const ids = resourcesIn(JSON.parse(has.text)).filter((r) => r.resourceType === 'Patient').map((r) => r.id);
      const patients = STATES.filter((st) => who.sees(st, 'sud')).map((st) => data.patients[st]);
      expect(ids.sort(), `${who.name}: _has`).toEqual(patients.sort());
    }
  });

  test('$everything gives each patient record the recipient may get, and nothing else', async () => {
    for (const who of recipients) {
      for (const state of STATES) {
        const every = await get(who, `Patient/${data.patients[state]}/$everything?_count=500`);
        const visible = expected(who, KINDS, [state]);
        if (who.name.startsWith('patient') && state !== 'active') {
          expect(every.status, `${who.name}: $everything of another patient`).not.toBe(200);
          continue;
        }
        expect(every.status, `${who.name}: $everything ${state}`).toBe(200);
        expect(every.found.map(key).sort(), `${who.name}: $everything ${state}`).toEqual(visible);
      }
    }
  });

  test('the notice checks saw Part 2 records: given to the consented recipient (with the notice) and to internal readers (without)', () => {
    expect(part2Seen.get('payer, consented purpose HPAYMT') ?? 0).toBeGreaterThan(0);
    expect(part2Seen.get('internal system client naming the types') ?? 0).toBeGreaterThan(0);
    expect(part2Seen.get('treating clinician, TREAT') ?? 0).toBeGreaterThan(0);
    for (const name of ['payer, other purpose HOPERAT', 'payer, no purpose', 'other organization, HPAYMT', 'internal system client, system/*.rs', 'patient (consent active)']) {
      expect(part2Seen.get(name) ?? 0, name).toBe(0);
    }
  });
});

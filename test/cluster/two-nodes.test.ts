import type { Bundle, Observation, Patient, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerSmartApp } from '../../server/src/auth/clients/smart-app.ts';
import { createUser } from '../../server/src/auth/users/index.ts';
import type { Database } from '../../server/src/db/database.ts';
import { openDatabase } from '../../server/src/db/open.ts';
import { mintCode, newVerifier, postForm, s256 } from '../auth/smart-helpers.ts';
import { type HookReceiver, startHookReceiver } from '../bench/hook-receiver.ts';
import { BENCH_SECRET_KEYS } from '../bench/secret-keys.ts';
import { type ServerProcess, type SharedDatabase, type Tenancy, freePort, freshPostgres, setUpTenant, startServerProcess, systemToken } from '../bench/server-process.ts';
import { heartRate, topicSubscription } from '../bench/subscription-fixture.ts';
import { phq9 } from '../clinical/risk-support.ts';

// Two server nodes (issue 12, "Two nodes"): two separate `node server/src/main.ts` processes on
// their own ports, one process each (WORKERS=1, so they share nothing but the database), on one
// fresh PostgreSQL database, as two machines behind a load balancer would. Every race below is
// spread over both nodes while a background load writes through both, and each test then checks
// that none of that load was lost either. PGlite lives inside one process, so this file needs
// PostgreSQL: it runs where DATABASE_URL is set (as process-two.test.ts), i.e. in the PostgreSQL
// pass of `.ci/run`.

const TENANT = 'nodes';
const RISK_TASK = 'http://bh-fhir.org/fhir/CodeSystem/risk-task|suicide-risk-follow-up';
const ON_CALL = 'http://bh-fhir.org/fhir/CodeSystem/on-call-role';
const CRISIS = 'http://bh-fhir.org/fhir/CodeSystem/communication-category|crisis-resources';
const REDIRECT = 'https://app.example/cb';

let shared: SharedDatabase;
let tenancy: Tenancy;
let setup: Database;
let a: ServerProcess;
let b: ServerProcess;
let nodes: [ServerProcess, ServerProcess];
let token: string;
let receiver: HookReceiver;

interface Answer<T> {
  status: number;
  body: T;
}

async function fhir<T = any>(on: ServerProcess, path: string, init: { method?: string; json?: unknown; headers?: Record<string, string>; bearer?: string } = {}): Promise<Answer<T>> {
  const res = await fetch(`${on.url}/fhir/R4/${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${init.bearer ?? token}`,
      accept: 'application/fhir+json',
      ...(init.json ? { 'content-type': 'application/fhir+json' } : {}),
      ...init.headers,
    },
    body: init.json ? JSON.stringify(init.json) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function create<T extends { resourceType: string }>(on: ServerProcess, r: T): Promise<T & { id: string; meta: { versionId: string } }> {
  const { status, body } = await fhir(on, r.resourceType, { method: 'POST', json: r });
  expect(status, JSON.stringify(body)).toBe(201);
  return body;
}

async function searchAll<T>(on: ServerProcess, query: string): Promise<T[]> {
  const { status, body } = await fhir<Bundle>(on, query);
  expect(status, JSON.stringify(body)).toBe(200);
  return (body.entry ?? []).map((e) => e.resource as T);
}

/** `n` jobs run by `workers` concurrent workers; job k goes to node k % 2. */
async function concurrently<T>(n: number, workers: number, job: (k: number, on: ServerProcess) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < n) {
        const k = next++;
        out[k] = await job(k, nodes[k % 2]);
      }
    })
  );
  return out;
}

/** Each id of type `type` reads the same version, with the same content, from both nodes. */
async function readableFromBoth(type: string, written: { id: string; meta: { versionId: string } }[]): Promise<void> {
  for (const w of written) {
    const [fromA, fromB] = await Promise.all([fhir(a, `${type}/${w.id}`), fhir(b, `${type}/${w.id}`)]);
    expect([fromA.status, fromB.status], `${type}/${w.id}`).toEqual([200, 200]);
    expect(fromA.body.meta.versionId).toBe(w.meta.versionId);
    expect(fromB.body).toEqual(fromA.body);
  }
}

/**
 * Runs `fn` while four writers create Observations through both nodes, then checks that every
 * write answered 201 is readable from both nodes at the version it was answered with.
 */
async function underLoad<T>(fn: () => Promise<T>): Promise<T> {
  const patient = await create(a, { resourceType: 'Patient', name: [{ family: 'Load' }] });
  const written: (Observation & { id: string; meta: { versionId: string } })[] = [];
  let stop = false;
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; !stop; i++) written.push(await create(nodes[(w + i) % 2], heartRate(patient.id, 60 + i)));
  });
  try {
    return await fn();
  } finally {
    stop = true;
    await Promise.all(writers);
    expect(written.length).toBeGreaterThan(0);
    await readableFromBoth('Observation', written);
    const total = (await fhir<Bundle>(b, `Observation?patient=Patient/${patient.id}&_summary=count`)).body.total;
    expect(total).toBe(written.length);
  }
}

describe.runIf(process.env.DATABASE_URL)('two server nodes on one PostgreSQL (needs DATABASE_URL)', () => {
  beforeAll(async () => {
    shared = await freshPostgres(process.env.DATABASE_URL as string, 'nodes');
    tenancy = await setUpTenant(shared, TENANT);
    // The test's own connection, for what stands in for a person signing in (mintCode, as the
    // SMART back-channel tests do); the nodes know nothing of it.
    setup = await openDatabase({ databaseUrl: shared.url, dataDir: 'memory', dbPoolSize: 2, secretKeys: BENCH_SECRET_KEYS });
    // One public base URL for both (tokens name it as iss and aud), each node on its own port.
    const portA = await freePort();
    const base = `http://127.0.0.1:${portA}`;
    const env = { SUBSCRIPTION_MAX_TIMEOUT_SECONDS: '2' };
    [a, b] = await Promise.all([startServerProcess({ shared, port: portA, baseUrl: base, env }), startServerProcess({ shared, baseUrl: base, env })]);
    nodes = [a, b];
    token = await systemToken(base, tenancy, 'system/*.cruds');
    receiver = await startHookReceiver();
    // The clinic's rota: a positive screen's Task goes to the clinician on call.
    const oncall = await create(a, { resourceType: 'Practitioner', name: [{ family: 'Oncall' }] });
    await create(a, { resourceType: 'PractitionerRole', active: true, practitioner: { reference: `Practitioner/${oncall.id}` }, code: [{ coding: [{ system: ON_CALL, code: 'on-call' }] }] });
  }, 180_000);

  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
    await receiver?.close();
    await setup?.close();
    await shared?.drop();
  });

  test('no lost writes: every create answered 201 by either node reads the same from both', async () => {
    const written = await concurrently(200, 16, (k, on) => create(on, { resourceType: 'Patient', name: [{ family: `Many${k}` }], birthDate: '1990-01-01' }));
    expect(new Set(written.map((p) => p.id)).size).toBe(200);
    expect(written.every((p) => p.meta.versionId === '1')).toBe(true);
    await readableFromBoth('Patient', written);
    const family = await fhir<Bundle>(b, 'Patient?family:contains=Many&_summary=count');
    expect(family.body.total).toBe(200);
  }, 120_000);

  test('If-Match updates racing across nodes: each version written once, none lost', async () => {
    await underLoad(async () => {
      const targets = await Promise.all(Array.from({ length: 4 }, (_, i) => create(a, { resourceType: 'Patient', name: [{ family: `Raced${i}` }], active: true })));
      // 8 writers per Patient: read on one node, update with If-Match on the other.
      const outcomes = await concurrently(targets.length * 8 * 5, 16, async (k, on) => {
        const target = targets[k % targets.length];
        const other = on === a ? b : a;
        const cur = await fhir<Patient & { meta: { versionId: string } }>(on, `Patient/${target.id}`);
        expect(cur.status).toBe(200);
        const put = await fhir<Patient & { meta: { versionId: string } }>(other, `Patient/${target.id}`, {
          method: 'PUT',
          json: { ...cur.body, name: [{ family: `Raced${k % targets.length}`, given: [`k${k}`] }] },
          headers: { 'if-match': `W/"${cur.body.meta.versionId}"` },
        });
        return { target: target.id, status: put.status, version: put.status === 200 ? put.body.meta.versionId : undefined, given: `k${k}` };
      });
      // A lost race is 412 (version conflict), never a 5xx or a silent overwrite.
      expect(outcomes.filter((o) => o.status !== 200 && o.status !== 412)).toEqual([]);
      for (const t of targets) {
        const won = outcomes.filter((o) => o.target === t.id && o.status === 200);
        expect(won.length).toBeGreaterThan(0);
        // Versions 2 … n+1, each answered to exactly one writer.
        expect(won.map((o) => Number(o.version)).sort((x, y) => x - y)).toEqual(Array.from({ length: won.length }, (_, i) => i + 2));
        const history = await fhir<Bundle>(b, `Patient/${t.id}/_history?_count=1000`);
        expect(history.body.entry?.length).toBe(won.length + 1);
        // The current version is the last winner's, on both nodes.
        const last = won.find((o) => Number(o.version) === won.length + 1);
        for (const on of nodes) {
          const now = await fhir<Patient>(on, `Patient/${t.id}`);
          expect(now.body.meta?.versionId).toBe(String(won.length + 1));
          expect(now.body.name?.[0]?.given).toEqual([last?.given]);
        }
      }
    });
  }, 180_000);

  test('conditional creates (If-None-Exist) racing across nodes create exactly one resource', async () => {
    await underLoad(async () => {
      const identifiers = Array.from({ length: 4 }, (_, i) => `race-${i}-${Date.now()}`);
      const outcomes = await concurrently(identifiers.length * 8, 16, async (k, on) => {
        const value = identifiers[k % identifiers.length];
        const res = await fhir(on, 'Patient', {
          method: 'POST',
          json: { resourceType: 'Patient', identifier: [{ system: 'urn:test:race', value }] },
          headers: { 'if-none-exist': `identifier=urn:test:race|${value}` },
        });
        return { value, status: res.status, id: res.body?.id as string | undefined };
      });
      for (const value of identifiers) {
        const mine = outcomes.filter((o) => o.value === value);
        // FHIR R4 http.html#ccreate: one match → 200 with the existing resource; none → 201.
        expect(mine.map((o) => o.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
        expect(new Set(mine.map((o) => o.id)).size).toBe(1);
        for (const on of nodes) {
          const found = await searchAll<Patient>(on, `Patient?identifier=urn:test:race|${value}`);
          expect(found.map((p) => p.id)).toEqual([mine[0].id]);
        }
      }
    });
  }, 180_000);

  test('positive PHQ-9s for one patient submitted on both nodes at once: one open risk Task, one set of scores per response', async () => {
    // What one screen derives, submitted alone: the reference the racing ones are held to.
    const alone = await create(a, { resourceType: 'Patient', name: [{ family: 'Alone' }] });
    const single = await create(b, phq9(alone.id, 1) as QuestionnaireResponse);
    const perResponse = (await searchAll<Observation>(a, `Observation?derived-from=QuestionnaireResponse/${single.id}&_count=100`)).length;
    expect(perResponse).toBeGreaterThan(0);

    await underLoad(async () => {
      const patients = await Promise.all(Array.from({ length: 3 }, (_, i) => create(a, { resourceType: 'Patient', name: [{ family: `Screened${i}` }] })));
      // Four positive screens per patient, two through each node, all at once.
      const responses = await concurrently(patients.length * 4, 12, async (k, on) => ({ patient: patients[k % patients.length].id, response: await create(on, phq9(patients[k % patients.length].id, 1) as QuestionnaireResponse) }));
      for (const p of patients) {
        const mine = responses.filter((r) => r.patient === p.id).map((r) => r.response.id);
        for (const on of nodes) {
          const tasks = await searchAll<Task>(on, `Task?subject=Patient/${p.id}&code=${RISK_TASK}`);
          expect(tasks, `risk Tasks of Patient/${p.id}`).toHaveLength(1);
          // Every screen is on the one Task (the first raised it, the others joined it).
          const screens = (tasks[0].input ?? []).map((i) => i.valueReference?.reference).filter((r) => r?.startsWith('QuestionnaireResponse/'));
          expect(new Set(screens)).toEqual(new Set(mine.map((id) => `QuestionnaireResponse/${id}`)));
          expect((await searchAll<{ status: string }>(on, `Flag?patient=Patient/${p.id}`)).map((f) => f.status)).toEqual(['active']);
        }
        for (const id of mine) {
          expect(await searchAll(b, `Observation?derived-from=QuestionnaireResponse/${id}&_count=100`)).toHaveLength(perResponse);
          expect(await searchAll(a, `Communication?based-on=QuestionnaireResponse/${id}&category=${CRISIS}`)).toHaveLength(1);
        }
      }
    });
  }, 180_000);

  test('a token revoked through node A is refused by node B at once (LISTEN/NOTIFY), though B had it cached', async () => {
    await underLoad(async () => {
      const patient = await create(a, { resourceType: 'Patient', name: [{ family: 'Revoked' }] });
      const userId = (await createUser(setup, { tenant: TENANT, username: 'pat', password: 'a long password', roles: ['patient'], fhirUser: `Patient/${patient.id}` })).id;
      const scope = 'launch/patient patient/*.rs offline_access';
      const clientId = (await registerSmartApp(setup, { tenant: TENANT, name: 'app', redirectUris: [REDIRECT], authMethod: 'none', scope })).clientId;
      const verifier = newVerifier();
      const code = await mintCode(setup, { tenant: TENANT, clientId, userId, redirectUri: REDIRECT, scope, codeChallenge: s256(verifier), context: { patient: patient.id, userId, fhirUser: `Patient/${patient.id}`, roles: ['patient'] } });
      const issued = await postForm(`${a.url}/auth/token`, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: clientId });
      expect(issued.status).toBe(200);
      const { access_token: personal } = (await issued.json()) as { access_token: string };
      const readOnB = async () => (await fhir(b, `Patient/${patient.id}`, { bearer: personal })).status;
      expect(await readOnB()).toBe(200);
      expect(await readOnB()).toBe(200); // now in B's one-minute cache of verified tokens

      expect((await postForm(`${a.url}/auth/revoke`, { token: personal, client_id: clientId })).status).toBe(200);
      // RFC 7009 §2: effective immediately. NOTIFY arrives asynchronously: 1 s allowed, against B's 60 s cache.
      const revokedAt = Date.now();
      let status = await readOnB();
      while (status !== 401 && Date.now() - revokedAt < 1000) {
        await new Promise((r) => setTimeout(r, 25));
        status = await readOnB();
      }
      expect(status).toBe(401);
      expect((await fhir(a, `Patient/${patient.id}`, { bearer: personal })).status).toBe(401);
    });
  }, 120_000);

  test('a Subscription event is delivered once, though both nodes run delivery workers', async () => {
    await underLoad(async () => {
      const patients = await Promise.all(Array.from({ length: 4 }, (_, i) => create(nodes[i % 2], { resourceType: 'Patient', name: [{ family: `Watched${i}` }] })));
      const subs = await Promise.all(
        patients.map((p, i) => create(nodes[i % 2], topicSubscription({ topic: 'resource/Observation', filters: [`Observation?patient=Patient/${p.id}`], channel: 'rest-hook', endpoint: receiver.url, maxCount: 1, timeoutSeconds: 2 })))
      );
      await receiver.until(() => subs.every((s) => receiver.notifications.some((n) => n.subscription === s.id && n.type === 'handshake')), 30_000, 'handshakes');
      const observations = await concurrently(patients.length * 20, 8, (k, on) => create(on, heartRate(patients[k % patients.length].id, 60 + (k % 40))));
      const events = (sub: string) => receiver.delivered().filter((e) => e.subscription === sub);
      for (const s of subs) await receiver.until(() => events(s.id).length >= 20, 60_000, `events of ${s.id}`);
      // Once every subscription is delivered through its last event with no lease held, neither
      // node has anything left to send: what the receiver holds now is final.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const { rows } = await setup.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM subscription WHERE id = ANY($1) AND delivered_through = events_since_start AND lease_owner IS NULL',
          [subs.map((s) => s.id)]
        );
        if (rows[0].n === subs.length || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const [i, s] of subs.entries()) {
        const got = events(s.id);
        expect(got.map((e) => e.number)).toEqual(Array.from({ length: 20 }, (_, k) => k + 1));
        const focus = observations.filter((_, k) => k % patients.length === i).map((o) => `Observation/${o.id}`);
        expect(new Set(got.map((e) => e.focus?.replace(/^.*\/(Observation\/)/, '$1')))).toEqual(new Set(focus));
      }
    });
  }, 180_000);
});

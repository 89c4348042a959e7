import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';
import { queryOf, waitForAudit } from '../audit/support.ts';

// Bounded work (issue 11 items 1 and 12): search limits answered with a clear 400 before any SQL,
// $everything in pages, and on PostgreSQL a statement timeout and cancellation of the work of a
// client that went away.

type Outcome = { resourceType: string; issue: { severity: string; code: string; diagnostics: string; expression?: string[] }[] };

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
  // The token and a first search outside the timed tests (their cost is not the limits').
  expect((await s.fhir('Patient?name=warm')).status).toBe(200);
}, 60_000);
afterAll(async () => {
  await s?.close();
});

const repeated = (pair: string, n: number) => Array.from({ length: n }, () => pair).join('&');

async function rejected(res: Response, limitWords: RegExp, parameter?: string): Promise<void> {
  expect(res.status).toBe(400);
  const o = (await res.json()) as Outcome;
  expect(o.resourceType).toBe('OperationOutcome');
  expect(o.issue[0].code).toBe('too-costly');
  expect(o.issue[0].diagnostics).toMatch(limitWords);
  if (parameter) expect(o.issue[0].expression).toEqual([parameter]);
}

describe('search limits', () => {
  test('a parameter repeated 1,000 times (GET) is a fast 400 while the server keeps answering', async () => {
    const started = Date.now();
    const [res, metadata] = await Promise.all([s.fhir(`Patient?${repeated('name=a', 1000)}`), fetch(`${s.fhirBase}/metadata`)]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(metadata.status).toBe(200);
    await rejected(res, /Too many search parameters: 1000, at most 50/);
  });

  test('the same as a POST _search form is a fast 400 too', async () => {
    const started = Date.now();
    const [res, metadata] = await Promise.all([
      s.fhir('Patient/_search', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: repeated('name=a', 1000) }),
      fetch(`${s.fhirBase}/metadata`),
    ]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(metadata.status).toBe(200);
    await rejected(res, /Too many search parameters/);
  });

  test('a parameter repeated beyond its limit names the parameter, also under lenient handling', async () => {
    await rejected(await s.fhir(`Patient?${repeated('family=a', 11)}`), /'family' is repeated more than 10 times/, 'family');
    const lenient = await s.fhir(`Patient?${repeated('family=a', 11)}`, { headers: { prefer: 'handling=lenient' } });
    await rejected(lenient, /repeated more than 10 times/, 'family');
  });

  test('too many comma-separated values in one parameter', async () => {
    const ids = Array.from({ length: 101 }, (_, i) => `p${i}`).join(',');
    await rejected(await s.fhir(`Patient?_id=${ids}`), /101 comma-separated values; at most 100/, '_id');
  });

  test('_sort with more keys than allowed', async () => {
    await rejected(await s.fhir('Patient?_sort=name,birthdate,gender,family,given,address'), /_sort has 6 keys; at most 5/, '_sort');
    expect((await s.fhir('Patient?_sort=name,birthdate,gender,family,given')).status).toBe(200);
  });

  test('chains and _has deeper than three references', async () => {
    await rejected(await s.fhir('Observation?subject:Patient.organization.partof.partof.name=x'), /follows 4 references/, 'subject:Patient.organization.partof.partof.name');
    expect((await s.fhir('Observation?subject:Patient.organization.partof.name=x')).status).toBe(200);
    const has4 = '_has:Observation:subject:_has:Observation:has-member:_has:Observation:has-member:_has:Observation:has-member:code';
    await rejected(await s.fhir(`Patient?${has4}=x`), /follows 4 references/, has4);
  });

  test('too many _include/_revinclude parameters', async () => {
    const includes = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 ? '_include:iterate=Patient:organization' : '_revinclude:iterate=Observation:subject')).join('&');
    await rejected(await s.fhir(`Patient?${includes(31)}`), /at most 30/);
    // Their names repeat more than other parameters may: they are bounded by their own limit.
    expect((await s.fhir(`Patient?${includes(30)}`)).status).toBe(200);
  });

  test('_count above the page size limit is clamped, and the Bundle says so', async () => {
    const res = await s.fhir('Patient?_count=5000');
    expect(res.status).toBe(200);
    const b = await res.json();
    const notes = (b.entry ?? []).filter((e: { search?: { mode?: string } }) => e.search?.mode === 'outcome');
    expect(JSON.stringify(notes)).toContain('_count=5000 is above this server');
  });
});

describe('Patient/$everything pages', () => {
  test('_count resources a page, next links through the whole record, nothing twice', async () => {
    const patient = (await (await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient' } })).json()).id as string;
    const made: string[] = [`Patient/${patient}`];
    for (let i = 0; i < 5; i++) {
      const o = await (await s.fhir('Observation', { method: 'POST', json: { resourceType: 'Observation', status: 'final', code: { text: `x${i}` }, subject: { reference: `Patient/${patient}` } } })).json();
      made.push(`Observation/${o.id}`);
    }
    const seen: string[] = [];
    let url: string | undefined = `Patient/${patient}/$everything?_count=2`;
    let pages = 0;
    while (url && pages < 10) {
      const res = await s.fhir(url);
      expect(res.status).toBe(200);
      const b = await res.json();
      expect(b.entry.length).toBeLessThanOrEqual(2);
      for (const e of b.entry) seen.push(`${e.resource.resourceType}/${e.resource.id}`);
      url = b.link.find((l: { relation: string }) => l.relation === 'next')?.url;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen[0]).toBe(`Patient/${patient}`);
    expect(seen.sort()).toEqual(made.sort());
  });

  test('without _count one page holds up to 1000; a tampered cursor is a 400', async () => {
    const patient = (await (await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient' } })).json()).id as string;
    await s.fhir('Encounter', { method: 'POST', json: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${patient}` } } });
    const b = await (await s.fhir(`Patient/${patient}/$everything`)).json();
    expect(b.entry).toHaveLength(2);
    expect(b.total).toBe(2);
    expect(b.link.some((l: { relation: string }) => l.relation === 'next')).toBe(false);
    const bad = await s.fhir(`Patient/${patient}/$everything?_cursor=not-a-cursor`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).issue[0].expression).toEqual(['_cursor']);
  });
});

// PostgreSQL runs statements in another process, which can be told to stop; PGlite runs them on
// the server's own thread (there the limits above are the defence).
describe.runIf(process.env.DATABASE_URL)('bounded statements on PostgreSQL (needs DATABASE_URL)', () => {
  /** Holds an ACCESS EXCLUSIVE lock on the resource table: every search waits for it. */
  async function lockResources(url: string): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('BEGIN');
    await c.query('LOCK TABLE resource IN ACCESS EXCLUSIVE MODE');
    return c;
  }
  async function waitingSearches(url: string): Promise<number> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const { rows } = await c.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%FROM resource r WHERE%'`
      );
      return rows[0].n;
    } finally {
      await c.end();
    }
  }
  async function until(what: () => Promise<boolean>, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await what()) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return what();
  }
  const dbUrl = async (t: TestServer): Promise<string> => {
    const { rows } = await t.db.query<{ d: string }>('SELECT current_database() AS d');
    const u = new URL(process.env.DATABASE_URL as string);
    u.pathname = `/${rows[0].d}`;
    return u.toString();
  };

  test('a search whose statement runs past STATEMENT_TIMEOUT_MS gets a 503 in our words, and its connection is free again', async () => {
    const t = await startTestServer({ STATEMENT_TIMEOUT_MS: '1500' });
    try {
      const token = await t.token();
      const url = await dbUrl(t);
      const lock = await lockResources(url);
      let answers: Response[];
      try {
        // As many at once as the test database's pool has connections (test/support/database.ts).
        answers = await Promise.all(Array.from({ length: 8 }, () => t.fhir('Patient?name=x', { token })));
      } finally {
        await lock.query('ROLLBACK');
        await lock.end();
      }
      for (const res of answers) {
        expect(res.status).toBe(503);
        const o = (await res.json()) as Outcome;
        expect(o.issue[0].code).toBe('timeout');
        expect(o.issue[0].diagnostics).toMatch(/ran longer than the server allows \(1500 ms\)/);
        expect(JSON.stringify(o)).not.toMatch(/canceling|statement timeout|SQL/i);
      }
      expect(await waitingSearches(url)).toBe(0);
      // Every connection of the pool is free again.
      const after = await Promise.all(Array.from({ length: 8 }, () => t.fhir('Patient?name=x', { token })));
      expect(after.map((r) => r.status)).toEqual(Array(8).fill(200));
    } finally {
      await t.close();
    }
  }, 60_000);

  test('a client that goes away has its running query cancelled', async () => {
    const url = await dbUrl(s);
    const lock = await lockResources(url);
    try {
      const ac = new AbortController();
      const pending = s.fhir('Patient?name=x', { signal: ac.signal }).catch((e: Error) => e);
      expect(await until(async () => (await waitingSearches(url)) === 1, 10_000)).toBe(true);
      ac.abort();
      await pending;
      // The lock is still held: the search can only have stopped because it was cancelled.
      expect(await until(async () => (await waitingSearches(url)) === 0, 10_000)).toBe(true);
    } finally {
      await lock.query('ROLLBACK');
      await lock.end();
    }
    expect((await s.fhir('Patient?name=x')).status).toBe(200);
    // The abandoned search is still an access on record: audited as a failure, no answer sent.
    const audited = await waitForAudit(s.db, (e) => e.outcomeDesc === 'HTTP 499' && queryOf(e) === 'name=x');
    expect(audited).toHaveLength(1);
    expect(audited[0].outcome).toBe('4');
  }, 60_000);
});

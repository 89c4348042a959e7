import { expect, test } from 'vitest';
import { tenantAdminPolicy } from '../../access/policy.ts';
import type { QueryOptions, Queryable } from '../../db/database.ts';
import { loadDefinitions } from '../../kernel/definitions.ts';
import { search } from './index.ts';

/** Whether the page statement of `query` goes out prepared (no database: the page is answered empty). */
async function prepared(query: string): Promise<boolean> {
  loadDefinitions();
  const [type, qs] = query.split('?');
  const seen: (QueryOptions | undefined)[] = [];
  const db: Queryable = {
    async query(_sql: string, _params?: unknown[], options?: QueryOptions) {
      seen.push(options);
      return { rows: [], rowCount: 0 } as never;
    },
  };
  const ctx = { tenant: 't1', fhirBase: 'http://x/fhir/R4', access: tenantAdminPolicy('t1'), lenient: false, defaultCount: 20, maxCount: 100 };
  await search(db, ctx, type || undefined, [...new URLSearchParams(qs ?? '')] as [string, string][]);
  return Boolean(seen[0]?.prepare);
}

test('searches that start from the rows they name are prepared', async () => {
  for (const q of [
    'Patient?identifier=https://example.org/mrn|123',
    'Patient?identifier=123',
    'Patient?_id=a,b',
    'Observation?patient=Patient/p1&code=http://loinc.org|8302-2&_sort=-date',
    'Encounter?patient=Patient/p1&date=ge2010-01-01',
    'Observation?patient=Patient/p1&_count=10&_include=Observation:patient',
    'Observation?subject:Patient.identifier=123&_count=10',
    'Observation?patient=p1',
  ]) {
    expect(await prepared(q), q).toBe(true);
  }
});

test('searches whose plan depends on how many rows a value matches are planned with their values', async () => {
  for (const q of [
    'Patient?name=jo',
    'Patient?family=smith&given=john',
    'Patient?birthdate=ge1950-01-01&birthdate=lt1951-01-01',
    'Observation?code=http://loinc.org|8302-2&date=ge2015-01-01',
    'Encounter?_sort=-_lastUpdated&_count=10&status=finished',
    'Patient?identifier=https://example.org/mrn|',
    'Observation?patient=Patient/p1&_lastUpdated=ge2020-01-01',
    'Observation?subject:Patient.name=smith',
    // One Organization may be what every Encounter of the clinic points at.
    'Encounter?service-provider=Organization/o1',
    'Observation?subject=Group/g1',
    'Encounter?service-provider:Organization.identifier=123',
    'Observation?patient:missing=true',
    'Patient',
    '?_type=Patient,Practitioner&identifier=123',
  ]) {
    expect(await prepared(q), q).toBe(false);
  }
});

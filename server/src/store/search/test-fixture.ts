import type { Bundle, Resource } from '@medplum/fhirtypes';
import { freshDatabase } from '../../../../test/support/database.ts';
import { type AccessPolicy, tenantAdminPolicy } from '../../access/policy.ts';
import type { Database } from '../../db/database.ts';
import { loadDefinitions } from '../../kernel/definitions.ts';
import { Repository } from '../repository.ts';
import { type SearchContext, search } from './index.ts';

/**
 * Test support for the SQL-level search tests: a fresh database (PGlite, or PostgreSQL when
 * DATABASE_URL is set), resources written through the real Repository (so index rows are exactly
 * what production writes), and a `find` that runs a query string and returns the matched ids.
 */
export const BASE = 'http://test.example/fhir/R4';

export interface Fixture {
  db: Database;
  create<T extends Resource>(resource: T, tenant?: string): Promise<T>;
  search(type: string | undefined, query: string, opts?: Partial<SearchContext>): Promise<Bundle>;
  /** Ids of search.mode=match entries, sorted unless `ordered`. */
  find(type: string | undefined, query: string, opts?: Partial<SearchContext> & { ordered?: boolean }): Promise<string[]>;
  close(): Promise<void>;
}

export async function openFixture(): Promise<Fixture> {
  loadDefinitions();
  const { db, drop } = await freshDatabase();
  const ctx = (tenant: string, access?: AccessPolicy): SearchContext => ({
    tenant,
    fhirBase: BASE,
    access: access ?? tenantAdminPolicy(tenant),
    lenient: false,
    defaultCount: 20,
    maxCount: 100,
  });
  const fixture: Fixture = {
    db,
    async create(resource, tenant = 't1') {
      const repo = new Repository(db, ctx(tenant));
      return (await repo.createResource(resource, { assignedId: Boolean(resource.id) })) as typeof resource;
    },
    async search(type, query, opts) {
      const params = [...new URLSearchParams(query)] as [string, string][];
      return search(db, { ...ctx(opts?.tenant ?? 't1'), ...opts }, type, params);
    },
    async find(type, query, opts) {
      const b = await fixture.search(type, query, { ...opts, maxCount: opts?.maxCount ?? 100, defaultCount: opts?.defaultCount ?? 100 });
      const ids = (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id as string);
      return opts?.ordered ? ids : ids.sort();
    },
    close: drop,
  };
  return fixture;
}

/** The OperationOutcome of a rejected search, for asserting status kind and message. */
export async function rejection(p: Promise<unknown>): Promise<{ kind: string | undefined; text: string; expression?: string[] }> {
  try {
    await p;
  } catch (err) {
    const o = (err as { outcome?: { id?: string; issue?: { diagnostics?: string; expression?: string[] }[] } }).outcome;
    if (!o) throw err;
    return { kind: o.id, text: o.issue?.[0]?.diagnostics ?? '', expression: o.issue?.[0]?.expression };
  }
  throw new Error('expected the search to be rejected');
}

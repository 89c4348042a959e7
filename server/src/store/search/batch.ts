import type { Bundle } from '@medplum/fhirtypes';
import { type QueryOptions, type QueryResult, type Queryable, type Statement, runBatch } from '../../db/database.ts';
import { type SearchContext, search } from './index.ts';

/** One search of a batch: a resource type and its query pairs, as `search` takes them. */
export type SearchRequest = [resourceType: string, params: [string, string][]];

/**
 * Several searches whose page statements go to the database in one round trip
 * (`Queryable.batch`), after `before` (statements that must run first, such as a lock: each
 * statement of a batch has its own snapshot, so the searches see what the lock waited for).
 * Each search runs as `search` alone would: its first statement (the page) is taken into the
 * batch and answered from it; anything further it needs (a count, includes) runs afterwards as
 * usual. Answers in request order.
 */
export async function searchBatch(db: Queryable, ctx: SearchContext, requests: SearchRequest[], before: Statement[] = []): Promise<Bundle[]> {
  const firsts = requests.map(() => new FirstStatement(db));
  const runs = requests.map(([type, params], i) => search(firsts[i], ctx, type, params));
  // Each search has either handed over its first statement or finished (failed) without one.
  await Promise.all(firsts.map((f, i) => Promise.race([f.issued, runs[i].then(noop, noop)])));
  const taken = firsts.filter((f) => f.statement);
  let results: QueryResult<Record<string, unknown>>[];
  try {
    results = await runBatch(db, [...before, ...taken.map((f) => f.statement as Statement)]);
  } catch (err) {
    for (const f of taken) f.fail(err);
    await Promise.allSettled(runs);
    throw err;
  }
  taken.forEach((f, i) => f.answer(results[before.length + i]));
  return Promise.all(runs);
}

const noop = (): void => undefined;

/** A Queryable that holds back the first statement for the batch and passes the rest through. */
class FirstStatement implements Queryable {
  statement: Statement | undefined;
  readonly issued: Promise<void>;
  private signal!: () => void;
  private settle: { resolve: (r: QueryResult<Record<string, unknown>>) => void; reject: (e: unknown) => void } | undefined;
  private readonly db: Queryable;

  constructor(db: Queryable) {
    this.db = db;
    this.issued = new Promise((resolve) => (this.signal = resolve));
  }

  query<R = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
    if (this.statement) return this.db.query<R>(sql, params, options);
    this.statement = { sql, params, prepare: options?.prepare };
    const p = new Promise<QueryResult<Record<string, unknown>>>((resolve, reject) => (this.settle = { resolve, reject }));
    this.signal();
    return p as Promise<QueryResult<R>>;
  }

  answer(r: QueryResult<Record<string, unknown>>): void {
    this.settle?.resolve(r);
  }

  fail(err: unknown): void {
    this.settle?.reject(err);
  }
}

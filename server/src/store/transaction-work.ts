import type { QueryResult, Statement } from '../db/database.ts';
import type { Repository } from './repository.ts';

/**
 * What one open transaction carries besides its writes, shared by every repository working in it
 * (derived ones included): work to run at its commit, and reads sent ahead of the steps that make
 * them, so that a step costs no round trip of its own.
 */
export interface TransactionWork {
  beforeCommit: ((root: Repository) => Promise<void>)[];
  afterCommit: (() => void)[];
  /** Rows of the hooks' reads sent ahead with a current row (WriteHook.prefetch), by statement. */
  prefetched?: Map<string, Record<string, unknown>[]>;
  /** Reads sent ahead of the steps that make them (`Repository.readAhead`), by key, with the types they read. */
  ahead?: Map<string, { types: readonly string[]; value: unknown }>;
}

/**
 * Tenant-wide reads that later steps of a transaction will make (see `Repository.readAhead`):
 * reads by id as `readResource` makes them, and statements as `aggregateOver` runs them, with the
 * resource types they read.
 */
export interface ReadAhead {
  reads?: [resourceType: string, id: string][];
  statements?: { statement: Statement; types: readonly string[] }[];
}

/** The key a statement's answer is kept under: the same SQL with the same parameters. */
export const statementKey = (s: Statement): string => JSON.stringify([s.sql, s.params ?? []]);

/** Keeps the answers of statements sent ahead, with the types each reads. */
export function keepAhead(work: TransactionWork, sent: { statement: Statement; types: readonly string[] }[], answered: QueryResult<Record<string, unknown>>[]): void {
  const store = (work.ahead ??= new Map());
  sent.forEach((x, i) => store.set(statementKey(x.statement), { types: x.types, value: answered[i].rows }));
}

/** A read sent ahead under `key`, taken out (it answers once); undefined when there is none. */
export function takeAhead(work: TransactionWork, key: () => string): unknown {
  const store = work.ahead;
  if (!store?.size) return undefined;
  const k = key();
  const hit = store.get(k);
  if (hit) store.delete(k);
  return hit?.value;
}

/** A write of `types` in the transaction: the reads sent ahead of them are stale. */
export function forgetAhead(work: TransactionWork, types: Iterable<string>): void {
  const store = work.ahead;
  if (!store?.size) return;
  const written = new Set(types);
  for (const [k, v] of store) if (v.types.some((t) => written.has(t))) store.delete(k);
}

/** Keeps the rows of the hooks' prefetches, sent with a current row. */
export function keepPrefetched(work: TransactionWork, statements: Statement[], answered: QueryResult<Record<string, unknown>>[]): void {
  const store = (work.prefetched ??= new Map());
  statements.forEach((st, i) => store.set(statementKey(st), answered[i].rows));
}

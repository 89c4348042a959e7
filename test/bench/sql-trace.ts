/**
 * A statement trace of a server process, for profiling a benchmark phase: loaded with
 * `--import` (e.g. `npm run bench:clinical -- --server-node-options="--import=./test/bench/sql-trace.ts"`
 * with SQL_TRACE_FILE=/tmp/trace), it appends one JSON line per round trip to
 * `$SQL_TRACE_FILE.<pid>`: the statements' first words, their rows (returned, or affected) and the
 * array sizes of their parameters (the rows an unnest() insert writes), and the elapsed time.
 * SQL_TRACE_FULL=1 adds each round trip's whole text and values. Not for production: every round trip costs a synchronous file write.
 */
import { appendFileSync } from 'node:fs';
import pg from 'pg';

const file = `${process.env.SQL_TRACE_FILE ?? '/tmp/sql-trace'}.${process.pid}`;
const original = pg.Client.prototype.query as (...args: unknown[]) => unknown;
const shape = (sql: string) => sql.replace(/\s+/g, ' ').slice(0, 160);

(pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function (this: pg.Client, ...args: unknown[]) {
  const first = args[0] as string | { text: string; values?: unknown[] };
  const text = typeof first === 'string' ? first : first?.text;
  const values = (typeof first === 'string' ? args[1] : first?.values) as unknown[] | undefined;
  const started = performance.now();
  const result = original.apply(this, args);
  if (typeof text !== 'string' || !(result instanceof Promise)) return result;
  return result.then((r: pg.QueryResult | pg.QueryResult[]) => {
    const parts = Array.isArray(r) ? r : [r];
    const arrays = (values ?? []).filter(Array.isArray).map((a) => (a as unknown[]).length);
    appendFileSync(
      file,
      JSON.stringify({
        t: Math.round(started * 10) / 10,
        backend: (this as unknown as { processID?: number }).processID,
        ms: Math.round((performance.now() - started) * 100) / 100,
        sql: text.split(/;\n/).map(shape),
        rows: parts.map((x) => x.rowCount ?? x.rows?.length ?? 0),
        arrays: arrays.length ? Math.max(...arrays) : undefined,
        ...(process.env.SQL_TRACE_FULL ? { text, values } : {}),
        chars: text.length + (values ?? []).reduce<number>((n, v) => n + (typeof v === 'string' ? v.length : Array.isArray(v) ? JSON.stringify(v).length : 8), 0),
      }) + '\n'
    );
    return r;
  });
};

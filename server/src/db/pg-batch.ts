import { createRequire } from 'node:module';
import type pg from 'pg';

/**
 * Several statements as one extended-query exchange of PostgreSQL's protocol
 * (https://www.postgresql.org/docs/15/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY): Parse (unless
 * the connection has the named statement already), Bind, Describe and Execute for each, then one
 * Sync. One round trip, one wake-up of the backend, and every statement keeps its bind parameters
 * and, when named, its cached plan. pg's own queries end each statement with a Sync (a round trip
 * each), and its simple protocol, which alone took several statements at once, sends no parameters.
 *
 * Until the Sync the statements run as one implicit transaction (or inside the explicit one a
 * BEGIN among them opened): the first that fails stops the rest, and nothing of an implicit one
 * stays. Handed to `client.query` as a custom query (pg calls `submit` and the `handle*` methods
 * as the backend answers); `done` settles with a result per statement.
 */
const require = createRequire(import.meta.url);
const Result = require('pg/lib/result.js') as new () => PgResult;
// The conversion pg applies to bind values (arrays as array literals, dates, null).
const { prepareValue } = require('pg/lib/utils.js') as { prepareValue(v: unknown): string | Buffer | null };

interface PgResult extends pg.QueryResult {
  addFields(fields: unknown[]): void;
  parseRow(fields: unknown[]): unknown;
  addRow(row: unknown): void;
  addCommandComplete(msg: unknown): void;
}

/** The part of pg's Connection this speaks through (pg/lib/connection.js). */
interface Connection {
  parsedStatements: Record<string, string>;
  stream: { cork?(): void; uncork?(): void };
  parse(msg: { text: string; name: string; types: number[] }): void;
  bind(msg: { portal: string; statement: string; values: (string | Buffer | null)[]; binary: boolean }): void;
  describe(msg: { type: 'P'; name: string }): void;
  execute(msg: { portal: string; rows: number }): void;
  close(msg: { type: 'S'; name: string }): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

export interface BatchStatement {
  text: string;
  values?: unknown[];
  /** A prepared statement's name (parsed once per connection), or none for an unnamed one. */
  name?: string;
}

/**
 * Names this connection may or may not hold: their Parse went out in a batch that failed, before
 * or after the failing statement. Sent again, a Close comes first (closing a statement that does
 * not exist is no error), so a Parse never meets one already there.
 */
const unsure = new WeakMap<Connection, Set<string>>();

export class StatementBatch {
  readonly done: Promise<pg.QueryResult[]>;
  private settle!: { resolve: (r: pg.QueryResult[]) => void; reject: (err: unknown) => void };
  private readonly statements: BatchStatement[];
  private readonly results: PgResult[];
  private at = 0;
  private rowError: unknown;
  /** Names whose Parse this batch sends, with their text: held by the connection once it succeeds. */
  private readonly parsing: [string, string][] = [];

  constructor(statements: BatchStatement[]) {
    this.statements = statements;
    this.results = statements.map(() => new Result());
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }

  submit(connection: Connection): Error | null {
    let values: (string | Buffer | null)[][];
    try {
      // Converted before anything is written: a value pg cannot send fails the batch unsent.
      values = this.statements.map((s) => (s.values ?? []).map((v) => prepareValue(v)));
    } catch (err) {
      return err as Error;
    }
    const doubtful = unsure.get(connection);
    // A name the batch names twice is parsed once, before its first use.
    const parsed = new Set<string>();
    connection.stream.cork?.();
    try {
      this.statements.forEach((s, i) => {
        const name = s.name ?? '';
        if (!name || (connection.parsedStatements[name] === undefined && !parsed.has(name))) {
          if (name && doubtful?.has(name)) connection.close({ type: 'S', name });
          connection.parse({ text: s.text, name, types: [] });
          if (name) {
            parsed.add(name);
            this.parsing.push([name, s.text]);
          }
        }
        connection.bind({ portal: '', statement: name, values: values[i], binary: false });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '', rows: 0 });
      });
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(msg: { fields: unknown[] }): void {
    this.results[this.at].addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    if (this.rowError) return;
    try {
      const result = this.results[this.at];
      result.addRow(result.parseRow(msg.fields));
    } catch (err) {
      // A value that does not parse: reported once the backend is done with the batch.
      this.rowError = err;
    }
  }

  handleCommandComplete(msg: unknown): void {
    this.results[this.at].addCommandComplete(msg);
    this.at++;
  }

  handleEmptyQuery(): void {
    this.at++;
  }

  /** The backend refused a statement (it skips the rest up to the Sync), or the connection failed. */
  handleError(err: unknown, connection: Connection): void {
    if (this.parsing.length) {
      const names = unsure.get(connection) ?? new Set<string>();
      for (const [name] of this.parsing) names.add(name);
      unsure.set(connection, names);
    }
    this.settle.reject(err);
  }

  handleReadyForQuery(connection: Connection): void {
    if (this.rowError) {
      this.handleError(this.rowError, connection);
      return;
    }
    for (const [name, text] of this.parsing) {
      connection.parsedStatements[name] = text;
      unsure.get(connection)?.delete(name);
    }
    this.settle.resolve(this.results);
  }

  handleCopyInResponse(connection: Connection): void {
    connection.sendCopyFail('COPY is not supported in a statement batch');
  }

  handleCopyData(): void {}

  handlePortalSuspended(): void {}
}

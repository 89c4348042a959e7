/**
 * The server's structured logger: one JSON object a line on stderr, with `time`, `level`, `msg`
 * and fields. Callers pass only fields that cannot carry PHI: ids of tenants, clients and
 * requests, methods, route templates or interactions, status codes, timings, error codes. Never
 * bodies, query strings, raw URLs or resource content.
 *
 * As a second line of defence, fields whose names say they hold request or resource content
 * (REDACTED below) are replaced whatever the caller passes: a search query string can carry a
 * patient's name, a body or resource is PHI. AuditEvents hold those details (server/src/audit),
 * logs never do.
 *
 * Each line names its process (`pid`): with WORKERS processes their lines interleave on one stream.
 *
 * Levels, from LOG_LEVEL (read at each line, so a test or operator may change it at run time):
 * `debug` < `info` (default) < `warn` < `error`; `silent` writes nothing. `log.child({ requestId })`
 * binds fields to every line it writes (the access log's request id). This is a small stand-in
 * for pino (not among our dependencies); its lines are pino-compatible enough for the same
 * tooling (one JSON object per line, `level` as a name).
 */
export type Fields = Record<string, unknown>;
export type Level = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<Level | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

const REDACTED = new Set(['body', 'content', 'resource', 'query', 'querystring', 'search', 'url', 'originalUrl', 'params', 'password', 'token', 'authorization', 'cookie']);

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger whose every line carries `bound` (redacted like any field). */
  child(bound: Fields): Logger;
  /** Whether a line at `level` would be written now (skip building costly fields). */
  enabled(level: Level): boolean;
}

function threshold(): number {
  const level = (process.env.LOG_LEVEL ?? 'info').toLowerCase() as Level | 'silent';
  return RANK[level] ?? RANK.info;
}

function redact(fields: Fields): Fields {
  if (!Object.keys(fields).some((k) => REDACTED.has(k))) return fields;
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, REDACTED.has(k) ? '[redacted]' : v]));
}

/** The one place that writes. */
function write(level: Level, msg: string, bound: Fields | undefined, fields: Fields | undefined): void {
  if (RANK[level] < threshold()) return;
  const line = { time: new Date().toISOString(), level, pid: process.pid, msg, ...(bound && redact(bound)), ...(fields && redact(fields)) };
  process.stderr.write(JSON.stringify(line) + '\n');
}

function logger(bound: Fields | undefined): Logger {
  return {
    debug: (msg, fields) => write('debug', msg, bound, fields),
    info: (msg, fields) => write('info', msg, bound, fields),
    warn: (msg, fields) => write('warn', msg, bound, fields),
    error: (msg, fields) => write('error', msg, bound, fields),
    child: (more) => logger({ ...bound, ...more }),
    enabled: (level) => RANK[level] >= threshold(),
  };
}

export const log: Logger = logger(undefined);

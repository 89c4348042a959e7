/**
 * Structured one-line JSON logs. Callers pass only fields that cannot carry PHI: ids of tenants
 * and clients, methods, route templates, status codes, timings, error codes. Never bodies, query
 * strings or resource content.
 *
 * As a second line of defence, fields whose names say they hold request or resource content
 * (REDACTED below) are dropped whatever the caller passes: a search query string can carry a
 * patient's name, a body or resource is PHI. AuditEvents hold those details (server/src/audit),
 * logs never do.
 */
type Fields = Record<string, unknown>;

const REDACTED = new Set(['body', 'content', 'resource', 'query', 'querystring', 'search', 'url', 'originalUrl', 'params', 'password', 'token', 'authorization', 'cookie']);

function write(level: string, msg: string, fields?: Fields): void {
  if (process.env.LOG_LEVEL === 'silent') return;
  let safe = fields;
  if (fields && Object.keys(fields).some((k) => REDACTED.has(k))) {
    safe = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, REDACTED.has(k) ? '[redacted]' : v]));
  }
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...safe }) + '\n');
}

export const log = {
  info: (msg: string, fields?: Fields) => (process.env.LOG_LEVEL === 'error' ? undefined : write('info', msg, fields)),
  error: (msg: string, fields?: Fields) => write('error', msg, fields),
};

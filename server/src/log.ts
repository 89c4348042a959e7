/**
 * Structured one-line JSON logs. Callers pass only fields that cannot carry PHI: ids of tenants
 * and clients, methods, route templates, status codes, timings, error codes. Never bodies, query
 * strings or resource content.
 */
type Fields = Record<string, unknown>;

function write(level: string, msg: string, fields?: Fields): void {
  if (process.env.LOG_LEVEL === 'silent') return;
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n');
}

export const log = {
  info: (msg: string, fields?: Fields) => (process.env.LOG_LEVEL === 'error' ? undefined : write('info', msg, fields)),
  error: (msg: string, fields?: Fields) => write('error', msg, fields),
};

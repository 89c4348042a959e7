import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { log } from '../../server/src/log.ts';

// The structured logger: levels from LOG_LEVEL, child loggers with bound fields, one JSON object a
// line, and fields that can carry PHI replaced whoever passes them.

let lines: Record<string, unknown>[];
let write: typeof process.stderr.write;
let level: string | undefined;

beforeEach(() => {
  lines = [];
  write = process.stderr.write;
  level = process.env.LOG_LEVEL;
  process.stderr.write = ((chunk: string) => {
    lines.push(...String(chunk).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
    return true;
  }) as typeof process.stderr.write;
});
afterEach(() => {
  process.stderr.write = write;
  process.env.LOG_LEVEL = level;
});

const all = () => {
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
};

describe('log', () => {
  test.each([
    ['debug', ['d', 'i', 'w', 'e']],
    ['info', ['i', 'w', 'e']],
    ['warn', ['w', 'e']],
    ['error', ['e']],
    ['silent', []],
  ])('LOG_LEVEL=%s writes %j', (lvl, expected) => {
    process.env.LOG_LEVEL = lvl;
    all();
    expect(lines.map((l) => l.msg)).toEqual(expected);
    expect(lines.map((l) => l.level)).toEqual(expected.map((m) => ({ d: 'debug', i: 'info', w: 'warn', e: 'error' })[m]));
  });

  test('a child logger stamps its bound fields on every line, and redacts them as any field', () => {
    process.env.LOG_LEVEL = 'info';
    const child = log.child({ requestId: 'r-1', query: 'name=Secretname' });
    child.info('first', { status: 200 });
    child.child({ tenant: 't' }).error('second', { body: { name: 'Secretname' } });
    expect(lines).toMatchObject([
      { level: 'info', msg: 'first', requestId: 'r-1', status: 200, query: '[redacted]' },
      { level: 'error', msg: 'second', requestId: 'r-1', tenant: 't', body: '[redacted]' },
    ]);
    expect(typeof lines[0].time).toBe('string');
    expect(JSON.stringify(lines)).not.toContain('Secretname');
    expect(child.enabled('debug')).toBe(false);
    expect(child.enabled('warn')).toBe(true);
  });
});

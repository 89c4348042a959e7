import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { splitStatements } from './migrate.ts';

test('plain DDL splits on ";" at line end and drops comment lines', () => {
  const sql = '-- a table\nCREATE TABLE a (x int);\n\nCREATE INDEX a_x ON a (x);\n-- done\n';
  expect(splitStatements(sql)).toEqual(['CREATE TABLE a (x int)', 'CREATE INDEX a_x ON a (x)']);
});

test('a dollar-quoted function body stays whole, semicolons and comments inside included', () => {
  const sql = [
    'CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$',
    'BEGIN',
    '  -- refuse',
    "  RAISE EXCEPTION 'no';",
    '  RETURN NULL;',
    'END',
    '$$;',
    'CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;',
    'CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE FUNCTION f();',
  ].join('\n');
  const stmts = splitStatements(sql);
  expect(stmts).toHaveLength(3);
  expect(stmts[0]).toBe("CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  -- refuse\n  RAISE EXCEPTION 'no';\n  RETURN NULL;\nEND\n$$");
  expect(stmts[1]).toBe('CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$');
  expect(stmts[2]).toBe('CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE FUNCTION f()');
});

test('the audit migration splits into whole statements', () => {
  const stmts = splitStatements(readFileSync(join(import.meta.dirname, 'migrations/006-audit.sql'), 'utf8'));
  const fns = stmts.filter((s) => s.startsWith('CREATE FUNCTION'));
  expect(fns.length).toBeGreaterThan(0);
  for (const f of fns) expect(f.trimEnd().endsWith('$$')).toBe(true);
});

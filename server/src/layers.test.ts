import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layers of server/src, lowest first (server/README.md, /work/shared/DESIGN.md): a module may
 * import its own folder (or top-level file) and anything in a LOWER layer, never its own layer's
 * other members nor a higher layer. Each entry is a folder or a top-level file of server/src.
 *
 * `access` sits below `store`: the access decision point produces policies and constraints (data),
 * and the store composes them into its SQL; access never needs the store.
 */
const LAYERS: string[][] = [
  ['config-check.ts'], // the rules each environment variable must meet
  ['config.ts', 'log.ts', 'clock.ts', 'html-escape.ts', 'heap-flags.ts', 'net'], // foundation: no FHIR, no database
  ['config-exit.ts', 'config.test.ts', 'heap-flags.test.ts'], // a bad setting ends the process with one line (main.ts, cli); their tests
  ['kernel'], // the FHIR kernel: definitions, OperationOutcome errors, compartments, subsetting (imports no other layer)
  ['db'], // the Database interface over pg or PGlite, migrations
  ['background.ts'], // durable timers on the database
  ['access'], // SMART scopes and the one access decision point
  ['store'], // the repository, history, indexer, search → SQL
  ['audit'], // AuditEvents, hash chain
  ['clinical', 'subscriptions'], // instruments, scoring, notes, risk; topics, outbox, delivery
  ['tenant', 'write-hooks.ts', 'bulk'], // tenant creation (installs clinical content); the write hooks assembled; Bulk Data $export jobs
  ['ingress'], // request bodies: limits and timeouts, before any parser reads them
  ['fhir', 'auth'], // the REST binding; the SMART authorization server
  ['cli'], // admin commands
  ['seed'], // the demo clinic (uses cli's helpers)
  ['http'], // home page, CORS, apps (seeds the demo on request)
  ['app.ts'],
  ['serve.ts'], // the server process: one, or a cluster's primary and its workers
  ['main.ts'], // the entry: the compile cache, then serve.ts
];

const SRC = dirname(fileURLToPath(import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/**
 * Relative imports of a file (static `import`/`export … from`, side-effect and dynamic imports),
 * resolved to absolute paths. `values`: only those that exist at run time (not `import type`).
 */
export function importsOf(file: string, values = false): string[] {
  const src = readFileSync(file, 'utf8');
  const statements = [...src.matchAll(/(?:^|\n)\s*((?:import|export)\b[^;'"]*?\bfrom\s*'([^']+)')/g)];
  const specs = [
    ...statements.filter((m) => !(values && /^(?:import|export)\s+type\b/.test(m[1]))).map((m) => m[2]),
    ...[...src.matchAll(/(?:^|\n)\s*import\s*'([^']+)'/g)].map((m) => m[1]),
    ...[...src.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]),
  ];
  return specs.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s));
}

/** The layer member a path under server/src belongs to: its first path segment. */
function memberOf(path: string): string | undefined {
  const rel = relative(SRC, path);
  if (rel.startsWith('..')) return undefined; // outside server/src (test/support)
  return rel.split(/[\\/]/)[0];
}

const layerOf = new Map<string, number>();
LAYERS.forEach((members, i) => {
  for (const m of members) layerOf.set(m, i);
});

/**
 * Run-time import cycles among `files` (each found once, as paths relative to server/src). Type-only
 * imports are erased before running and may point both ways (a write hook is handed the repository
 * that calls it); a cycle of values is what makes module order matter and a layer unreadable.
 */
export function importCycles(files: string[]): string[][] {
  const inSet = new Set(files);
  const graph = new Map(files.map((f) => [f, importsOf(f, true).filter((t) => inSet.has(t))]));
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].map((p) => relative(SRC, p)));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return cycles;
}

describe('server/src layers', () => {
  const files = sourceFiles(SRC);

  it('names every folder and top-level file of server/src in exactly one layer', () => {
    const members = [...new Set(files.map((f) => memberOf(f) as string))].filter((m) => m !== 'layers.test.ts');
    expect(members.filter((m) => !layerOf.has(m))).toEqual([]);
    expect(layerOf.size).toBe(LAYERS.flat().length);
  });

  it('never lets a lower layer (or a sibling in the same layer) import a higher one', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = memberOf(file) as string;
      const fromLayer = layerOf.get(from);
      if (fromLayer === undefined) continue;
      for (const target of importsOf(file)) {
        const to = memberOf(target);
        if (to === undefined || to === from) continue;
        const toLayer = layerOf.get(to);
        if (toLayer === undefined || toLayer >= fromLayer) violations.push(`${relative(SRC, file)} → ${relative(SRC, target)}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('has no run-time import cycle inside store/ (filter → chain → access → filter was one)', () => {
    expect(importCycles(files.filter((f) => memberOf(f) === 'store'))).toEqual([]);
  });

  it('sees a cycle when there is one (the checker itself works)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'layers-'));
    writeFileSync(join(dir, 'a.ts'), "import { b } from './b.ts';\nexport const a = 1;\n");
    writeFileSync(join(dir, 'b.ts'), "import {\n  type A,\n} from './c.ts';\nimport type { D } from './a.ts';\nexport const b = 2;\n");
    writeFileSync(join(dir, 'c.ts'), "export { a } from './a.ts';\n");
    expect(importCycles(['a.ts', 'b.ts', 'c.ts'].map((f) => join(dir, f))).map((c) => c.map((p) => p.split(/[\\/]/).pop()))).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
  });
});

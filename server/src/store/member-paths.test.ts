import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { evalFhirPathTyped, parseFhirPath, toTypedValue } from '@medplum/core';
import type { HumanName, Resource } from '@medplum/fhirtypes';
import { beforeAll, expect, test } from 'vitest';
import { loadDefinitions, searchParamsFor } from '../kernel/definitions.ts';
import { evalMemberPath, memberPath } from './member-paths.ts';

// The compiled member paths must give what @medplum/core's evaluator gives (type and value; the
// index is built from nothing else), for every search parameter of real resources and of shapes
// Synthea does not have: primitive extensions, choice types, repeated primitives in a union.
beforeAll(() => loadDefinitions());

const FIXTURE = join(import.meta.dirname, '../../../test/fixtures/synthea-r4-8-bundles.ndjson.gz');

function synthea(): Resource[] {
  return gunzipSync(readFileSync(FIXTURE))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => (JSON.parse(line) as { entry: { resource: Resource }[] }).entry.map((e) => e.resource));
}

const EDGE: Resource[] = [
  {
    resourceType: 'Patient',
    id: 'p',
    // A primitive with an extension (_given) is a String object inside @medplum/core's evaluator.
    name: [{ family: 'Chalmers', given: ['Peter', 'Peter'], _given: [null, { extension: [{ url: 'http://example.org/x', valueString: 'y' }] }] } as HumanName],
    birthDate: '1974-12-25',
    _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1974-12-25T14:35:45-05:00' }] },
    telecom: [{ system: 'phone', value: '555' }, { system: 'email', value: 'a@b.c' }],
    address: [{ city: 'Boston', state: 'MA' }, { city: 'Boston' }],
    deceasedBoolean: false,
    contained: [{ resourceType: 'Practitioner', id: 'pr', name: [{ family: 'Inner' }] }],
    generalPractitioner: [{ reference: '#pr' }, { reference: 'Practitioner/1' }, { identifier: { system: 's', value: 'v' } }],
  } as Resource,
  {
    resourceType: 'Observation',
    id: 'o',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
    valueQuantity: { value: 120, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
    component: [
      { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120 } },
      { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueCodeableConcept: { text: 'high' } },
      { code: { text: 'x' }, valueString: 'high' },
    ],
    effectivePeriod: { start: '2020-01-01' },
  } as Resource,
  { resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'y' }, valueString: 'text', _valueString: { extension: [] } } as Resource,
];

const strip = (values: { type: string; value: unknown }[]) => values.map((v) => ({ type: v.type, value: v.value }));

test('every compiled search-parameter expression gives what @medplum/core gives', () => {
  let compared = 0;
  for (const resource of [...synthea(), ...EDGE]) {
    const root = [toTypedValue(resource)];
    for (const param of searchParamsFor(resource.resourceType).values()) {
      const expression = param.details.parsedExpression;
      const fast = memberPath(expression);
      if (!fast) continue;
      const expected = strip(evalFhirPathTyped(expression, root));
      expect(strip(evalMemberPath(fast, root)), `${resource.resourceType}.${param.code}`).toEqual(expected);
      compared++;
      for (const component of param.components ?? []) {
        const atom = parseFhirPath(component.expression);
        const part = memberPath(atom);
        if (!part) continue;
        for (const value of evalFhirPathTyped(expression, root)) {
          expect(strip(evalMemberPath(part, [value])), `${param.code} ${component.expression}`).toEqual(strip(evalFhirPathTyped(atom, [value])));
        }
      }
    }
  }
  expect(compared).toBeGreaterThan(10_000);
});

test('unions that may reach one element twice, variables and functions are left to @medplum/core', () => {
  for (const expr of ['Observation.value | Observation.value.ofType(Quantity)', 'Observation.code | Observation.code', 'Patient.telecom.where(system = \'email\')', '%resource.id', '$this.id', '(Observation.code | Observation.value).text']) {
    expect(memberPath(parseFhirPath(expr)), expr).toBeUndefined();
  }
  for (const expr of ['Observation.code | Observation.component.code', 'Observation.value.ofType(Quantity) | Observation.value.ofType(SampledData)', 'Patient.name.given | Patient.address.city']) {
    expect(memberPath(parseFhirPath(expr)), expr).toBeDefined();
  }
});

test('a union keeps equal objects from different elements and removes repeated primitives, as @medplum/core does', () => {
  const observation = EDGE[1];
  const both = parseFhirPath('Observation.code | Observation.component.code');
  const fast = memberPath(both);
  expect(fast).toBeDefined();
  const values = evalMemberPath(fast!, [toTypedValue(observation)]);
  expect(values).toHaveLength(4);
  expect(strip(values)).toEqual(strip(evalFhirPathTyped(both, [toTypedValue(observation)])));
  const names = parseFhirPath('Patient.name.given | Patient.address.city');
  const got = evalMemberPath(memberPath(names)!, [toTypedValue(EDGE[0])]);
  expect(strip(got)).toEqual(strip(evalFhirPathTyped(names, [toTypedValue(EDGE[0])])));
  expect(got.map((v) => String(v.value))).toEqual(['Peter', 'Boston']);
});

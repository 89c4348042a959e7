import { getAllDataTypes, getDataType, parseStructureDefinition, validateResource } from '@medplum/core';
import { expect, test } from 'vitest';
import { baseDefinitions, loadDefinitions } from './definitions.ts';

// A file of its own: it watches @medplum/core's registry from before any type is first used.
test('each R4 resource type is parsed on first use into the schema its StructureDefinition gives', { timeout: 120_000 }, () => {
  loadDefinitions();
  const registry = getAllDataTypes();
  // Not parsed at start: a getter stands in for the type and for its inner types.
  expect(typeof Object.getOwnPropertyDescriptor(registry, 'ImmunizationRecommendation')?.get).toBe('function');
  expect(typeof Object.getOwnPropertyDescriptor(registry, 'ImmunizationRecommendationRecommendation')?.get).toBe('function');
  // An inner type looked up first brings its resource with it.
  expect(getDataType('ImmunizationRecommendationRecommendation').parentType?.name).toBe('ImmunizationRecommendation');
  expect(Object.getOwnPropertyDescriptor(registry, 'ImmunizationRecommendation')?.value).toBe(getDataType('ImmunizationRecommendation'));

  let n = 0;
  for (const sd of baseDefinitions().resources) {
    if (!sd.snapshot?.element?.length || sd.url !== `http://hl7.org/fhir/StructureDefinition/${sd.type}`) continue;
    const expected = parseStructureDefinition(sd);
    const loaded = getDataType(sd.type);
    expect(Object.keys(loaded.elements), sd.type).toEqual(Object.keys(expected.elements));
    expect(loaded.constraints, sd.type).toEqual(expected.constraints);
    for (const inner of expected.innerTypes) expect(Object.keys(getDataType(inner.name).elements), inner.name).toEqual(Object.keys(inner.elements));
    n++;
  }
  expect(n).toBeGreaterThan(140);
});

test('a type first used by validation is validated in full', () => {
  loadDefinitions();
  expect(() => validateResource({ resourceType: 'VisionPrescription', status: 'active' } as never)).toThrow(/Missing required property/);
  expect(() => validateResource({ resourceType: 'SupplyDelivery', status: 5, quantity: { value: 'x' } } as never)).toThrow(/Invalid JSON type/);
  expect(() => validateResource({ resourceType: 'SupplyDelivery', status: 'completed' } as never)).not.toThrow();
});

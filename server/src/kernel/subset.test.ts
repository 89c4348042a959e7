import type { Observation, Patient } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from './definitions.ts';
import { SUBSETTED, applySubset } from './subset.ts';

beforeAll(() => loadDefinitions());

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p',
  meta: { versionId: '1', tag: [{ system: 'http://x', code: 'keep' }] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">P</div>' },
  name: [{ family: 'Smith' }],
  birthDate: '1980-01-01',
  _birthDate: { extension: [{ url: 'http://x', valueString: 'y' }] },
  maritalStatus: { text: 'M' },
  contact: [{ name: { family: 'Doe' } }],
} as Patient;

const observation: Observation = {
  resourceType: 'Observation',
  id: 'o',
  status: 'final',
  code: { text: 'c' },
  valueQuantity: { value: 1 },
  note: [{ text: 'n' }],
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">O</div>' },
};

describe('applySubset (R4 search.html#summary, #elements)', () => {
  it('_summary=true keeps summary elements (choice types by their base name) and tags SUBSETTED', () => {
    const p = applySubset(patient, { summary: 'true' });
    expect(Object.keys(p).sort()).toEqual(['_birthDate', 'birthDate', 'id', 'meta', 'name', 'resourceType']);
    expect(p.meta?.tag).toEqual([{ system: 'http://x', code: 'keep' }, SUBSETTED]);
    const o = applySubset(observation, { summary: 'true' });
    expect(Object.keys(o).sort()).toEqual(['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']);
  });
  it('_summary=text keeps text, id, meta and mandatory elements', () => {
    expect(Object.keys(applySubset(observation, { summary: 'text' })).sort()).toEqual(['code', 'id', 'meta', 'resourceType', 'status', 'text']);
  });
  it('_summary=data drops only text; _summary=false changes nothing', () => {
    expect(Object.keys(applySubset(observation, { summary: 'data' }))).not.toContain('text');
    expect(applySubset(observation, { summary: 'false' })).toBe(observation);
  });
  it('_elements keeps the listed and the mandatory elements', () => {
    expect(Object.keys(applySubset(observation, { elements: ['note'] })).sort()).toEqual(['code', 'id', 'meta', 'note', 'resourceType', 'status']);
    expect(Object.keys(applySubset(observation, { elements: ['value'] })).sort()).toEqual(['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']);
  });
  it('does not duplicate the tag or touch the input', () => {
    const once = applySubset(patient, { summary: 'true' });
    const twice = applySubset(once, { summary: 'true' });
    expect(twice.meta?.tag?.filter((t) => t.code === 'SUBSETTED')).toHaveLength(1);
    expect(patient.meta?.tag).toHaveLength(1);
  });
});

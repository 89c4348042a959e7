import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { ORDINAL_VALUE } from '../../server/src/clinical/codes.ts';
import { PHQ9 } from '../../server/src/clinical/outcomes/definitions.ts';
import { INSTRUMENTS } from '../../server/src/clinical/scoring/index.ts';
import { answers } from '../../server/src/seed/demo-clinical.ts';

/**
 * The pieces of the benchmarks' workload that more than one script runs (bench.ts, risk.ts,
 * soak.ts): what is sampled from the loaded Synthea data, the fixed search mix, and PHQ-9
 * responses.
 */
export interface Samples {
  patientIds: string[];
  observationIds: string[];
  identifiers: string[];
  names: { family: string; given: string; birthDate: string }[];
  obsCodes: string[];
  dates: string[];
}

export const emptySamples = (): Samples => ({ patientIds: [], observationIds: [], identifiers: [], names: [], obsCodes: [], dates: [] });

export function collectSamples(bundle: { entry: { resource: Record<string, any> }[] }, s: Samples): void {
  for (const { resource: r } of bundle.entry) {
    if (r.resourceType === 'Patient') {
      const id = r.identifier?.find((i: any) => i.system === 'https://github.com/synthetichealth/synthea');
      if (id) s.identifiers.push(`${id.system}|${id.value}`);
      const n = r.name?.[0];
      if (n?.family && n.given?.[0] && r.birthDate) s.names.push({ family: n.family, given: n.given[0], birthDate: r.birthDate });
    }
    if (r.resourceType === 'Observation' && s.obsCodes.length < 300) {
      const c = r.code?.coding?.[0];
      if (c) s.obsCodes.push(`${c.system}|${c.code}`);
      if (r.effectiveDateTime) s.dates.push(r.effectiveDateTime.slice(0, 10));
    }
  }
}

export const pick = <T>(a: T[], i: number): T => a[i % a.length];

/** The 11 kinds of search of issue 4's benchmark (issue 12: "search mix (11 kinds)"). */
export function searchMix(s: Samples): { name: string; url: (i: number) => string }[] {
  const enc = encodeURIComponent;
  return [
    { name: 'identifier', url: (i) => `Patient?identifier=${enc(pick(s.identifiers, i))}` },
    { name: 'family+given', url: (i) => `Patient?family=${enc(pick(s.names, i).family)}&given=${enc(pick(s.names, i).given)}` },
    { name: 'family+birthdate', url: (i) => `Patient?family=${enc(pick(s.names, i).family)}&birthdate=${pick(s.names, i).birthDate}` },
    { name: 'name', url: (i) => `Patient?name=${enc(pick(s.names, i).given.slice(0, 4))}` },
    { name: 'birthdate range', url: (i) => `Patient?birthdate=ge${1940 + (i % 60)}-01-01&birthdate=lt${1941 + (i % 60)}-01-01` },
    { name: 'obs patient+code sort', url: (i) => `Observation?patient=Patient/${pick(s.patientIds, i)}&code=${enc(pick(s.obsCodes, i))}&_sort=-date` },
    { name: 'obs code+date', url: (i) => `Observation?code=${enc(pick(s.obsCodes, i))}&date=ge${pick(s.dates, i)}` },
    { name: 'encounter patient+date', url: (i) => `Encounter?patient=Patient/${pick(s.patientIds, i)}&date=ge2010-01-01` },
    { name: '_include', url: (i) => `Observation?patient=Patient/${pick(s.patientIds, i)}&_count=10&_include=Observation:patient` },
    { name: 'chained', url: (i) => `Observation?subject:Patient.identifier=${enc(pick(s.identifiers, i))}&_count=10` },
    { name: '_sort=-_lastUpdated', url: (i) => `Encounter?_sort=-_lastUpdated&_count=10&status=${i % 2 ? 'finished' : 'in-progress'}` },
  ];
}

/**
 * A completed PHQ-9 totalling 12 (as the demo clinic's are). Positive: item 9 ("thoughts that you
 * would be better off dead…", LOINC 44260-8) scores 1, a positive suicide-risk screen.
 */
export function phq9Response(patientId: string, positive = true): QuestionnaireResponse {
  const def = INSTRUMENTS['phq-9'];
  const item9 = def.questionnaire.item
    ?.find((x) => x.linkId === '44260-8')
    ?.answerOption?.find((o) => o.extension?.some((e) => e.url === ORDINAL_VALUE && e.valueDecimal === 1))?.valueCoding;
  if (!item9) throw new Error('PHQ-9 item 9 has no answer scoring 1');
  const items = (answers(PHQ9, 12) ?? []).map((i) => (positive && i.linkId === '44260-8' ? { linkId: i.linkId, answer: [{ valueCoding: item9 }] } : i));
  return { resourceType: 'QuestionnaireResponse', questionnaire: `${def.url}|${def.version}`, status: 'completed', subject: { reference: `Patient/${patientId}` }, authored: new Date().toISOString(), item: items };
}

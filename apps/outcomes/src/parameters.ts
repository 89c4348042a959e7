import type { Coding, Parameters, ParametersParameter, Period } from '@medplum/fhirtypes';

/**
 * The answers of `Patient/[id]/$mbc-summary` and `[base]/$mbc-cohort` (shapes in
 * server/src/clinical/README.md) read into plain objects. Nothing is computed here: every
 * number is the server's, only renamed.
 */
type P = ParametersParameter;
const one = (ps: P[] | undefined, name: string): P | undefined => ps?.find((p) => p.name === name);
const all = (ps: P[] | undefined, name: string): P[] => ps?.filter((p) => p.name === name) ?? [];
const num = (p: P | undefined): number | undefined => p?.valueDecimal ?? p?.valueInteger;
const bool = (p: P | undefined): boolean | undefined => p?.valueBoolean;

export interface ScorePoint {
  /** effectiveDateTime of the scored total, as the server gave it. */
  date: string;
  value: number;
  /** `Observation/<id>` of the scored total. */
  observation: string;
}

export interface InstrumentSummary {
  code: Coding;
  name: string;
  assessments: number;
  baseline: number;
  baselineDate: string;
  latest: number;
  latestDate: string;
  change?: number;
  percentChange?: number;
  response?: boolean;
  remission?: boolean;
  reliableImprovement?: boolean;
  reliableDeterioration?: boolean;
  scores: ScorePoint[];
}

export type RecoveryStatus = 'recovered' | 'not-recovered' | 'not-at-caseness' | 'insufficient-data';

export interface PatientSummary {
  instruments: InstrumentSummary[];
  recovery: { status: RecoveryStatus; firstPaired?: string; lastPaired?: string };
}

export function readSummary(p: Parameters): PatientSummary {
  const instruments = all(p.parameter, 'instrument').map((i): InstrumentSummary => {
    const parts = i.part;
    return {
      code: one(parts, 'code')?.valueCoding ?? {},
      name: one(parts, 'name')?.valueString ?? 'Unnamed instrument',
      assessments: num(one(parts, 'assessments')) ?? 0,
      baseline: num(one(parts, 'baseline')) ?? 0,
      baselineDate: one(parts, 'baselineDate')?.valueDateTime ?? '',
      latest: num(one(parts, 'latest')) ?? 0,
      latestDate: one(parts, 'latestDate')?.valueDateTime ?? '',
      change: num(one(parts, 'change')),
      percentChange: num(one(parts, 'percentChange')),
      response: bool(one(parts, 'response')),
      remission: bool(one(parts, 'remission')),
      reliableImprovement: bool(one(parts, 'reliableImprovement')),
      reliableDeterioration: bool(one(parts, 'reliableDeterioration')),
      scores: all(parts, 'score').map((s) => ({
        date: one(s.part, 'date')?.valueDateTime ?? '',
        value: num(one(s.part, 'value')) ?? 0,
        observation: one(s.part, 'observation')?.valueReference?.reference ?? '',
      })),
    };
  });
  const r = one(p.parameter, 'recovery')?.part;
  return {
    instruments,
    recovery: {
      status: (one(r, 'status')?.valueCode as RecoveryStatus | undefined) ?? 'insufficient-data',
      firstPaired: one(r, 'firstPaired')?.valueDate,
      lastPaired: one(r, 'lastPaired')?.valueDate,
    },
  };
}

/** count of denominator, and the server's rate (0–1) when the denominator is not zero. */
export interface Measure {
  count: number;
  denominator: number;
  rate?: number;
}

export interface CohortInstrument {
  code: Coding;
  patients: number;
  patientsWithTwoOrMore: number;
  response: Measure;
  remission: Measure;
  reliableImprovement: Measure;
  medianChange?: number;
  scheduledCompleted: Measure;
}

export interface CohortReport {
  period: Period;
  patients: number;
  patientsWithTwoOrMore: number;
  instruments: CohortInstrument[];
  scheduledCompleted: Measure;
}

const measure = (p: P | undefined): Measure => ({
  count: num(one(p?.part, 'count')) ?? 0,
  denominator: num(one(p?.part, 'denominator')) ?? 0,
  rate: num(one(p?.part, 'rate')),
});

export function readCohort(p: Parameters): CohortReport {
  return {
    period: one(p.parameter, 'period')?.valuePeriod ?? {},
    patients: num(one(p.parameter, 'patients')) ?? 0,
    patientsWithTwoOrMore: num(one(p.parameter, 'patientsWithTwoOrMore')) ?? 0,
    instruments: all(p.parameter, 'instrument').map((i) => ({
      code: one(i.part, 'code')?.valueCoding ?? {},
      patients: num(one(i.part, 'patients')) ?? 0,
      patientsWithTwoOrMore: num(one(i.part, 'patientsWithTwoOrMore')) ?? 0,
      response: measure(one(i.part, 'response')),
      remission: measure(one(i.part, 'remission')),
      reliableImprovement: measure(one(i.part, 'reliableImprovement')),
      medianChange: num(one(i.part, 'medianChange')),
      scheduledCompleted: measure(one(i.part, 'scheduledCompleted')),
    })),
    scheduledCompleted: measure(one(p.parameter, 'scheduledCompleted')),
  };
}

import type { MedplumClient } from '@medplum/core';
import type { Bundle, CarePlan, Composition, Patient, QuestionnaireResponse, Resource, Task } from '@medplum/fhirtypes';
import { COMPLETE_QUESTIONNAIRE, SDC_TASK_SYSTEM } from '../../shared/assignment.ts';
import { personName } from '../../shared/names.ts';
import { ON_CALL_ROLE_SYSTEM } from './risk.ts';
import { formatDay } from './time.ts';

/**
 * The rest of the worklist, all read through the server's access layer (a clinician sees their
 * patients, a supervisor the clinic):
 *  - overdue assessments: SDC questionnaire Tasks (apps/shared/assignment.ts) still open past
 *    restriction.period.end, and scheduled instruments of active CarePlans (clinical/codes.ts:
 *    activity.detail with instantiatesCanonical and scheduledTiming.repeat) whose next occurrence
 *    after the last completed response has passed;
 *  - my unsigned notes: Compositions in status preliminary that I authored;
 *  - notes waiting for countersignature (for a supervisor): signed (final, a legal attester) by
 *    someone else and not yet countersigned (no professional attester; notes/README.md).
 */
export interface OverdueAssessment {
  key: string;
  patient: string;
  instrument: string;
  due: Date;
  detail: string;
}

export interface NoteItem {
  id: string;
  patient: string;
  title: string;
  date?: string;
  author?: string;
}

function patientsOf(bundle: Bundle): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of bundle.entry ?? []) if (e.resource?.resourceType === 'Patient') m.set(`Patient/${e.resource.id}`, personName((e.resource as Patient).name));
  return m;
}

function matches<T extends Resource>(bundle: Bundle, type: T['resourceType']): T[] {
  return (bundle.entry ?? []).filter((e) => e.resource?.resourceType === type && e.search?.mode !== 'include').map((e) => e.resource as T);
}

const UNIT_MS: Record<string, number> = { s: 1_000, min: 60_000, h: 3_600_000, d: 86_400_000, wk: 7 * 86_400_000, mo: 30 * 86_400_000, a: 365 * 86_400_000 };
const UNIT_WORD: Record<string, string> = { s: 'second', min: 'minute', h: 'hour', d: 'day', wk: 'week', mo: 'month', a: 'year' };

function every(repeat: { frequency?: number; period?: number; periodUnit?: string }): string {
  const n = repeat.period ?? 1;
  const unit = UNIT_WORD[repeat.periodUnit ?? 'd'] ?? repeat.periodUnit;
  const per = n === 1 ? unit : `${n} ${unit}s`;
  return (repeat.frequency ?? 1) === 1 ? `every ${per}` : `${repeat.frequency} times every ${per}`;
}

export async function overdueAssessments(medplum: MedplumClient, now: Date): Promise<OverdueAssessment[]> {
  const out: OverdueAssessment[] = [];
  const [tasks, plans] = await Promise.all([
    medplum.search('Task', `code=${encodeURIComponent(`${SDC_TASK_SYSTEM}|${COMPLETE_QUESTIONNAIRE}`)}&status=requested,received,ready,accepted,in-progress&_include=Task:patient&_count=100`),
    medplum.search('CarePlan', 'status=active&_include=CarePlan:subject&_count=100'),
  ]);
  const taskPatients = patientsOf(tasks as Bundle);
  for (const t of matches<Task>(tasks as Bundle, 'Task')) {
    const end = t.restriction?.period?.end;
    if (!end || new Date(end) > now) continue;
    const canonical = t.input?.find((i) => i.valueCanonical)?.valueCanonical ?? '';
    out.push({
      key: `Task/${t.id}`,
      patient: taskPatients.get(t.for?.reference ?? '') ?? 'Patient',
      instrument: instrumentName(canonical),
      due: new Date(end),
      detail: `Assigned${t.authoredOn ? ` ${formatDay(new Date(t.authoredOn))}` : ''}; not completed.`,
    });
  }
  const planPatients = patientsOf(plans as Bundle);
  const checks: Promise<void>[] = [];
  for (const plan of matches<CarePlan>(plans as Bundle, 'CarePlan')) {
    const patient = plan.subject?.reference;
    if (!patient?.startsWith('Patient/')) continue;
    for (const [i, a] of (plan.activity ?? []).entries()) {
      const d = a.detail;
      const canonical = d?.instantiatesCanonical?.[0];
      const repeat = d?.scheduledTiming?.repeat;
      const unit = UNIT_MS[repeat?.periodUnit ?? ''];
      if (!d || !canonical || !repeat || !unit || !(d.status === 'scheduled' || d.status === 'in-progress')) continue;
      const interval = ((repeat.period ?? 1) * unit) / (repeat.frequency ?? 1);
      const start = repeat.boundsPeriod?.start ?? plan.period?.start;
      checks.push(
        medplum
          .search('QuestionnaireResponse', `patient=${patient}&questionnaire=${encodeURIComponent(canonical.split('|')[0])}&status=completed,amended&_sort=-authored&_count=1`)
          .then((b) => {
            const last = matches<QuestionnaireResponse>(b as Bundle, 'QuestionnaireResponse')[0]?.authored;
            const from = last ?? start;
            if (!from) return;
            const due = new Date(new Date(from).getTime() + (last ? interval : 0));
            if (due > now) return;
            out.push({
              key: `CarePlan/${plan.id}/${i}`,
              patient: planPatients.get(patient) ?? 'Patient',
              instrument: d.code?.coding?.[0]?.display ?? d.code?.text ?? instrumentName(canonical),
              due,
              detail: `Scheduled ${every(repeat)}; ${last ? `last completed ${formatDay(new Date(last))}` : 'never completed'}.`,
            });
          })
      );
    }
  }
  await Promise.all(checks);
  return out.sort((a, b) => a.due.getTime() - b.due.getTime());
}

/** "phq-9" from http://bh-fhir.org/fhir/Questionnaire/phq-9|1.0.0, upper-cased: a name until the Questionnaire is read. */
function instrumentName(canonical: string): string {
  const name = canonical.split('|')[0].split('/').pop() ?? 'Questionnaire';
  return name.toUpperCase();
}

export async function unsignedNotes(medplum: MedplumClient, me: string): Promise<NoteItem[]> {
  const b = (await medplum.search('Composition', `status=preliminary&author=${encodeURIComponent(me)}&_include=Composition:subject&_count=100`)) as Bundle;
  const patients = patientsOf(b);
  return matches<Composition>(b, 'Composition').map((c) => noteItem(c, patients));
}

/** Whether I hold a supervisor role in the clinic's rota (PractitionerRole, clinical/risk/README.md). */
export async function isSupervisor(medplum: MedplumClient, me: string): Promise<boolean> {
  const b = await medplum.search('PractitionerRole', `practitioner=${encodeURIComponent(me)}&role=${encodeURIComponent(`${ON_CALL_ROLE_SYSTEM}|supervisor`)}&_count=1`);
  return (b.entry ?? []).some((e) => e.resource?.resourceType === 'PractitionerRole' && e.resource.active !== false);
}

export async function notesToCountersign(medplum: MedplumClient, me: string): Promise<NoteItem[]> {
  const b = (await medplum.search('Composition', 'status=final&_include=Composition:subject&_sort=-date&_count=100')) as Bundle;
  const patients = patientsOf(b);
  return matches<Composition>(b, 'Composition')
    .filter((c) => (c.attester ?? []).some((a) => a.mode === 'legal') && !(c.attester ?? []).some((a) => a.mode === 'professional'))
    .filter((c) => !(c.author ?? []).some((a) => a.reference === me))
    .map((c) => noteItem(c, patients));
}

function noteItem(c: Composition, patients: Map<string, string>): NoteItem {
  return { id: c.id as string, patient: patients.get(c.subject?.reference ?? '') ?? 'Patient', title: c.title ?? 'Note', date: c.date, author: c.author?.[0]?.reference };
}

import type {
  CarePlan,
  CareTeam,
  Composition,
  CompositionSection,
  Coverage,
  Encounter,
  Flag,
  Goal,
  Organization,
  Patient,
  Practitioner,
  PractitionerRole,
  QuestionnaireResponse,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { loadSigningKeys } from '../auth/keys.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { LOINC, ON_CALL_ROLE_SYSTEM, ORDINAL_VALUE, PROGRAM_SYSTEM, RISK_FLAG_SYSTEM, RISK_OUTCOME_SYSTEM, RISK_TASK_CODE, RISK_TASK_SYSTEM, SCORE_UNIT, profileUrl, questionnaireUrl } from '../clinical/codes.ts';
import { loadInstruments } from '../clinical/instruments/index.ts';
import { countersignComposition, signComposition } from '../clinical/notes/sign.ts';
import { PROGRESS_NOTE, PSYCHOTHERAPY_SECTION, SECTION } from '../clinical/notes/note-codes.ts';
import { GAD7, type InstrumentRule, PHQ9 } from '../clinical/outcomes/definitions.ts';
import { INSTRUMENTS } from '../clinical/scoring/index.ts';
import { log } from '../log.ts';
import { Repository } from '../store/repository.ts';
import { writeHooks } from '../write-hooks.ts';

/**
 * The living demo practice (measurement-based care): clinicians with roles, patients on care
 * teams, two payers, depression and anxiety programs with goals and scheduled PHQ-9/GAD-7, 12+
 * weeks of scores that improve, stall or worsen, sessions, and signed notes. Runs inside seedDemo
 * after the demo logins (seed/demo-users.ts) so their Practitioners are reused, not duplicated.
 *
 * Scores are entered as completed QuestionnaireResponses through the repository with the
 * server's write hooks: the scoring hook stores the scored Observations in the same transaction,
 * exactly as when a patient submits a form. Histories end on the seeding day, so the practice
 * looks current whenever a database is created.
 */
interface DemoPatient {
  /** Family name of one of the three core demo patients, or a new patient. */
  family: string;
  given?: string;
  gender?: Patient['gender'];
  birthDate?: string;
  program: 'depression' | 'anxiety';
  clinician: 'rivera' | 'shah';
  payer?: 'northwind' | 'lakeside';
  /** Days between sessions (7 or 14). */
  every: number;
  phq9: number[];
  gad7: number[];
}

/** Trajectories chosen to show each outcome (see clinical/README.md, demo clinic). */
const PATIENTS: DemoPatient[] = [
  // Improves to remission and recovery (PHQ-9 19 → 4, GAD-7 12 → 4).
  { family: 'Nguyen', program: 'depression', clinician: 'rivera', payer: 'northwind', every: 14, phq9: [19, 17, 14, 11, 8, 6, 5, 4], gad7: [12, 11, 10, 8, 7, 6, 5, 4] },
  // Stalls: no reliable change (PHQ-9 16 → 14).
  { family: 'Okafor', program: 'depression', clinician: 'rivera', payer: 'lakeside', every: 14, phq9: [16, 15, 16, 14, 15, 14, 15, 14], gad7: [9, 9, 10, 9, 8, 9, 9, 8] },
  // Adolescent on the anxiety program: responds (GAD-7 15 → 6).
  { family: 'Lindqvist', program: 'anxiety', clinician: 'rivera', payer: 'northwind', every: 14, phq9: [9, 9, 8, 7, 6, 6, 5, 5], gad7: [15, 14, 12, 10, 9, 8, 7, 6] },
  { family: 'Martínez', given: 'Sofía', gender: 'female', birthDate: '1979-06-03', program: 'depression', clinician: 'rivera', payer: 'lakeside', every: 7,
    phq9: [22, 21, 19, 18, 16, 14, 12, 11, 9, 8, 7, 6, 5], gad7: [13, 13, 12, 11, 11, 10, 9, 8, 8, 7, 6, 6, 5] },
  // Worsens: reliable deterioration (PHQ-9 11 → 19).
  { family: "O'Brien", given: 'James', gender: 'male', birthDate: '1968-11-21', program: 'depression', clinician: 'rivera', every: 14, phq9: [11, 12, 13, 15, 16, 18, 19], gad7: [7, 8, 8, 10, 11, 12, 12] },
  { family: 'Rahman', given: 'Aisha', gender: 'female', birthDate: '1995-02-14', program: 'anxiety', clinician: 'shah', payer: 'northwind', every: 14, phq9: [8, 7, 7, 6, 5, 4, 3], gad7: [16, 14, 11, 9, 6, 4, 3] },
  { family: 'Silva', given: 'Tomás', gender: 'male', birthDate: '2001-08-09', program: 'depression', clinician: 'shah', payer: 'lakeside', every: 14, phq9: [14, 15, 17, 18, 20, 21, 22], gad7: [10, 11, 12, 13, 14, 15, 15] },
  // Stalls on anxiety (GAD-7 13 → 12).
  { family: 'Kim', given: 'Grace', gender: 'female', birthDate: '1988-12-01', program: 'anxiety', clinician: 'shah', every: 14, phq9: [7, 7, 8, 7, 7, 6, 7], gad7: [13, 12, 13, 12, 13, 12, 12] },
  // Responds without remission (PHQ-9 20 → 9).
  { family: 'Weber', given: 'Daniel', gender: 'male', birthDate: '1973-04-27', program: 'depression', clinician: 'shah', payer: 'northwind', every: 7,
    phq9: [20, 19, 19, 17, 16, 15, 14, 13, 12, 11, 10, 9, 9], gad7: [11, 11, 10, 10, 9, 9, 9, 8, 8, 8, 7, 7, 7] },
  // New this month: two assessments so far.
  { family: 'Haddad', given: 'Noor', gender: 'female', birthDate: '1999-09-30', program: 'anxiety', clinician: 'shah', every: 14, phq9: [10, 9], gad7: [14, 12] },
];

const PROGRAMS = {
  depression: { code: 'depression', display: 'Depression program', goal: PHQ9, text: 'Depression in remission: PHQ-9 below 5' },
  anxiety: { code: 'anxiety', display: 'Anxiety program', goal: GAD7, text: 'Anxiety in remission: GAD-7 below 5' },
} as const;

const DAY = 86_400_000;
const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10);

/** Item answers whose ordinal values add up to `total` (PHQ-9 item 9, self-harm, left at 0). */
export function answers(rule: InstrumentRule, total: number): QuestionnaireResponse['item'] {
  const def = INSTRUMENTS[rule.key];
  const items = def.scoredLinkIds.filter((id) => id !== '44260-8');
  const base = Math.floor(total / items.length);
  const extra = total % items.length;
  return def.scoredLinkIds.map((linkId) => {
    const i = items.indexOf(linkId);
    const score = i < 0 ? 0 : base + (i < extra ? 1 : 0);
    const option = def.questionnaire.item
      ?.find((x) => x.linkId === linkId)
      ?.answerOption?.find((o) => o.extension?.some((e) => e.url === ORDINAL_VALUE && e.valueDecimal === score));
    if (!option?.valueCoding) throw new Error(`demo: no ${rule.name} answer scoring ${score} for ${linkId}`);
    return { linkId, answer: [{ valueCoding: option.valueCoding }] };
  });
}

function section(code: { system: string; code: string; display: string }, text: string): CompositionSection {
  return {
    title: code.display,
    code: { coding: [code] },
    text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml"><p>${text}</p></div>` },
  };
}

/**
 * Severe PHQ-9 totals in the histories raised risk Tasks (clinical/risk, rule phq9-severe) as they
 * were scored; in the story each was followed up by the treating clinician, so each is closed the
 * way a clinician closes one (a person with role clinician, a statusReason and the outcome) and
 * the safety Flag ended: the demo starts with no overdue Task escalating in the background.
 */
async function closeRiskFollowUp(db: Database, repo: Repository, patient: Patient, clinician: Practitioner): Promise<void> {
  const fhirUser = `Practitioner/${clinician.id}`;
  const asClinician = new Repository(db, {
    ...repo.ctx,
    access: { ...repo.ctx.access, context: { tenant: repo.ctx.tenant, clientId: undefined, scope: 'user/*.cruds', fhirUser, roles: ['clinician'] } },
  });
  const open = await repo.searchParams('Task', [
    ['subject', `Patient/${patient.id}`],
    ['code', `${RISK_TASK_SYSTEM}|${RISK_TASK_CODE}`],
    ['status', 'requested,received,ready,accepted,in-progress'],
  ]);
  for (const e of open.entry ?? []) {
    const task = e.resource as Task;
    await asClinician.updateResource<Task>({
      ...task,
      status: 'completed',
      statusReason: { text: 'Followed up by the treating clinician' },
      output: [{ type: { coding: [{ system: RISK_OUTCOME_SYSTEM, code: 'contact-made-safety-plan', display: 'Contact made; safety plan' }] }, valueString: 'Phoned the patient the same day: no suicidal ideation, safety plan reviewed, next session brought forward.' }],
    });
  }
  const flags = await repo.searchParams('Flag', [['patient', `Patient/${patient.id}`]]);
  for (const e of flags.entry ?? []) {
    const flag = e.resource as Flag;
    if (flag.status !== 'active' || !flag.code?.coding?.some((c) => c.system === RISK_FLAG_SYSTEM)) continue;
    await asClinician.updateResource<Flag>({ ...flag, status: 'inactive', period: { ...flag.period, end: new Date().toISOString() } });
  }
}

export interface DemoClinicalCounts {
  patients: number;
  carePlans: number;
  responses: number;
  notes: number;
}

export async function seedDemoClinical(db: Database, config: Config, tenant: string): Promise<DemoClinicalCounts> {
  const started = performance.now();
  const fhirBase = `${config.baseUrl}/fhir/R4`;
  const repo = Repository.forServer(db, {
    reason: 'demo clinical seed',
    tenant,
    fhirBase,
    lenient: false,
    defaultCount: config.defaultCount,
    maxCount: config.maxCount,
    // Every hook, goal achievement included: its re-assessment after each score is now one
    // index-driven statement (clinical/careplan/goal-achievement.ts), ~5 ms on PGlite inside this
    // long transaction; the whole seed measured 10.4 s with it, 10.0 s without (01:18 UTC).
    hooks: writeHooks,
  });
  // The Questionnaires must be in the tenant before responses can be scored against them.
  await loadInstruments(db, tenant);
  const one = async (type: string, params: [string, string][]): Promise<Resource | undefined> =>
    (await repo.searchParams(type, [...params, ['_count', '1']])).entry?.[0]?.resource as Resource | undefined;
  const ref = (r: Resource) => ({ reference: `${r.resourceType}/${r.id}` });

  // --- people and organizations ---------------------------------------------------------------
  const practitioner = async (family: string, given: string, qualification: string): Promise<Practitioner> =>
    ((await one('Practitioner', [['family', family]])) as Practitioner | undefined) ??
    (await repo.createResource<Practitioner>({ resourceType: 'Practitioner', name: [{ family, given: [given], prefix: ['Dr.'] }], qualification: [{ code: { text: qualification } }] }));
  const rivera = await practitioner('Rivera', 'Ana', 'Licensed Clinical Psychologist');
  const okoye = await practitioner('Okoye', 'Sam', 'Clinical Supervisor, LCSW');
  const shah = await practitioner('Shah', 'Priya', 'Licensed Professional Counselor');
  const clinicians = { rivera, shah };

  const org = (name: string, type: string, display: string) =>
    repo.createResource<Organization>({
      resourceType: 'Organization',
      active: true,
      name,
      type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: type, display }] }],
    });
  const clinic = await org('Demo Clinic', 'prov', 'Healthcare Provider');
  const payers = { northwind: await org('Northwind Health Plan', 'pay', 'Payer'), lakeside: await org('Lakeside Medicaid', 'pay', 'Payer') };
  // The on-call rota (clinical/risk/README.md): Dr. Rivera on call, Dr. Shah backup, Dr. Okoye
  // supervisor and clinic lead; every day, all day, so the demo's risk workflow works at any hour.
  const rotaCode = (code: string, display: string) => ({ coding: [{ system: ON_CALL_ROLE_SYSTEM, code, display }] });
  const everyDay = [{ daysOfWeek: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as ('mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun')[], allDay: true }];
  const staff = [
    [rivera, 'Clinical psychologist', [rotaCode('on-call', 'On call')]],
    [shah, 'Counselor', [rotaCode('on-call-backup', 'Backup on call')]],
    [okoye, 'Clinical supervisor', [rotaCode('supervisor', 'Supervisor'), rotaCode('clinic-lead', 'Clinic lead')]],
  ] as const;
  for (const [p, role, rota] of staff) {
    await repo.createResource<PractitionerRole>({
      resourceType: 'PractitionerRole',
      active: true,
      practitioner: { ...ref(p), display: `Dr. ${p.name?.[0]?.given?.[0] ?? ''} ${p.name?.[0]?.family ?? ''}` },
      organization: ref(clinic),
      code: [{ text: role }, ...rota],
      specialty: [{ text: 'Behavioral health' }],
      ...(p === okoye ? {} : { availableTime: everyDay }),
    });
  }

  const now = Date.now();
  const today = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate());
  let responses = 0;
  const lastSessions: { patient: Patient; encounter: Encounter; clinician: Practitioner; plan: CarePlan; goal: Goal; p: DemoPatient }[] = [];

  for (const p of PATIENTS) {
    const patient =
      ((await one('Patient', [['family', p.family]])) as Patient | undefined) ??
      (await repo.createResource<Patient>({
        resourceType: 'Patient',
        name: [{ family: p.family, given: [p.given ?? ''] }],
        gender: p.gender,
        birthDate: p.birthDate,
        identifier: [{ system: 'urn:demo-clinic:mrn', value: `MRN-${p.birthDate?.replace(/-/g, '')}` }],
      }));
    const clinician = clinicians[p.clinician];
    const sessions = p.phq9.length;
    // The last session was within the past week; the first `sessions - 1` intervals before it.
    const last = today - ((p.family.length % 5) + 1) * DAY;
    const first = last - (sessions - 1) * p.every * DAY;
    await repo.withTransaction(async (tx) => {
      const team = await tx.createResource<CareTeam>({
        resourceType: 'CareTeam',
        status: 'active',
        name: `${p.family} care team`,
        subject: ref(patient),
        managingOrganization: [ref(clinic)],
        participant: [
          { role: [{ text: 'Primary clinician' }], member: ref(clinician) },
          ...(p.clinician === 'shah' ? [{ role: [{ text: 'Clinical supervisor' }], member: ref(okoye) }] : []),
        ],
      });
      if (p.payer) {
        await tx.createResource<Coverage>({
          resourceType: 'Coverage',
          status: 'active',
          beneficiary: ref(patient),
          subscriberId: `${p.payer.toUpperCase()}-${patient.id?.slice(0, 8)}`,
          relationship: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship', code: 'self' }] },
          payor: [ref(payers[p.payer])],
        });
      }
      const program = PROGRAMS[p.program];
      const due = isoDay(first + 26 * 7 * DAY);
      const goal = await tx.createResource<Goal>({
        resourceType: 'Goal',
        meta: { profile: [profileUrl('treatment-goal')] },
        lifecycleStatus: 'active',
        description: { text: program.text },
        subject: ref(patient),
        startDate: isoDay(first),
        target: [{ measure: { coding: [{ system: LOINC, code: program.goal.totalCode, display: `${program.goal.name} total score` }] }, detailQuantity: { comparator: '<', value: 5, ...SCORE_UNIT }, dueDate: due }],
      });
      const schedule = (rule: InstrumentRule) => ({
        detail: {
          kind: 'ServiceRequest' as const,
          code: { coding: [{ system: LOINC, code: rule.panelCode, display: rule.name }] },
          instantiatesCanonical: [questionnaireUrl(rule.key)],
          status: 'scheduled' as const,
          description: `${rule.name} every ${p.every / 7 === 1 ? 'week' : `${p.every / 7} weeks`}`,
          scheduledTiming: { repeat: { frequency: 1, period: p.every / 7, periodUnit: 'wk' as const, boundsPeriod: { start: isoDay(first) } } },
        },
      });
      const plan = await tx.createResource<CarePlan>({
        resourceType: 'CarePlan',
        meta: { profile: [profileUrl('treatment-plan')] },
        status: 'active',
        intent: 'plan',
        title: `${program.display}: ${p.given ?? patient.name?.[0]?.given?.[0] ?? ''} ${p.family}`.trim(),
        category: [{ coding: [{ system: PROGRAM_SYSTEM, code: program.code, display: program.display }] }],
        subject: ref(patient),
        period: { start: isoDay(first) },
        author: ref(clinician),
        careTeam: [ref(team)],
        goal: [ref(goal)],
        activity: [schedule(PHQ9), schedule(GAD7)],
      });
      let encounter: Encounter | undefined;
      for (let i = 0; i < sessions; i++) {
        const start = first + i * p.every * DAY + 15 * 3_600_000;
        encounter = await tx.createResource<Encounter>({
          resourceType: 'Encounter',
          status: 'finished',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
          type: [{ text: i === 0 ? 'Intake assessment' : 'Psychotherapy session' }],
          subject: ref(patient),
          participant: [{ individual: ref(clinician) }],
          period: { start: new Date(start).toISOString(), end: new Date(start + 50 * 60_000).toISOString() },
          serviceProvider: ref(clinic),
        });
        for (const [rule, total] of [[PHQ9, p.phq9[i]], [GAD7, p.gad7[i]]] as const) {
          const def = INSTRUMENTS[rule.key];
          await tx.createResource<QuestionnaireResponse>({
            resourceType: 'QuestionnaireResponse',
            questionnaire: `${def.url}|${def.version}`,
            status: 'completed',
            subject: ref(patient),
            encounter: ref(encounter),
            basedOn: [ref(plan)],
            authored: new Date(start - 10 * 60_000).toISOString(),
            author: ref(patient),
            source: ref(patient),
            item: answers(rule, total),
          });
          responses++;
        }
      }
      if (encounter) lastSessions.push({ patient, encounter, clinician, plan, goal, p });
    });
    await closeRiskFollowUp(db, repo, patient, clinician);
  }

  // --- notes: the latest session of four patients, signed; one countersigned; one with a
  // psychotherapy-notes section, which the notes hook stores apart (clinical/notes/psychotherapy.ts).
  const keys = await loadSigningKeys(db);
  let notes = 0;
  for (const [i, s] of lastSessions.filter((x) => ['Nguyen', 'Okafor', 'Rahman', 'Weber'].includes(x.p.family)).entries()) {
    const phq = s.p.phq9.at(-1);
    const gad = s.p.gad7.at(-1);
    const sections = [
      section(SECTION.subjective, 'Reports sleep and energy are improving; practising behavioural activation between sessions.'),
      section(SECTION.objective, `Today's PHQ-9 ${phq}, GAD-7 ${gad}. Affect brighter, engaged, no safety concerns raised.`),
      section(SECTION.assessment, `${PROGRAMS[s.p.program].display}: first PHQ-9 ${s.p.phq9[0]}, now ${phq}.`),
      section(SECTION.plan, `Continue ${s.p.every === 7 ? 'weekly' : 'fortnightly'} sessions; repeat PHQ-9 and GAD-7 at each visit.`),
      ...(i === 0 ? [section(PSYCHOTHERAPY_SECTION, 'Process notes: themes of loss around the move; explore in next session.')] : []),
    ];
    const note = await repo.createResource<Composition>({
      resourceType: 'Composition',
      meta: { profile: [profileUrl('soap-note')] },
      status: 'preliminary',
      type: { coding: [PROGRESS_NOTE] },
      subject: ref(s.patient),
      encounter: ref(s.encounter),
      date: s.encounter.period?.end ?? new Date().toISOString(),
      author: [ref(s.clinician)],
      title: 'Progress note',
      section: sections,
    });
    await signComposition(repo, note.id, { signer: `Practitioner/${s.clinician.id}`, keys });
    // A note by the second clinician is countersigned by the supervisor.
    if (s.p.family === 'Rahman') await countersignComposition(repo, note.id, { signer: `Practitioner/${okoye.id}`, keys });
    notes++;
  }
  const counts = { patients: PATIENTS.length, carePlans: lastSessions.length, responses, notes };
  log.info('seeded demo clinical practice', { tenant, ...counts, ms: Math.round(performance.now() - started) });
  return counts;
}

import type { Bundle, Communication, Patient, PractitionerRole, Reference, Task, TaskInput } from '@medplum/fhirtypes';

/**
 * The crisis-risk Task as the server raises it (server/src/clinical/risk/README.md): code
 * risk-task#suicide-risk-follow-up, owner always a Practitioner, restriction.period.end the
 * acknowledgement deadline, input the screen and the triggering answers, note the playbook.
 * Only a person acknowledges (accepted / in-progress) and closes (completed, with a statusReason
 * and an output typed risk-outcome#<code> whose value says what was done).
 */
export const CANONICAL_BASE = 'http://bh-fhir.org/fhir';
export const RISK_TASK_SYSTEM = `${CANONICAL_BASE}/CodeSystem/risk-task`;
export const RISK_TASK_CODE = 'suicide-risk-follow-up';
export const RISK_OUTCOME_SYSTEM = `${CANONICAL_BASE}/CodeSystem/risk-outcome`;
export const RISK_ESCALATION_SYSTEM = `${CANONICAL_BASE}/CodeSystem/risk-escalation`;
export const ON_CALL_ROLE_SYSTEM = `${CANONICAL_BASE}/CodeSystem/on-call-role`;
export const COMMUNICATION_CATEGORY_SYSTEM = `${CANONICAL_BASE}/CodeSystem/communication-category`;
export const RISK_TOPIC = `${CANONICAL_BASE}/SubscriptionTopic/risk-task`;

export const OPEN_STATUSES = ['requested', 'received', 'ready', 'accepted', 'in-progress'];
/** Not yet acknowledged by a person: the server's deadline (and its escalation timer) applies. */
export const WAITING = new Set(['draft', 'requested', 'received', 'ready']);

/** Open risk Tasks the signed-in person may see (the server's access layer decides which), with their patients. */
export const openRiskTasksQuery = `code=${encodeURIComponent(`${RISK_TASK_SYSTEM}|${RISK_TASK_CODE}`)}&status=${OPEN_STATUSES.join(',')}&_include=Task:patient&_count=100`;

/** The outcome codes the server accepts when a risk Task is closed (server/src/clinical/risk/hooks.ts OUTCOMES). */
export const OUTCOMES: { code: string; label: string; hint: string }[] = [
  { code: 'contact-made-safety-plan', label: 'Contact made; safety plan completed or updated', hint: 'What was assessed and agreed, and the follow-up.' },
  { code: 'referred-988', label: 'Referred to the 988 Suicide & Crisis Lifeline', hint: 'How the referral was made and what the patient agreed to.' },
  { code: 'referred-emergency', label: 'Referred to emergency care', hint: 'Where the patient was referred and how they get there.' },
  { code: 'unable-to-reach', label: 'Unable to reach the patient', hint: 'List each attempt: when, and how (phone, text, emergency contact).' },
];

const PRIORITY_RANK: Record<string, number> = { stat: 4, asap: 3, urgent: 2, routine: 1 };
export const PRIORITY_TEXT: Record<string, string> = { stat: 'Stat', asap: 'ASAP', urgent: 'Urgent', routine: 'Routine' };

export interface RiskItem {
  task: Task & { id: string };
  patient?: Patient;
}

export function riskItems(bundle: Bundle): RiskItem[] {
  const patients = new Map<string, Patient>();
  for (const e of bundle.entry ?? []) if (e.resource?.resourceType === 'Patient' && e.resource.id) patients.set(`Patient/${e.resource.id}`, e.resource);
  return (bundle.entry ?? [])
    .filter((e) => e.resource?.resourceType === 'Task' && e.search?.mode !== 'include')
    .map((e) => {
      const task = e.resource as Task & { id: string };
      return { task, patient: patients.get(task.for?.reference ?? '') };
    });
}

export function deadlineOf(task: Task): Date | undefined {
  const end = task.restriction?.period?.end;
  return end ? new Date(end) : undefined;
}

/** Past its acknowledgement deadline and nobody has acknowledged it yet. */
export function isOverdue(task: Task, now: Date): boolean {
  const d = deadlineOf(task);
  return Boolean(d && WAITING.has(task.status) && d.getTime() <= now.getTime());
}

/** Waiting ones first (overdue before the rest), then the higher priority, then the nearer deadline. */
export function sortRisk(items: RiskItem[], now: Date): RiskItem[] {
  const key = (t: Task) => [isOverdue(t, now) ? 0 : 1, WAITING.has(t.status) ? 0 : 1, -(PRIORITY_RANK[t.priority ?? ''] ?? 0), deadlineOf(t)?.getTime() ?? Infinity];
  return [...items].sort((a, b) => {
    const ka = key(a.task);
    const kb = key(b.task);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
    return a.task.id.localeCompare(b.task.id);
  });
}

/** One triggering answer, in words: the question (or measure) and the answer the server recorded. */
export interface Trigger {
  question: string;
  answer: string;
  rule?: string;
}

export function triggersOf(task: Task): Trigger[] {
  return (task.input ?? [])
    .filter((i) => !i.type?.coding?.some((c) => c.system === RISK_TASK_SYSTEM && c.code === 'screen'))
    .map((i) => ({ question: questionOf(i), answer: answerOf(i), rule: i.type?.coding?.find((c) => c.system?.endsWith('/CodeSystem/risk-rule'))?.display }));
}

function questionOf(i: TaskInput): string {
  // The server writes "<rule id>: <question text>"; the rule is shown apart.
  const text = i.type?.text ?? i.type?.coding?.[0]?.display ?? 'Answer';
  return text.replace(/^[a-z0-9-]+:\s*/i, '');
}

function answerOf(i: TaskInput): string {
  if (i.valueCoding) return i.valueCoding.display ?? i.valueCoding.code ?? '';
  if (i.valueQuantity) return `${i.valueQuantity.value ?? ''}`;
  if (i.valueString !== undefined) return i.valueString;
  if (i.valueInteger !== undefined) return String(i.valueInteger);
  if (i.valueDecimal !== undefined) return String(i.valueDecimal);
  if (i.valueBoolean !== undefined) return i.valueBoolean ? 'Yes' : 'No';
  return '';
}

/** The screens (QuestionnaireResponses) that raised or joined the Task. */
export function screensOf(task: Task): { reference: string; label: string }[] {
  return (task.input ?? [])
    .filter((i) => i.type?.coding?.some((c) => c.system === RISK_TASK_SYSTEM && c.code === 'screen') && i.valueReference?.reference)
    .map((i) => ({ reference: i.valueReference?.reference as string, label: i.type?.text ?? 'Screen' }));
}

/** The playbook notes the server copied from the matched rules ("Playbook for <rule> (<priority>): ..."). */
export function playbooksOf(task: Task): string[] {
  return (task.note ?? []).map((n) => n.text ?? '').filter((t) => t.startsWith('Playbook for'));
}

/** Every other note: how the owner was chosen, joins, escalation steps, handovers. */
export function historyOf(task: Task): { time?: string; text: string }[] {
  return (task.note ?? []).filter((n) => n.text && !n.text.startsWith('Playbook for')).map((n) => ({ time: n.time, text: n.text as string }));
}

export function outcomeOf(task: Task): { code: string; label: string; text: string } | undefined {
  for (const o of task.output ?? []) {
    const c = o.type?.coding?.find((x) => x.system === RISK_OUTCOME_SYSTEM);
    if (c?.code) return { code: c.code, label: OUTCOMES.find((x) => x.code === c.code)?.label ?? c.code, text: o.valueString ?? o.valueAnnotation?.text ?? '' };
  }
  return undefined;
}

/** Accept: acknowledged by me; if someone else owned it, I take it over (handing over is allowed). */
export function accepted(task: Task, me: string, now: Date): Task {
  const takeOver = task.owner?.reference !== me;
  return {
    ...task,
    status: 'accepted',
    owner: takeOver ? { reference: me } : task.owner,
    lastModified: now.toISOString(),
    note: [...(task.note ?? []), { time: now.toISOString(), authorReference: { reference: me }, text: takeOver ? `Accepted and taken over by ${me} (was ${task.owner?.display ?? task.owner?.reference ?? 'unassigned'}).` : 'Accepted.' }],
  };
}

/**
 * The outcome as the server expects it: an output typed risk-outcome#<code> with what was done as
 * valueString. Saving keeps the Task open (in-progress); closing also sets completed and a
 * statusReason naming the outcome the clinician chose.
 */
export function withOutcome(task: Task, me: string, outcome: { code: string; text: string }, close: boolean, now: Date): Task {
  const label = OUTCOMES.find((o) => o.code === outcome.code)?.label ?? outcome.code;
  const output = [
    ...(task.output ?? []).filter((o) => !o.type?.coding?.some((c) => c.system === RISK_OUTCOME_SYSTEM)),
    { type: { coding: [{ system: RISK_OUTCOME_SYSTEM, code: outcome.code, display: label }] }, valueString: outcome.text },
  ];
  return {
    ...task,
    status: close ? 'completed' : 'in-progress',
    output,
    lastModified: now.toISOString(),
    ...(close ? { statusReason: { coding: [{ system: RISK_OUTCOME_SYSTEM, code: outcome.code, display: label }], text: `Closed: ${label}` } } : {}),
    note: [...(task.note ?? []), { time: now.toISOString(), authorReference: { reference: me }, text: `${close ? 'Closed' : 'Outcome documented'}: ${label}.` }],
  };
}

/** The escalation ladder after the first owner (server/src/clinical/risk/rota.ts LADDER). */
export const LADDER = [
  { code: 'on-call-backup', label: 'Backup on call' },
  { code: 'supervisor', label: 'Supervisor' },
  { code: 'clinic-lead', label: 'Clinic lead' },
] as const;

export interface LadderPerson {
  reference: string;
  display: string;
  rung: (typeof LADDER)[number]['code'];
  rungLabel: string;
}

/** Query for the rota roles of the ladder (PractitionerRole with on-call-role codes). */
export const ladderQuery = `role=${LADDER.map((r) => encodeURIComponent(`${ON_CALL_ROLE_SYSTEM}|${r.code}`)).join(',')}&active=true&_count=100`;

/**
 * The people of the ladder, in ladder order, active and within their period (availability hours
 * are the server's to judge when it escalates by itself; a person choosing whom to hand over to
 * sees every holder). Me excluded.
 */
export function ladderPeople(roles: PractitionerRole[], me: string, now: Date): LadderPerson[] {
  const out: LadderPerson[] = [];
  for (const rung of LADDER) {
    const holders = roles
      .filter((r) => r.active !== false && r.code?.some((c) => c.coding?.some((x) => x.system === ON_CALL_ROLE_SYSTEM && x.code === rung.code)))
      .filter((r) => (!r.period?.start || new Date(r.period.start) <= now) && (!r.period?.end || new Date(r.period.end) > now))
      .sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''));
    for (const r of holders) {
      const ref = r.practitioner?.reference;
      if (!ref || ref === me || out.some((p) => p.reference === ref && p.rung === rung.code)) continue;
      out.push({ reference: ref, display: r.practitioner?.display ?? ref, rung: rung.code, rungLabel: rung.label });
    }
  }
  return out;
}

/** The next rung after the Task's current step (businessStatus risk-escalation code). */
export function nextRung(task: Task): LadderPerson['rung'] {
  const step = task.businessStatus?.coding?.find((c) => c.system === RISK_ESCALATION_SYSTEM)?.code;
  if (step === 'on-call-backup') return 'supervisor';
  if (step === 'supervisor' || step === 'clinic-lead') return 'clinic-lead';
  return 'on-call-backup';
}

/**
 * A manual escalation (the server escalates only at the deadline, server/src/clinical/risk/escalation.ts):
 * the Task handed over to the chosen person of the ladder, with the rung in businessStatus and a
 * note. The status is kept: a waiting Task's deadline and timer stay the server's; an accepted
 * Task stays acknowledged, now in the new owner's hands.
 */
export function escalated(task: Task, me: string, to: LadderPerson, reason: string, now: Date): Task {
  return {
    ...task,
    owner: { reference: to.reference, display: to.display },
    lastModified: now.toISOString(),
    businessStatus: { coding: [{ system: RISK_ESCALATION_SYSTEM, code: to.rung, display: to.rungLabel.toLowerCase() }], text: `Escalated by hand to ${to.rungLabel.toLowerCase()}` },
    note: [...(task.note ?? []), { time: now.toISOString(), authorReference: { reference: me }, text: `Escalated by hand to ${to.display} (${to.rungLabel.toLowerCase()}) by ${me}: ${reason}` }],
  };
}

/**
 * The notice to the new owner. A clinician may write only within their patients' compartments,
 * so it names the patient as subject, and carries confidentiality R so the patient's own apps
 * never show this staff message (only treating clinicians and supervisors see R records).
 */
export function escalationNotice(task: Task, me: string, to: LadderPerson, reason: string, now: Date): Communication {
  return {
    resourceType: 'Communication',
    meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' }] },
    status: 'completed',
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'risk-escalation', display: 'Risk Task escalation' }] }],
    priority: task.priority === 'stat' ? 'stat' : 'urgent',
    subject: task.for as Reference<Patient>,
    recipient: [{ reference: to.reference, display: to.display }],
    sender: { reference: me },
    about: [{ reference: `Task/${task.id}` }],
    sent: now.toISOString(),
    payload: [{ contentString: `Escalated to you by hand: a risk follow-up Task (priority ${task.priority ?? 'unknown'}). Reason: ${reason}` }],
  };
}

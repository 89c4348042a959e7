import type { Bundle, CareTeam, Practitioner, PractitionerRole, Reference } from '@medplum/fhirtypes';
import { log } from '../../log.ts';
import type { Repository } from '../../store/repository.ts';
import type { SearchRequest } from '../../store/search/batch.ts';
import { ON_CALL_ROLE_SYSTEM, TIMEZONE_EXTENSION } from '../codes.ts';

/**
 * The on-call rota as FHIR: PractitionerRole resources of the tenant whose `code` holds one of
 * ON_CALL_ROLE_SYSTEM `on-call` (primary), `on-call-backup`, `supervisor`, `clinic-lead`.
 * Why PractitionerRole: it is R4's resource for "what a practitioner does, where, and when"
 * (https://hl7.org/fhir/R4/practitionerrole.html) with `active`, `period` and `availableTime`,
 * so a rota is edited with plain FHIR writes and read by any FHIR client, no new tables.
 * A role counts when active is not false and `period` (if any) covers now; for the two on-call
 * roles `availableTime` (if any) must also cover now, read in the IANA zone of the R4 `timezone`
 * extension (valueCode) on the PractitionerRole, UTC when absent.
 */
export type RotaRole = 'on-call' | 'on-call-backup' | 'supervisor' | 'clinic-lead';
export const ROTA_ROLES: readonly RotaRole[] = ['on-call', 'on-call-backup', 'supervisor', 'clinic-lead'];

export interface Person {
  /** `Practitioner/<id>` */
  reference: string;
  display?: string;
}

/** The people who hold `role` at `now`, in a stable order (PractitionerRole id). */
export async function holders(repo: Repository, role: RotaRole, now: Date): Promise<Person[]> {
  const [type, params] = holdersSearch(role);
  return holdersIn(await repo.searchParams(type, params), role, now);
}

/** The search for a rota role's PractitionerRoles (so that it can join a batch: Repository.searchBatch). */
export function holdersSearch(role: RotaRole): SearchRequest {
  return [
    'PractitionerRole',
    [
      ['role', `${ON_CALL_ROLE_SYSTEM}|${role}`],
      ['_count', '1000'],
    ],
  ];
}

/** Who of the PractitionerRoles found by `holdersSearch(role)` holds the role at `now`. */
export function holdersIn(bundle: Bundle, role: RotaRole, now: Date): Person[] {
  const roles = (bundle.entry ?? []).map((e) => e.resource as PractitionerRole).sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''));
  const out: Person[] = [];
  for (const r of roles) {
    const ref = r.practitioner?.reference;
    if (!ref?.startsWith('Practitioner/') || r.active === false || !inPeriod(r.period, now)) continue;
    if ((role === 'on-call' || role === 'on-call-backup') && !availableAt(r, now)) continue;
    if (!out.some((p) => p.reference === ref)) out.push({ reference: ref, display: r.practitioner?.display });
  }
  return out;
}

function inPeriod(period: { start?: string; end?: string } | undefined, now: Date): boolean {
  if (period?.start && new Date(period.start) > now) return false;
  if (period?.end && new Date(period.end) <= now) return false;
  return true;
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** Whether availableTime (absent = always) covers `now` in the role's time zone. */
export function availableAt(role: PractitionerRole, now: Date): boolean {
  const times = role.availableTime ?? [];
  if (times.length === 0) return true;
  const zone = role.extension?.find((e) => e.url === TIMEZONE_EXTENSION)?.valueCode ?? 'UTC';
  const local = wallClock(now, zone);
  const yesterday = DAYS[(DAYS.indexOf(local.day) + 6) % 7];
  return times.some((t) => {
    const days = t.daysOfWeek?.length ? (t.daysOfWeek as string[]) : DAYS;
    if (t.allDay) return days.includes(local.day);
    const start = t.availableStartTime ?? '00:00:00';
    const end = t.availableEndTime ?? '24:00:00';
    if (start <= end) return days.includes(local.day) && local.time >= start && local.time < end;
    // An overnight shift (22:00-07:00) belongs to the day it starts.
    return (days.includes(local.day) && local.time >= start) || (days.includes(yesterday) && local.time < end);
  });
}

function wallClock(now: Date, zone: string): { day: string; time: string } {
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).formatToParts(now);
  } catch {
    log.error('rota: unknown time zone, UTC used', { zone: zone.slice(0, 64) });
    return wallClock(now, 'UTC');
  }
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '00';
  return { day: get('weekday').toLowerCase().slice(0, 3), time: `${get('hour')}:${get('minute')}:${get('second')}` };
}

/** Practitioners on an active CareTeam of the patient (./access/reach.ts: the treating clinicians). */
export async function treatingClinicians(repo: Repository, patient: string): Promise<Person[]> {
  const bundle = await repo.searchParams('CareTeam', [
    ['subject', patient],
    ['status', 'active'],
    ['_count', '100'],
  ]);
  const teams = (bundle.entry ?? []).map((e) => e.resource as CareTeam).sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''));
  const out: Person[] = [];
  for (const t of teams) {
    for (const p of t.participant ?? []) {
      const ref = p.member?.reference;
      if (ref?.startsWith('Practitioner/') && !out.some((x) => x.reference === ref)) out.push({ reference: ref, display: p.member?.display });
    }
  }
  return out;
}

/** The tenant's first active Practitioner (the last resort: a risk Task is never unowned). */
export async function anyPractitioner(repo: Repository): Promise<Person | undefined> {
  const bundle = await repo.searchParams('Practitioner', [['_count', '1000']]);
  const all = (bundle.entry ?? []).map((e) => e.resource as Practitioner).sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''));
  const p = all.find((x) => x.active !== false);
  return p && { reference: `Practitioner/${p.id}` };
}

export interface Owner {
  person: Reference<Practitioner>;
  /** How the owner was chosen, for the Task's note. */
  why: string;
}

/**
 * The owner of a new risk Task: the clinician on call now; else the patient's treating clinician;
 * else a supervisor; else the clinic lead; else the tenant's first active practitioner (noted).
 */
export async function firstOwner(repo: Repository, patient: string, now: Date, onCallNow?: Person[]): Promise<Owner> {
  const onCall = (onCallNow ?? (await holders(repo, 'on-call', now)))[0];
  if (onCall) return { person: onCall, why: 'Assigned to the clinician on call.' };
  const treating = (await treatingClinicians(repo, patient))[0];
  if (treating) return { person: treating, why: 'Nobody was on call: assigned to the patient\'s treating clinician.' };
  const supervisor = (await holders(repo, 'supervisor', now))[0];
  if (supervisor) return { person: supervisor, why: 'Nobody was on call and the patient has no treating clinician: assigned to a supervisor.' };
  const lead = (await holders(repo, 'clinic-lead', now))[0];
  if (lead) return { person: lead, why: 'Nobody was on call, no treating clinician, no supervisor: assigned to the clinic lead.' };
  const anyone = await anyPractitioner(repo);
  if (anyone) {
    log.error('risk: the tenant has no on-call rota, treating clinician, supervisor or clinic lead', { tenant: repo.ctx.tenant });
    return { person: anyone, why: 'WARNING: this clinic has no on-call rota, supervisor or clinic lead and the patient no treating clinician: assigned to the first active practitioner. Set up the rota (PractitionerRole on-call codes).' };
  }
  log.error('risk: the tenant has no practitioner at all; the risk Task names no person', { tenant: repo.ctx.tenant });
  return { person: { display: 'Unassigned: this clinic has no practitioner' }, why: 'WARNING: this clinic has no practitioner; nobody could be assigned. Add practitioners and an on-call rota.' };
}

/** The escalation ladder after the first owner (issue 8): backup on call, supervisor, clinic lead. */
export const LADDER: readonly RotaRole[] = ['on-call-backup', 'supervisor', 'clinic-lead'];

/**
 * Who owns the Task at escalation `step` (1 = backup on call, 2 = supervisor, 3 = clinic lead,
 * 4+ = clinic lead again): the first rung at or above the step that has somebody; past the last
 * rung, or with nobody on any rung, the clinic lead, else the supervisor, else the current owner.
 */
export async function ownerAtStep(repo: Repository, step: number, current: Reference<Practitioner> | undefined, now: Date): Promise<{ person: Reference<Practitioner>; rung: RotaRole | 'repeat'; step: number }> {
  for (let s = Math.min(step, LADDER.length + 1); s <= LADDER.length; s++) {
    const rung = LADDER[s - 1];
    const person = (await holders(repo, rung, now))[0];
    if (person) return { person, rung, step: s };
  }
  const lead = (await holders(repo, 'clinic-lead', now))[0] ?? (await holders(repo, 'supervisor', now))[0];
  return { person: lead ?? current ?? { display: 'Unassigned' }, rung: 'repeat', step: Math.max(step, LADDER.length + 1) };
}

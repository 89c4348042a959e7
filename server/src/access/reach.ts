import type { Queryable } from '../db/database.ts';

/**
 * The care relationships that decide which patients a person reaches, read from the tenant's own
 * FHIR resources once per verified token (auth/index.ts keeps a verified token's policy for at
 * most a minute, so a new or ended relationship takes effect within that time). Relationships
 * end: a past Encounter or EpisodeOfCare reaches only for a window after it (`reachWindows`). The result is a
 * list of patient ids that the SQL predicates take as one bind parameter, never a per-row lookup.
 */

/**
 * The risk Task code and its open statuses (clinical/codes.ts RISK_TASK_SYSTEM, clinical/risk/task.ts
 * OPEN_STATUSES): repeated here because access/ sits below clinical/ and never imports it.
 */
const RISK_TASK_SYSTEM = 'http://bh-fhir.org/fhir/CodeSystem/risk-task';
const RISK_TASK_CODE = 'suicide-risk-follow-up';
const OPEN_RISK_TASK = ['requested', 'received', 'ready', 'accepted', 'in-progress'];

/** Days a care relationship outlives its last contact (README "Care relationships"). */
export interface ReachWindows {
  /** An Encounter grants reach this long after it ended (or started, or was recorded): env REACH_ENCOUNTER_DAYS. */
  encounterDays: number;
  /** An EpisodeOfCare grants reach this long after it ended: env REACH_EPISODE_DAYS. */
  episodeDays: number;
}

export const DEFAULT_REACH_WINDOWS: ReachWindows = { encounterDays: 365, episodeDays: 90 };

export function reachWindows(env: NodeJS.ProcessEnv = process.env): ReachWindows {
  const days = (v: string | undefined, d: number) => {
    const n = v === undefined || v === '' ? d : Number(v);
    return Number.isFinite(n) && n >= 0 ? n : d;
  };
  return { encounterDays: days(env.REACH_ENCOUNTER_DAYS, DEFAULT_REACH_WINDOWS.encounterDays), episodeDays: days(env.REACH_EPISODE_DAYS, DEFAULT_REACH_WINDOWS.episodeDays) };
}

const DAY_MS = 86_400_000;
/** EpisodeOfCare statuses that mean the episode is still going (R4 episode-of-care-status). */
const OPEN_EPISODE = ['planned', 'waitlist', 'active', 'onhold'];

interface Period {
  start?: string;
  end?: string;
}

/** A period still running at `now` (no end, or an end after now). */
function notEnded(period: Period | undefined, now: Date): boolean {
  return !period?.end || new Date(period.end) > now;
}

/**
 * Patients treated by Practitioner `practitionerId` at `now`: P is treated by X while
 *  - X (or a PractitionerRole of X) is a participant of a CareTeam of P whose status is active,
 *    whose period has not ended and whose participant.period for X has not ended;
 *  - an EpisodeOfCare of P has careManager X, or team → such a CareTeam, and is open (planned,
 *    waitlist, active, onhold, without a past end) or ended less than `episodeDays` ago (its
 *    period.end; an episode closed without an end date counts from when it was last recorded);
 *  - an Encounter of P has participant.individual X (or a PractitionerRole of X), is neither
 *    cancelled nor entered-in-error, and its period ended (or, without an end, started; without a
 *    period, was recorded) less than `encounterDays` ago, or lies ahead;
 *  - an open risk Task for P is owned by X (clinical/risk: whoever must follow up a positive
 *    screen sees the patient and the response while the Task is open).
 * One statement over idx_reference/idx_token/idx_date, then the candidate teams' own content
 * (membership periods are not indexed) and, only when X is on a care team, the EpisodeOfCare
 * resources naming those teams, since R4 has no search parameter for EpisodeOfCare.team.
 */
export async function treatedPatients(db: Queryable, tenant: string, practitionerId: string, now: Date = new Date(), windows: ReachWindows = reachWindows()): Promise<string[]> {
  const encounterCutoff = new Date(now.getTime() - windows.encounterDays * DAY_MS);
  const episodeCutoff = new Date(now.getTime() - windows.episodeDays * DAY_MS);
  // The per-team status lookup is a scalar subquery so that PostgreSQL always probes
  // idx_token_resource by (tenant, rtype, rid, param): with CareTeam a small fraction of the index
  // tables the planner otherwise picks an unparameterized nested-loop semi-join, O(teams²).
  const { rows } = await db.query<{ kind: string; id: string }>(
    `WITH me AS (
       SELECT 'Practitioner'::text AS t, $2::text AS id
       UNION ALL
       SELECT 'PractitionerRole', pr.rid FROM idx_reference pr
       WHERE pr.tenant = $1 AND pr.rtype = 'PractitionerRole' AND pr.param = 'practitioner' AND pr.target_type = 'Practitioner' AND pr.target_id = $2
     )
     SELECT 'role' AS kind, id FROM me WHERE t = 'PractitionerRole'
     UNION
     SELECT 'team', m.rid FROM idx_reference m JOIN me ON m.target_type = me.t AND m.target_id = me.id
     WHERE m.tenant = $1 AND m.rtype = 'CareTeam' AND m.param = 'participant'
       AND (SELECT TRUE FROM idx_token s WHERE s.tenant = $1 AND s.rtype = 'CareTeam' AND s.rid = m.rid AND s.param = 'status' AND s.code = 'active' LIMIT 1)
     UNION
     SELECT 'patient', p.target_id FROM idx_reference c
     JOIN idx_reference p ON p.tenant = $1 AND p.rtype = 'EpisodeOfCare' AND p.rid = c.rid AND p.param = 'patient' AND p.target_type = 'Patient'
     JOIN resource r ON r.tenant = $1 AND r.type = 'EpisodeOfCare' AND r.id = c.rid AND NOT r.deleted
     CROSS JOIN LATERAL (SELECT (SELECT s.code FROM idx_token s WHERE s.tenant = $1 AND s.rtype = 'EpisodeOfCare' AND s.rid = c.rid AND s.param = 'status' LIMIT 1) AS status) st
     WHERE c.tenant = $1 AND c.rtype = 'EpisodeOfCare' AND c.param = 'care-manager' AND c.target_type = 'Practitioner' AND c.target_id = $2
       AND st.status IS DISTINCT FROM 'entered-in-error'
       AND COALESCE(
             (SELECT NULLIF(d.high, 'infinity') FROM idx_date d WHERE d.tenant = $1 AND d.rtype = 'EpisodeOfCare' AND d.rid = c.rid AND d.param = 'date' LIMIT 1),
             CASE WHEN st.status = ANY($7::text[]) THEN 'infinity'::timestamptz ELSE r.last_updated END
           ) > $8::timestamptz
     UNION
     SELECT 'patient', p.target_id FROM idx_reference c JOIN me ON c.target_type = me.t AND c.target_id = me.id
     JOIN idx_reference p ON p.tenant = $1 AND p.rtype = 'Encounter' AND p.rid = c.rid AND p.param = 'subject' AND p.target_type = 'Patient'
     JOIN resource r ON r.tenant = $1 AND r.type = 'Encounter' AND r.id = c.rid AND NOT r.deleted
     WHERE c.tenant = $1 AND c.rtype = 'Encounter' AND c.param = 'participant'
       AND NOT EXISTS (SELECT 1 FROM idx_token s WHERE s.tenant = $1 AND s.rtype = 'Encounter' AND s.rid = c.rid AND s.param = 'status' AND s.code IN ('cancelled', 'entered-in-error'))
       AND COALESCE(
             (SELECT CASE WHEN d.high = 'infinity' THEN d.low ELSE d.high END FROM idx_date d WHERE d.tenant = $1 AND d.rtype = 'Encounter' AND d.rid = c.rid AND d.param = 'date' LIMIT 1),
             r.last_updated
           ) > $6::timestamptz
     UNION
     SELECT 'patient', p.target_id FROM idx_reference o
     JOIN idx_reference p ON p.tenant = $1 AND p.rtype = 'Task' AND p.rid = o.rid AND p.param = 'subject' AND p.target_type = 'Patient'
     WHERE o.tenant = $1 AND o.rtype = 'Task' AND o.param = 'owner' AND o.target_type = 'Practitioner' AND o.target_id = $2
       AND EXISTS (SELECT 1 FROM idx_token k WHERE k.tenant = $1 AND k.rtype = 'Task' AND k.rid = o.rid AND k.param = 'code' AND k.system = $3 AND k.code = $4)
       AND EXISTS (SELECT 1 FROM idx_token s WHERE s.tenant = $1 AND s.rtype = 'Task' AND s.rid = o.rid AND s.param = 'status' AND s.code = ANY($5::text[]))`,
    [tenant, practitionerId, RISK_TASK_SYSTEM, RISK_TASK_CODE, OPEN_RISK_TASK, encounterCutoff.toISOString(), OPEN_EPISODE, episodeCutoff.toISOString()]
  );
  const patients = new Set(rows.filter((r) => r.kind === 'patient').map((r) => r.id));
  const me = new Set([`Practitioner/${practitionerId}`, ...rows.filter((r) => r.kind === 'role').map((r) => `PractitionerRole/${r.id}`)]);
  const candidates = rows.filter((r) => r.kind === 'team').map((r) => r.id);
  const teams: string[] = [];
  if (candidates.length) {
    // Membership: the team's period and this person's participant.period, which no index holds.
    const found = await db.query<{ id: string; content: string }>(
      `SELECT id, content FROM resource WHERE tenant = $1 AND type = 'CareTeam' AND id = ANY($2::text[]) AND NOT deleted`,
      [tenant, candidates]
    );
    for (const row of found.rows) {
      const t = JSON.parse(row.content) as { status?: string; period?: Period; subject?: { reference?: string }; participant?: { member?: { reference?: string }; period?: Period }[] };
      if (t.status !== 'active' || !notEnded(t.period, now)) continue;
      if (!t.participant?.some((p) => me.has(p.member?.reference ?? '') && notEnded(p.period, now))) continue;
      teams.push(`CareTeam/${row.id}`);
      const patient = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(t.subject?.reference ?? '')?.[1];
      if (patient) patients.add(patient);
    }
  }
  if (teams.length) {
    // Ids are [A-Za-z0-9.-] only, so they need no LIKE escaping. The patterns are behind a
    // scalar subquery (an InitPlan) so that the planner does not estimate the selectivity of each
    // of hundreds of LIKE patterns against the content statistics (~250 ms of planning for 615).
    const episodes = await db.query<{ content: string; last_updated: Date | string }>(
      `SELECT content, last_updated FROM resource WHERE tenant = $1 AND type = 'EpisodeOfCare' AND NOT deleted AND content LIKE ANY(ARRAY(SELECT unnest($2::text[])))`,
      [tenant, teams.map((t) => `%"${t}"%`)]
    );
    for (const row of episodes.rows) {
      const e = JSON.parse(row.content) as { status?: string; period?: Period; patient?: { reference?: string }; team?: { reference?: string }[] };
      const patient = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(e.patient?.reference ?? '')?.[1];
      if (!patient || !e.team?.some((t) => teams.includes(t.reference ?? ''))) continue;
      if (episodeReaches(e, new Date(row.last_updated), episodeCutoff)) patients.add(patient);
    }
  }
  return [...patients].sort();
}

/** The same rule as the SQL above for an EpisodeOfCare read whole (reached through its team). */
function episodeReaches(e: { status?: string; period?: Period }, recorded: Date, cutoff: Date): boolean {
  if (e.status === 'entered-in-error') return false;
  const end = e.period?.end ? new Date(e.period.end) : OPEN_EPISODE.includes(e.status ?? '') ? undefined : recorded;
  return end === undefined || end > cutoff;
}

/** What a related person reaches: per linked patient, the resource types an active Consent permits. */
export interface Guardianship {
  patient: string;
  /** Types the patient's Consent lets this person see; '*' = the whole compartment; empty = the Patient only. */
  types: Set<string>;
}

interface ConsentShape {
  status?: string;
  patient?: { reference?: string };
  provision?: Provision;
}
interface Provision {
  type?: string;
  period?: { start?: string; end?: string };
  actor?: { reference?: { reference?: string } }[];
  class?: { system?: string; code?: string }[];
  provision?: Provision[];
}

/**
 * The patients RelatedPerson `id` is linked to (RelatedPerson.patient, when active) and what each
 * patient's active Consent (Consent.patient = P, provision.type permit, provision.actor = this
 * RelatedPerson, optionally provision.class listing resource types) lets them see. Nested deny
 * provisions remove the types they list; one listing no types denies everything (fail closed).
 */
export async function guardianships(db: Queryable, tenant: string, relatedPersonId: string, now = new Date()): Promise<Guardianship[]> {
  const me = await db.query<{ content: string }>(
    `SELECT content FROM resource WHERE tenant = $1 AND type = 'RelatedPerson' AND id = $2 AND NOT deleted`,
    [tenant, relatedPersonId]
  );
  if (!me.rows[0]) return [];
  const person = JSON.parse(me.rows[0].content) as { active?: boolean; patient?: { reference?: string } };
  const patient = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(person.patient?.reference ?? '')?.[1];
  if (person.active === false || !patient) return [];
  const self = `RelatedPerson/${relatedPersonId}`;
  const consents = await db.query<{ content: string }>(
    `SELECT r.content FROM resource r WHERE r.tenant = $1 AND r.type = 'Consent' AND NOT r.deleted AND r.id IN (
       SELECT a.rid FROM idx_reference a WHERE a.tenant = $1 AND a.rtype = 'Consent' AND a.param = 'actor' AND a.target_type = 'RelatedPerson' AND a.target_id = $2)`,
    [tenant, relatedPersonId]
  );
  const types = new Set<string>();
  for (const row of consents.rows) {
    const c = JSON.parse(row.content) as ConsentShape;
    const p = c.provision;
    if (c.status !== 'active' || c.patient?.reference !== `Patient/${patient}` || p?.type !== 'permit') continue;
    if (!inPeriod(p.period, now) || !p.actor?.some((a) => a.reference?.reference === self)) continue;
    const granted = classes(p) ?? ['*'];
    let denied: string[] = [];
    for (const sub of p.provision ?? []) {
      if (sub.type !== 'deny' || !inPeriod(sub.period, now)) continue;
      if (sub.actor?.length && !sub.actor.some((a) => a.reference?.reference === self)) continue;
      const d = classes(sub);
      if (!d) denied = ['*'];
      else denied.push(...d);
    }
    if (denied.includes('*')) continue;
    for (const t of granted) if (!denied.includes(t)) types.add(t);
    if (types.has('*') && denied.length) {
      // A permit of everything minus some types: keep it as "everything" but remember the holes.
      for (const d of denied) types.add(`-${d}`);
    }
  }
  return [{ patient, types }];
}

function classes(p: Provision): string[] | undefined {
  const codes = (p.class ?? []).map((c) => c.code).filter((c): c is string => Boolean(c));
  return codes.length ? codes : undefined;
}

function inPeriod(period: { start?: string; end?: string } | undefined, now: Date): boolean {
  if (!period) return true;
  if (period.start && new Date(period.start) > now) return false;
  if (period.end && new Date(period.end) < now) return false;
  return true;
}

/** Whether a guardianship's consent covers `type`. */
export function consentCovers(g: Guardianship, type: string): boolean {
  if (g.types.has(`-${type}`)) return false;
  return g.types.has('*') || g.types.has(type);
}

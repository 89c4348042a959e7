import type { Queryable } from '../db/database.ts';

/**
 * The care relationships that decide which patients a person reaches, read from the tenant's own
 * FHIR resources once per verified token (auth/index.ts keeps a verified token's policy for at
 * most a minute, so a new or ended relationship takes effect within that time). The result is a
 * list of patient ids that the SQL predicates take as one bind parameter, never a per-row lookup.
 */

/**
 * The risk Task code and its open statuses (clinical/codes.ts RISK_TASK_SYSTEM, clinical/risk/task.ts
 * OPEN_STATUSES): repeated here because access/ sits below clinical/ and never imports it.
 */
const RISK_TASK_SYSTEM = 'http://bh-fhir.org/fhir/CodeSystem/risk-task';
const RISK_TASK_CODE = 'suicide-risk-follow-up';
const OPEN_RISK_TASK = ['requested', 'received', 'ready', 'accepted', 'in-progress'];

/**
 * Patients treated by Practitioner `practitionerId`: P is treated by X when
 *  - an active CareTeam with subject P has participant.member X or a PractitionerRole of X,
 *  - an EpisodeOfCare of P has careManager X, or team → such a CareTeam,
 *  - an Encounter of P has participant.individual X (or a PractitionerRole of X),
 *  - an open risk Task for P is owned by X (clinical/risk: whoever must follow up a positive
 *    screen sees the patient and the response while the Task is open).
 * One statement over idx_reference/idx_token, plus (only when X is on a care team) a lookup of
 * the EpisodeOfCare resources naming those teams, since R4 has no search parameter for
 * EpisodeOfCare.team.
 */
export async function treatedPatients(db: Queryable, tenant: string, practitionerId: string): Promise<string[]> {
  // The per-team lookups (status, subject) are written as a scalar subquery and a LATERAL with
  // OFFSET 0 so that PostgreSQL always probes idx_token_resource / idx_reference_resource by
  // (tenant, rtype, rid, param): with CareTeam a small fraction of the index tables the planner
  // estimates one row and otherwise picks an unparameterized nested-loop semi-join, O(teams²)
  // (350 ms per request for a clinician on 615 teams).
  const { rows } = await db.query<{ kind: string; id: string }>(
    `WITH me AS (
       SELECT 'Practitioner'::text AS t, $2::text AS id
       UNION ALL
       SELECT 'PractitionerRole', pr.rid FROM idx_reference pr
       WHERE pr.tenant = $1 AND pr.rtype = 'PractitionerRole' AND pr.param = 'practitioner' AND pr.target_type = 'Practitioner' AND pr.target_id = $2
     ),
     teams AS (
       SELECT DISTINCT m.rid FROM idx_reference m JOIN me ON m.target_type = me.t AND m.target_id = me.id
       WHERE m.tenant = $1 AND m.rtype = 'CareTeam' AND m.param = 'participant'
         AND (SELECT TRUE FROM idx_token s WHERE s.tenant = $1 AND s.rtype = 'CareTeam' AND s.rid = m.rid AND s.param = 'status' AND s.code = 'active' LIMIT 1)
     )
     SELECT 'team' AS kind, rid AS id FROM teams
     UNION
     SELECT 'patient', s.target_id FROM teams t CROSS JOIN LATERAL (
       SELECT s.target_id FROM idx_reference s
       WHERE s.tenant = $1 AND s.rtype = 'CareTeam' AND s.rid = t.rid AND s.param = 'subject' AND s.target_type = 'Patient' OFFSET 0
     ) s
     UNION
     SELECT 'patient', p.target_id FROM idx_reference c
     JOIN idx_reference p ON p.tenant = $1 AND p.rtype = 'EpisodeOfCare' AND p.rid = c.rid AND p.param = 'patient' AND p.target_type = 'Patient'
     WHERE c.tenant = $1 AND c.rtype = 'EpisodeOfCare' AND c.param = 'care-manager' AND c.target_type = 'Practitioner' AND c.target_id = $2
     UNION
     SELECT 'patient', p.target_id FROM idx_reference c JOIN me ON c.target_type = me.t AND c.target_id = me.id
     JOIN idx_reference p ON p.tenant = $1 AND p.rtype = 'Encounter' AND p.rid = c.rid AND p.param = 'subject' AND p.target_type = 'Patient'
     WHERE c.tenant = $1 AND c.rtype = 'Encounter' AND c.param = 'participant'
     UNION
     SELECT 'patient', p.target_id FROM idx_reference o
     JOIN idx_reference p ON p.tenant = $1 AND p.rtype = 'Task' AND p.rid = o.rid AND p.param = 'subject' AND p.target_type = 'Patient'
     WHERE o.tenant = $1 AND o.rtype = 'Task' AND o.param = 'owner' AND o.target_type = 'Practitioner' AND o.target_id = $2
       AND EXISTS (SELECT 1 FROM idx_token k WHERE k.tenant = $1 AND k.rtype = 'Task' AND k.rid = o.rid AND k.param = 'code' AND k.system = $3 AND k.code = $4)
       AND EXISTS (SELECT 1 FROM idx_token s WHERE s.tenant = $1 AND s.rtype = 'Task' AND s.rid = o.rid AND s.param = 'status' AND s.code = ANY($5::text[]))`,
    [tenant, practitionerId, RISK_TASK_SYSTEM, RISK_TASK_CODE, OPEN_RISK_TASK]
  );
  const patients = new Set(rows.filter((r) => r.kind === 'patient').map((r) => r.id));
  const teams = rows.filter((r) => r.kind === 'team').map((r) => `CareTeam/${r.id}`);
  if (teams.length) {
    // Ids are [A-Za-z0-9.-] only, so they need no LIKE escaping. The patterns are behind a
    // scalar subquery (an InitPlan) so that the planner does not estimate the selectivity of each
    // of hundreds of LIKE patterns against the content statistics (~250 ms of planning for 615).
    const episodes = await db.query<{ content: string }>(
      `SELECT content FROM resource WHERE tenant = $1 AND type = 'EpisodeOfCare' AND NOT deleted AND content LIKE ANY(ARRAY(SELECT unnest($2::text[])))`,
      [tenant, teams.map((t) => `%"${t}"%`)]
    );
    for (const row of episodes.rows) {
      const e = JSON.parse(row.content) as { patient?: { reference?: string }; team?: { reference?: string }[] };
      const patient = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(e.patient?.reference ?? '')?.[1];
      if (patient && e.team?.some((t) => teams.includes(t.reference ?? ''))) patients.add(patient);
    }
  }
  return [...patients].sort();
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

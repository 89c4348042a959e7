import type { Queryable } from '../db/database.ts';
import { ALL, DENY, type ReadConstraint, type SecurityLabel, allOf, anyOf } from './constraint.ts';
import type { AccessContext } from './context.ts';
import { compartmentTypes } from './roles.ts';
import { PART2, RESTRICTED, RESTRICTING_LABELS, VERY_RESTRICTED } from './labels.ts';

/** Whether what this principal reads leaves the treating clinic (42 CFR Part 2, HIPAA accounting). */
export function isExternal(context: AccessContext): boolean {
  return Boolean(context.organization);
}

/**
 * Consent decides disclosure (issue 13 item 2, README "Consent decides disclosure"). An external
 * principal (a backend client registered with its recipient organization) sees a record carrying
 * a restricting label only where an active Consent of the record's patient permits that
 * organization, for the token's purpose of use, every restricting label the record carries, and
 * the record's date. The Consents are read once per verified token (as the guardians' are,
 * ./reach.ts) and turned into ReadConstraint leaves that store/search/access.ts compiles into SQL.
 */

const CONSENT_SCOPE = { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' };
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
/** A backend client named as the actor by identifier (audit/codes.ts CLIENT_ID_SYSTEM; access/ sits below audit/). */
export const CLIENT_ID_SYSTEM = 'http://bh-fhir.org/fhir/sid/oauth-client-id';
/** Labels a Consent may open to an external recipient; PSYTHPN never (45 CFR 164.508(a)(2) needs its own authorization). */
const CONSENTABLE = [PART2, RESTRICTED, VERY_RESTRICTED];

interface Coding {
  system?: string;
  code?: string;
}
interface Period {
  start?: string;
  end?: string;
}
interface Actor {
  reference?: { reference?: string; identifier?: { system?: string; value?: string } };
}
interface Provision {
  type?: string;
  period?: Period;
  actor?: Actor[];
  purpose?: Coding[];
  securityLabel?: Coding[];
  class?: Coding[];
  dataPeriod?: Period;
  provision?: Provision[];
}
interface ConsentShape {
  status?: string;
  scope?: { coding?: Coding[] };
  patient?: { reference?: string };
  provision?: Provision;
}

/** What nested deny provisions take away: records of these types, with one of these labels, dated in this period (all that are given). */
interface Hole {
  types?: string[];
  labels?: SecurityLabel[];
  dataPeriod?: Period;
}

/** One permit: what of one patient's records the recipient may get. */
export interface Disclosure {
  patient: string;
  /** Restricting labels covered (a record must carry no other). */
  labels: SecurityLabel[];
  /** Resource types (provision.class); undefined = every type. */
  types?: string[];
  dataPeriod?: Period;
  holes: Hole[];
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

function inPeriod(period: Period | undefined, now: Date): boolean {
  if (period?.start && new Date(period.start) > now) return false;
  if (period?.end && new Date(period.end) < now) return false;
  return true;
}

const matchesLabel = (c: Coding, l: SecurityLabel) => c.system === l.system && c.code === l.code;

function types(p: Provision): string[] | undefined {
  const codes = (p.class ?? []).map((c) => c.code).filter((c): c is string => Boolean(c));
  return codes.length ? codes : undefined;
}

/**
 * The disclosures the active Consents of this tenant grant `organization` (or the client `clientId`,
 * named by identifier) for `purpose` at `now`. One statement over idx_reference (Consent.actor →
 * the organization) and idx_token (`actor:identifier` = the client id), then each Consent's
 * content, since provision.dataPeriod, nested provisions and the period of a permit are not indexed.
 * No purpose, no disclosure: §2.31(a)(6) makes the purpose part of every Part 2 consent.
 */
export async function consentedDisclosures(db: Queryable, tenant: string, organization: string, clientId: string | undefined, purpose: string | undefined, now: Date): Promise<Disclosure[]> {
  const org = /^Organization\/([A-Za-z0-9\-.]{1,64})$/.exec(organization)?.[1];
  if (!org || !purpose) return [];
  const { rows } = await db.query<{ content: string }>(
    `SELECT r.content FROM resource r WHERE r.tenant = $1 AND r.type = 'Consent' AND NOT r.deleted AND r.id IN (
       SELECT a.rid FROM idx_reference a WHERE a.tenant = $1 AND a.rtype = 'Consent' AND a.param = 'actor' AND a.target_type = 'Organization' AND a.target_id = $2
       UNION ALL
       SELECT t.rid FROM idx_token t WHERE t.tenant = $1 AND t.rtype = 'Consent' AND t.param = 'actor:identifier' AND t.system = $3 AND t.code = $4)`,
    [tenant, org, CLIENT_ID_SYSTEM, clientId ?? '']
  );
  const self = `Organization/${org}`;
  // The recipient organization by reference, or this very client by identifier.
  const isUs = (a: Actor) => a.reference?.reference === self || (Boolean(clientId) && a.reference?.identifier?.system === CLIENT_ID_SYSTEM && a.reference.identifier.value === clientId);
  const forUs = (p: Provision) => !p.actor?.length || p.actor.some(isUs);
  const forPurpose = (p: Provision) => !p.purpose?.length || p.purpose.some((c) => c.system === ACT_REASON && c.code === purpose);
  const out: Disclosure[] = [];
  for (const row of rows) {
    const c = JSON.parse(row.content) as ConsentShape;
    const p = c.provision;
    const patient = /^Patient\/(.+)$/.exec(c.patient?.reference ?? '')?.[1];
    if (c.status !== 'active' || !patient || !ID.test(patient) || p?.type !== 'permit') continue;
    if (!c.scope?.coding?.some((x) => x.system === CONSENT_SCOPE.system && x.code === CONSENT_SCOPE.code)) continue;
    if (!inPeriod(p.period, now) || !p.actor?.some(isUs)) continue;
    // The permit must name the purpose (an empty list is not "any purpose" here: fail closed).
    if (!p.purpose?.some((x) => x.system === ACT_REASON && x.code === purpose)) continue;
    const labels = CONSENTABLE.filter((l) => p.securityLabel?.some((s) => matchesLabel(s, l)));
    const holes: Hole[] = [];
    let whole = false;
    for (const sub of p.provision ?? []) {
      if (sub.type !== 'deny' || !inPeriod(sub.period, now) || !forUs(sub) || !forPurpose(sub)) continue;
      const hole: Hole = { types: types(sub), dataPeriod: sub.dataPeriod };
      // Any label may be denied (e.g. only SUD, or R but not 42CFRPart2), not only the restricting ones.
      if (sub.securityLabel?.length) hole.labels = sub.securityLabel.filter((s): s is SecurityLabel => Boolean(s.system && s.code)).map((s) => ({ system: s.system, code: s.code }));
      if (!hole.types && !hole.labels && !hole.dataPeriod) whole = true;
      else holes.push(hole);
    }
    if (whole || labels.length === 0) continue;
    out.push({ patient, labels, types: types(p), dataPeriod: p.dataPeriod, holes });
  }
  return out;
}

/**
 * The record's own date, by type (R4 search parameters, indexed in idx_date), that a Consent's
 * dataPeriod is compared with: the clinically meaningful one where the type has several.
 */
const RECORD_DATE: Record<string, string[]> = {
  Condition: ['recorded-date', 'onset-date'],
  QuestionnaireResponse: ['authored'],
  MedicationRequest: ['authoredon'],
  ServiceRequest: ['authored'],
  Task: ['authored-on'],
  MedicationStatement: ['effective'],
  MedicationAdministration: ['effective-time'],
  Claim: ['created'],
  ExplanationOfBenefit: ['created'],
};
export function recordDateParams(type: string): string[] {
  return RECORD_DATE[type] ?? ['date'];
}

/** One of the record's dates (RECORD_DATE) lies within `period`; a record without one never. */
function dated(type: string, period: Period): ReadConstraint {
  return { kind: 'dated', params: recordDateParams(type), start: period.start, end: period.end };
}

/**
 * What of `type` the disclosures open beyond unlabelled records: per group of patients sharing the
 * same terms, their compartment ∧ no label outside the covered ones ∧ the dataPeriod ∧ no hole.
 */
export function consentConstraint(disclosures: Disclosure[], type: string): ReadConstraint {
  // Consent is about a patient's records: other types keep the type-independent label rule, so a
  // system-wide search or history still compiles them into one shared branch (store/search/access.ts).
  if (disclosures.length === 0 || !compartmentTypes().has(type)) return DENY;
  const groups = new Map<string, { c: ReadConstraint[]; patients: string[] }>();
  for (const d of disclosures) {
    if (d.types && !d.types.includes(type)) continue;
    const parts: ReadConstraint[] = [{ kind: 'unlabelled', labels: RESTRICTING_LABELS.filter((l) => !d.labels.includes(l)) }];
    if (d.dataPeriod) parts.push(dated(type, d.dataPeriod));
    let closed = false;
    for (const h of d.holes) {
      if (h.types && !h.types.includes(type)) continue;
      const hole = allOf([h.labels ? (h.labels.length ? { kind: 'not', of: { kind: 'unlabelled', labels: h.labels } } : DENY) : ALL, h.dataPeriod ? dated(type, h.dataPeriod) : ALL]);
      if (hole.kind === 'all') closed = true;
      else if (hole.kind !== 'deny') parts.push({ kind: 'not', of: hole });
    }
    if (closed) continue;
    const key = JSON.stringify(parts);
    const g = groups.get(key);
    if (g) g.patients.push(d.patient);
    else groups.set(key, { c: parts, patients: [d.patient] });
  }
  return anyOf([...groups.values()].map((g) => allOf([{ kind: 'compartment', patients: [...new Set(g.patients)].sort() }, ...g.c])));
}

/**
 * The rule for an external principal's reads: unlabelled records as its scopes allow, restricted
 * ones as consented. PSYTHPN never: every consent branch requires it absent (it is never covered).
 * Without consents this is exactly a system token's `unlabelled` rule.
 */
export function externalReadConstraint(scoped: ReadConstraint, disclosures: Disclosure[], type: string): ReadConstraint {
  return allOf([scoped, anyOf([{ kind: 'unlabelled', labels: RESTRICTING_LABELS }, consentConstraint(disclosures, type)])]);
}

// --- Consent changes reach cached policies ------------------------------------------------------

/**
 * A verified token's policy is cached for up to a minute (auth/index.ts) and a subscriber's for a
 * few seconds (subscriptions/events.ts); a Consent written or revoked must not wait for that. The
 * Consent write hook (clinical/consent/hook.ts) announces the tenant after commit: in this process
 * through `announceConsentChange`, to the others as this id on the token-revocation channel
 * (auth/revocation-channel.ts CHANNEL), under which external principals' cached policies are filed.
 */
export function consentChangeId(tenant: string): string {
  return `consent-changed:${tenant}`;
}
/** auth/revocation-channel.ts CHANNEL, repeated because access/ sits below auth/. */
export const REVOCATION_CHANNEL = 'auth_token_revoked';

type Listener = (ids: string[]) => void;
const listeners = new Set<Listener>();
export function onConsentChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
export function announceConsentChange(tenant: string): void {
  for (const l of listeners) l([consentChangeId(tenant)]);
}

import type { Queryable } from '../db/database.ts';
import { fail } from '../kernel/outcome.ts';
import { ALL, DENY, type ReadConstraint, allOf, anyOf } from './constraint.ts';
import type { AccessContext, Role } from './context.ts';
import { consentedDisclosures, externalReadConstraint, isExternal } from './disclosure.ts';
import { EMERGENCY_TREATMENT, RESTRICTING_LABELS } from './labels.ts';
import { withoutPlatformWrites } from './platform.ts';
import { breakGlassUntil, treats } from './purpose.ts';
import { guardianships, treatedPatients } from './reach.ts';
import { AUDIT_EVENT, PATIENT_REFERENCE, type PersonReach, compartmentTypes, roleConstraint } from './roles.ts';
import { type Context, type Permission, type ResourceScope, parseScopes } from './scopes.ts';

export type { ReadConstraint } from './constraint.ts';

/**
 * The access decision point. Every read path asks `readConstraint` and composes the answer into
 * its SQL (store/search/access.ts); every write asks `assertCan` for the type and the repository
 * checks the current and the new version against `readConstraint(type, 'c' | 'u' | 'd')` in SQL.
 * Scopes, roles, care relationships, consent and security labels are decided here and nowhere
 * else; see ./README.md for the rules.
 */
export interface AccessPolicy {
  /** Who is asking (audit reads this too). */
  readonly context: AccessContext;
  readonly tenant: string;
  readonly clientId: string | undefined;
  /** Raw granted scope string, for introspection and audit. */
  readonly scope: string;
  can(resourceType: string, permission: Permission): boolean;
  /** Throws 403 unless the permission is granted for the type. */
  assertCan(resourceType: string, permission: Permission): void;
  /**
   * Which resources of this type the permission covers: 'r'/'s' for reads and searches, 'c'/'u'/'d'
   * for the before/after checks of writes. 'all' means no SQL at all.
   */
  readConstraint(resourceType: string, permission: Permission): ReadConstraint;
  /**
   * When the decisions stop holding, in milliseconds of the server clock: the end of a
   * break-glass window the policy was built under. Whoever caches the policy drops it then.
   */
  readonly until?: number;
}

/** Scopes alone, every context counted: the server's own work and unit tests. */
export function scopePolicy(tenant: string, clientId: string | undefined, scope: string): AccessPolicy {
  const scopes = parseScopes(scope);
  return buildPolicy({ tenant, clientId, scope }, (type, p) => scopeConstraint(scopes, undefined, type, p));
}

/**
 * The policy for a verified token's context, with the person's care relationships read from `db`
 * once (the caller keeps the policy for the token's short cache life).
 *  - No person (no userId/fhirUser): system/ scopes only; labelled records only through a scope
 *    that names their type, or, for an external recipient (organization set), only as its
 *    patients' Consents permit (./disclosure.ts); AuditEvent is never written.
 *  - A person: user/ scopes ∩ role reach, and patient/ scopes ∩ the launch patient's compartment
 *    ∩ role reach. Without roles, or without a launch patient for patient/ scopes, nothing.
 */
export async function policyFor(context: AccessContext, db?: Queryable, now: Date = new Date()): Promise<AccessPolicy> {
  const scopes = parseScopes(context.scope);
  const person = Boolean(context.userId || context.fhirUser);
  // Whatever a token grants, the platform's published instruments stay read-only (./platform.ts).
  const build = (ctx: AccessContext, decide: (type: string, p: Permission) => ReadConstraint, until?: number) =>
    buildPolicy(ctx, (type, p) => withoutPlatformWrites(type, p, decide(type, p)), until);
  if (!person) {
    // An external recipient (./disclosure.ts): restricted records only as its patients' Consents
    // permit, read once here (the caller's cache is dropped when a Consent changes).
    const external = isExternal(context);
    const disclosures = external && db && context.organization ? await consentedDisclosures(db, context.tenant, context.organization, context.clientId, context.purposeOfUse, now) : [];
    return build(context, (type, p) => {
      if (type === AUDIT_EVENT && p !== 'r' && p !== 's') return DENY;
      const c = scopeConstraint(scopes, 'system', type, p);
      if (c.kind === 'deny' || (p !== 'r' && p !== 's')) return c;
      if (external) return externalReadConstraint(c, disclosures, type);
      const named = scopes.some((s) => s.context === 'system' && s.resourceType === type && s.permissions.has(p));
      return named ? c : allOf([c, { kind: 'unlabelled', labels: RESTRICTING_LABELS }]);
    });
  }
  const roles = (context.roles ?? []) as Role[];
  // Break-glass (./purpose.ts): while the person's window is open, every token of theirs is read
  // as emergency treatment, and the audit trail (which reads context) records ETREAT.
  const glass = db && context.userId && treats(roles) && context.purposeOfUse !== EMERGENCY_TREATMENT ? await breakGlassUntil(db, context.tenant, context.userId, now) : undefined;
  if (glass) context = { ...context, purposeOfUse: EMERGENCY_TREATMENT };
  const reach = await loadReach(context, roles, db, now);
  return build(context, (type, p) => {
    if (type === AUDIT_EVENT && p !== 'r' && p !== 's') return DENY;
    if (type === SUBSCRIPTION) return roles.length ? ownSubscriptions(context, scopes, p) : DENY;
    const byRole = anyOf(roles.map((role) => roleConstraint(role, type, p, reach)));
    if (byRole.kind === 'deny') return DENY;
    const user = allOf([scopeConstraint(scopes, 'user', type, p), byRole]);
    const launch = context.patient ? launchConstraint(context.patient, type, p) : DENY;
    const patient = allOf([scopeConstraint(scopes, 'patient', type, p), launch, byRole]);
    return anyOf([user, patient]);
  }, glass?.getTime());
}

/**
 * Subscriptions of people (subscriptions/README.md): a person reaches only the Subscriptions they
 * wrote, which the subscriptions write hook tags with SUBSCRIPTION_OWNER | subscriptionOwner(context);
 * the type must be granted by a user/ or patient/ Subscription scope. What a Subscription
 * delivers is decided again, per notification, by the policy of its stored principal.
 */
const SUBSCRIPTION = 'Subscription';
export const SUBSCRIPTION_OWNER = 'http://bh-fhir.org/fhir/CodeSystem/subscription-owner';

export function subscriptionOwner(context: AccessContext): string | undefined {
  const owner = context.userId ?? context.fhirUser;
  return owner && /^[A-Za-z0-9\-./]{1,128}$/.test(owner) ? owner : undefined;
}

function ownSubscriptions(context: AccessContext, scopes: ResourceScope[], p: Permission): ReadConstraint {
  const owner = subscriptionOwner(context);
  if (!owner) return DENY;
  const granted = anyOf([scopeConstraint(scopes, 'user', SUBSCRIPTION, p), context.patient ? scopeConstraint(scopes, 'patient', SUBSCRIPTION, p) : DENY]);
  return allOf([granted, { kind: 'match', any: [[['_tag', `${SUBSCRIPTION_OWNER}|${owner}`]]] }]);
}

/** Full access within one tenant, for the server's own seeding and CLI work; never from a token. */
export function tenantAdminPolicy(tenant: string): AccessPolicy {
  return scopePolicy(tenant, undefined, 'system/*.cruds');
}

/** Roles granted the whole tenant: env TENANT_WIDE_ROLES, comma-separated `role` or `tenant:role`; off by default. */
export function tenantWideRoles(tenant: string, env: NodeJS.ProcessEnv = process.env): Set<string> {
  const out = new Set<string>();
  for (const entry of (env.TENANT_WIDE_ROLES ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = entry.lastIndexOf(':');
    if (i < 0) out.add(entry);
    else if (entry.slice(0, i) === tenant) out.add(entry.slice(i + 1));
  }
  return out;
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

function idOf(fhirUser: string | undefined, type: string): string | undefined {
  const m = /^(?:.*\/)?([A-Za-z]+)\/([^/]+)$/.exec(fhirUser ?? '');
  return m && m[1] === type && ID.test(m[2]) ? m[2] : undefined;
}

async function loadReach(context: AccessContext, roles: Role[], db: Queryable | undefined, now: Date): Promise<PersonReach> {
  const tenantWide = tenantWideRoles(context.tenant);
  const practitioner = idOf(context.fhirUser, 'Practitioner');
  const relatedPerson = idOf(context.fhirUser, 'RelatedPerson');
  const needsTreated = roles.some((r) => (r === 'clinician' || r === 'care-manager') && !tenantWide.has(r));
  const reach: PersonReach = {
    practitioner,
    patient: idOf(context.fhirUser, 'Patient'),
    relatedPerson,
    fhirUser: practitioner ? `Practitioner/${practitioner}` : undefined,
    purposeOfUse: context.purposeOfUse,
    treated: [],
    guardianships: [],
    tenantWide,
  };
  // Without a database the relationships cannot be known: fail closed (nothing treated).
  if (db && practitioner && needsTreated) reach.treated = await treatedPatients(db, context.tenant, practitioner, now);
  if (db && relatedPerson && roles.includes('related-person')) reach.guardianships = await guardianships(db, context.tenant, relatedPerson, now);
  return reach;
}

/**
 * patient/ scopes: the launch patient's compartment; reference data outside the compartment
 * (./roles.ts PATIENT_REFERENCE) is readable when the scope grants it.
 */
function launchConstraint(patient: string, type: string, p: Permission): ReadConstraint {
  if (!ID.test(patient)) return DENY;
  if (compartmentTypes().has(type)) return { kind: 'compartment', patients: [patient] };
  return (p === 'r' || p === 's') && PATIENT_REFERENCE.has(type) ? ALL : DENY;
}

/** The scopes of one context (undefined = any) granting `p` on `type`: deny, all, or granular matches. */
function scopeConstraint(scopes: ResourceScope[], context: Context | undefined, type: string, p: Permission): ReadConstraint {
  const m = scopes.filter((s) => (!context || s.context === context) && (s.resourceType === '*' || s.resourceType === type) && s.permissions.has(p));
  if (m.length === 0) return DENY;
  if (m.some((s) => !s.query)) return ALL;
  return { kind: 'match', any: m.map((s) => s.query ?? []) };
}

function buildPolicy(context: AccessContext, decide: (type: string, p: Permission) => ReadConstraint, until?: number): AccessPolicy {
  // Decisions are pure per (type, permission) for the policy's life: compute each once.
  const memo = new Map<string, ReadConstraint>();
  const readConstraint = (type: string, p: Permission): ReadConstraint => {
    const key = `${type} ${p}`;
    let c = memo.get(key);
    if (!c) memo.set(key, (c = decide(type, p)));
    return c;
  };
  return {
    context,
    tenant: context.tenant,
    clientId: context.clientId,
    scope: context.scope,
    until,
    readConstraint,
    can: (type, p) => readConstraint(type, p).kind !== 'deny',
    assertCan(type, p) {
      if (readConstraint(type, p).kind === 'deny') fail('forbidden', `The granted access does not allow ${VERB[p]} on ${type}`);
    },
  };
}

const VERB: Record<Permission, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

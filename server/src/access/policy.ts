import { fail } from '../fhir/outcome.ts';
import type { AccessContext } from './context.ts';
import { type Permission, type ResourceScope, parseScopes } from './scopes.ts';

/**
 * The access decision point. Every read path asks `readConstraint` and composes the answer into
 * its SQL; every write asks `assertCan`. Today it decides from system scopes alone; users, patient
 * compartments, consent and security labels (SMART issue) plug in here and nowhere else.
 */
export type ReadConstraint =
  | { kind: 'deny' }
  | { kind: 'all' }
  /** Allowed when the resource matches any of these search-parameter sets (OR of ANDs). */
  | { kind: 'match'; any: [string, string][][] };

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
  /** What a search/read of this type may return. */
  readConstraint(resourceType: string, permission: 'r' | 's'): ReadConstraint;
}

export function scopePolicy(tenant: string, clientId: string | undefined, scope: string): AccessPolicy {
  const scopes = parseScopes(scope);
  const matching = (type: string, p: Permission): ResourceScope[] =>
    scopes.filter((s) => (s.resourceType === '*' || s.resourceType === type) && s.permissions.has(p));
  return {
    context: { tenant, clientId, scope },
    tenant,
    clientId,
    scope,
    can: (type, p) => matching(type, p).length > 0,
    assertCan(type, p) {
      if (matching(type, p).length === 0) {
        fail('forbidden', `The granted scopes do not allow ${VERB[p]} on ${type}`);
      }
    },
    readConstraint(type, p) {
      const m = matching(type, p);
      if (m.length === 0) return { kind: 'deny' };
      if (m.some((s) => !s.query)) return { kind: 'all' };
      return { kind: 'match', any: m.map((s) => s.query ?? []) };
    },
  };
}

/**
 * The policy for a verified token's context. Today: scopes alone (system tokens). The SMART
 * issue extends this to person tokens (patient compartment, roles, care relationships).
 */
export async function policyFor(context: AccessContext): Promise<AccessPolicy> {
  const p = scopePolicy(context.tenant, context.clientId, context.scope);
  return { ...p, context };
}

/** Full access within one tenant, for the server's own seeding and CLI work; never from a token. */
export function tenantAdminPolicy(tenant: string): AccessPolicy {
  return scopePolicy(tenant, undefined, 'system/*.cruds');
}

const VERB: Record<Permission, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

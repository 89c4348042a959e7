/**
 * SMART scopes, v1 and v2 (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
 * v1: `system/Observation.read`, `system/*.write`, `system/*.*`.
 * v2: `system/Observation.rs`, `system/*.cruds`, granular `system/Observation.rs?category=survey`.
 * A v1 `read` grants v2 `rs`; `write` grants `cud`; `*` grants `cruds`.
 */
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
export type Context = 'system' | 'user' | 'patient';

export interface ResourceScope {
  context: Context;
  resourceType: string; // '*' for all
  permissions: Set<Permission>;
  /** v2 granular constraint as search parameters (name, value) that a resource must also match. */
  query?: [string, string][];
  raw: string;
}

const V2 = /^[cruds]+$/;

export function parseScope(raw: string): ResourceScope | undefined {
  const m = /^(system|user|patient)\/([A-Za-z]+|\*)\.([a-z*]+)(?:\?(.*))?$/.exec(raw);
  if (!m) return undefined;
  const [, context, resourceType, perms, query] = m;
  let permissions: Set<Permission>;
  if (perms === 'read') permissions = new Set(['r', 's']);
  else if (perms === 'write') permissions = new Set(['c', 'u', 'd']);
  else if (perms === '*') permissions = new Set(['c', 'r', 'u', 'd', 's']);
  else if (V2.test(perms) && isCanonicalOrder(perms)) permissions = new Set(perms.split('') as Permission[]);
  else return undefined;
  const scope: ResourceScope = { context: context as Context, resourceType, permissions, raw };
  if (query !== undefined) {
    if (!V2.test(perms)) return undefined; // v1 scopes have no query form
    scope.query = [...new URLSearchParams(query)];
  }
  return scope;
}

/** v2 permissions must appear in the order c, r, u, d, s ("cruds"). */
function isCanonicalOrder(perms: string): boolean {
  let last = -1;
  for (const ch of perms) {
    const i = 'cruds'.indexOf(ch);
    if (i <= last) return false;
    last = i;
  }
  return true;
}

export function parseScopes(scope: string): ResourceScope[] {
  return scope
    .split(/\s+/)
    .filter(Boolean)
    .flatMap((s) => parseScope(s) ?? []);
}

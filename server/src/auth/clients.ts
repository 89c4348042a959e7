import { type JWK, type JSONWebKeySet, importJWK } from 'jose';
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import { MACHINE_PURPOSES } from '../access/purpose.ts';
import { parseScope } from '../access/scopes.ts';
import { fail } from '../kernel/outcome.ts';
import { getTenant } from '../tenant/tenants.ts';

/**
 * Registered OAuth clients (table oauth_client). Backend-service clients authenticate with
 * private_key_jwt (SMART client-confidential-asymmetric) against public keys registered either
 * as a JWK Set URL (preferred by SMART) or inline, never both.
 * https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html#registering-a-client-communicating-public-keys
 */
export interface OAuthClient {
  tenant: string;
  id: string;
  name: string;
  kind: string;
  jwks: JSONWebKeySet | undefined;
  jwksUri: string | undefined;
  /** Scopes the client is pre-authorized for; a token never carries more. */
  scope: string;
  disabled: boolean;
  createdAt: string;
  /** 'none' (public, PKCE), 'client_secret_basic' or 'private_key_jwt' (migration 003). */
  authMethod: 'none' | 'client_secret_basic' | 'private_key_jwt';
  /** Registered redirect URIs, matched exactly (SMART apps). */
  redirectUris: string[];
  /** 'approved', or 'pending' for a dynamic registration awaiting a tenant admin. */
  status: 'approved' | 'pending';
  /** The app's launch URL for EHR launch, when registered. */
  launchUri: string | undefined;
  /** Backend clients (migration 018): the organization receiving what the client reads, 'Organization/<id>'. */
  organization: string | undefined;
  /** Purposes of use (access/purpose.ts MACHINE_PURPOSES) the client may ask for; none by default. */
  purposes: string[];
}

export const BACKEND_SERVICE = 'backend-service';

/** RFC 3986 unreserved characters: a client id never needs escaping in a form body or URL. */
const CLIENT_ID = /^[A-Za-z0-9\-._~]{1,128}$/;

/** JWK members that only a private or symmetric key has; registering one would leak a secret. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export interface RegisterBackendClientInput {
  tenant: string;
  name: string;
  /** Inline JWK Set ({ keys: [...] }) of public keys. */
  jwks?: object;
  /** URL of the client's JWK Set (http or https). */
  jwksUri?: string;
  /** Space-separated system/ scopes the client is pre-authorized for. */
  scope: string;
  id?: string;
  /** 'Organization/<id>': the recipient; required when purposes are given. */
  organization?: string;
  /** Purposes of use the client may ask for with a purpose/<CODE> scope. */
  purposes?: string[];
}

export async function registerBackendClient(db: Queryable, input: RegisterBackendClientInput): Promise<{ clientId: string }> {
  const clientId = input.id ?? randomUUID();
  if (!CLIENT_ID.test(clientId)) fail('invalid', 'Client id must be 1-128 characters of A-Z, a-z, 0-9, "-", ".", "_" or "~"');
  const name = input.name?.trim();
  if (!name) fail('invalid', 'Client name must not be empty');
  if (!(await getTenant(db, input.tenant))) fail('not-found', `Tenant "${input.tenant}" does not exist`);
  if ((input.jwks === undefined) === (input.jwksUri === undefined)) {
    fail('invalid', 'Register exactly one of a JWK Set (jwks) or a JWK Set URL (jwksUri)');
  }
  const jwks = input.jwks === undefined ? undefined : await checkPublicJwks(input.jwks);
  const jwksUri = input.jwksUri === undefined ? undefined : checkJwksUri(input.jwksUri);
  const scope = checkSystemScopes(input.scope);
  const { organization, purposes } = checkPurposes(input.organization, input.purposes);
  const r = await db.query(
    `INSERT INTO oauth_client (tenant, id, name, kind, jwks, jwks_uri, scope, organization, purposes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (id) DO NOTHING RETURNING id`,
    [input.tenant, clientId, name, BACKEND_SERVICE, jwks ? JSON.stringify(jwks) : null, jwksUri ?? null, scope, organization ?? null, purposes]
  );
  if (r.rows.length === 0) fail('conflict', `Client "${clientId}" already exists`);
  return { clientId };
}

/**
 * Changes a backend client's organization and purposes (both replaced). Tokens it already holds
 * keep their claims, but a token whose purpose or organization the registration no longer allows
 * is refused at the FHIR API (403, auth/index.ts). Returns false when no such backend client exists.
 */
export async function setClientPurposes(db: Queryable, id: string, input: { organization?: string; purposes?: string[] }): Promise<boolean> {
  const { organization, purposes } = checkPurposes(input.organization, input.purposes);
  const r = await db.query(`UPDATE oauth_client SET organization = $2, purposes = $3 WHERE id = $1 AND kind = $4 RETURNING id`, [
    id,
    organization ?? null,
    purposes,
    BACKEND_SERVICE,
  ]);
  return r.rows.length > 0;
}

const ORGANIZATION = /^Organization\/[A-Za-z0-9\-.]{1,64}$/;

/**
 * Purposes must be codes of MACHINE_PURPOSES, and any purpose needs the recipient organization:
 * a purpose of use is the recipient's, and the later consent checks ask "may this organization
 * have it for this purpose". An organization alone is allowed (recorded, no purpose).
 */
export function checkPurposes(organization: string | undefined, purposes: string[] | undefined): { organization?: string; purposes: string[] } {
  if (organization !== undefined && !ORGANIZATION.test(organization)) {
    fail('invalid', `Organization "${organization}" must be a reference of the form Organization/<id>`);
  }
  const codes = [...new Set((purposes ?? []).map((p) => p.trim()).filter(Boolean))];
  for (const code of codes) {
    if (!Object.hasOwn(MACHINE_PURPOSES, code)) {
      fail('invalid', `Purpose "${code}" is not one a backend client may be registered for; use one of ${Object.keys(MACHINE_PURPOSES).join(', ')}`);
    }
  }
  if (codes.length > 0 && organization === undefined) fail('invalid', 'A client registered for purposes of use needs its organization (Organization/<id>)');
  return { organization, purposes: codes };
}

export async function findClient(db: Queryable, id: string): Promise<OAuthClient | undefined> {
  const r = await db.query<ClientRow>(`SELECT ${COLUMNS} FROM oauth_client WHERE id = $1`, [id]);
  return r.rows[0] && toClient(r.rows[0]);
}

export async function listClients(db: Queryable, tenant: string): Promise<OAuthClient[]> {
  const r = await db.query<ClientRow>(`SELECT ${COLUMNS} FROM oauth_client WHERE tenant = $1 ORDER BY id`, [tenant]);
  return r.rows.map(toClient);
}

const COLUMNS =
  'tenant, id, name, kind, jwks, jwks_uri, scope, disabled, created_at::text AS created_at, auth_method, redirect_uris, status, launch_uri, organization, purposes';

interface ClientRow {
  tenant: string;
  id: string;
  name: string;
  kind: string;
  jwks: string | null;
  jwks_uri: string | null;
  scope: string;
  disabled: boolean;
  created_at: string;
  auth_method: string;
  redirect_uris: string[] | null;
  status: string;
  launch_uri: string | null;
  organization: string | null;
  purposes: string[] | null;
}

function toClient(row: ClientRow): OAuthClient {
  return {
    tenant: row.tenant,
    id: row.id,
    name: row.name,
    kind: row.kind,
    jwks: row.jwks ? (JSON.parse(row.jwks) as JSONWebKeySet) : undefined,
    jwksUri: row.jwks_uri ?? undefined,
    scope: row.scope,
    disabled: row.disabled,
    createdAt: row.created_at,
    authMethod: row.auth_method as OAuthClient['authMethod'],
    redirectUris: row.redirect_uris ?? [],
    status: row.status as OAuthClient['status'],
    launchUri: row.launch_uri ?? undefined,
    organization: row.organization ?? undefined,
    purposes: row.purposes ?? [],
  };
}

/**
 * SMART: "each JWK SHALL represent an asymmetric key by including kty and kid properties, with
 * content conveyed using bare key properties": n and e for RSA, crv, x and y for EC.
 * We also require keys usable with the algorithms we verify (RS384, ES384 on P-384) and refuse
 * anything private, so a mistaken upload of a private key never gets stored.
 */
export async function checkPublicJwks(value: unknown): Promise<JSONWebKeySet> {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (typeof value !== 'object' || value === null || !Array.isArray(keys) || keys.length === 0) {
    fail('invalid', 'The JWK Set must be an object with a non-empty "keys" array');
  }
  const kids = new Set<string>();
  const out: JWK[] = [];
  for (const [i, k] of (keys as unknown[]).entries()) {
    const where = `keys[${i}]`;
    if (typeof k !== 'object' || k === null) fail('invalid', `${where} is not a JSON object`);
    const jwk = k as JWK;
    if (typeof jwk.kid !== 'string' || !jwk.kid) fail('invalid', `${where} has no "kid"`);
    if (kids.has(jwk.kid)) fail('invalid', `kid "${jwk.kid}" appears more than once; it must be unique within the set`);
    kids.add(jwk.kid);
    if (PRIVATE_MEMBERS.some((m) => m in jwk)) {
      fail('invalid', `${where} (kid "${jwk.kid}") contains private key material; register the public key only`);
    }
    let alg: string;
    if (jwk.kty === 'RSA') {
      if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') fail('invalid', `${where}: an RSA key needs "n" and "e"`);
      alg = 'RS384';
    } else if (jwk.kty === 'EC') {
      if (jwk.crv !== 'P-384' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
        fail('invalid', `${where}: an EC key needs "crv": "P-384" (for ES384), "x" and "y"`);
      }
      alg = 'ES384';
    } else {
      fail('invalid', `${where}: "kty" must be "RSA" or "EC"`);
    }
    if (jwk.alg !== undefined && jwk.alg !== alg) fail('invalid', `${where}: "alg" must be ${alg} for this key type`);
    try {
      await importJWK({ ...jwk, ext: true }, alg);
    } catch {
      fail('invalid', `${where} (kid "${jwk.kid}") is not a valid ${alg} public key`);
    }
    out.push(jwk);
  }
  return { keys: out };
}

export function checkJwksUri(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail('invalid', `JWK Set URL "${value}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail('invalid', 'JWK Set URL must use https (or http)');
  if (url.username || url.password) fail('invalid', 'JWK Set URL must not contain credentials');
  if (url.hash) fail('invalid', 'JWK Set URL must not contain a fragment');
  // Stored exactly as given: a `jku` header is compared with it character for character.
  return value;
}

/** Pre-authorized scopes must all be well-formed system/ scopes (v1 or v2). */
export function checkSystemScopes(scope: string): string {
  const parts = (scope ?? '').split(/\s+/).filter(Boolean);
  if (parts.length === 0) fail('invalid', 'Scope must name at least one system/ scope, e.g. "system/*.rs"');
  for (const s of parts) {
    const parsed = parseScope(s);
    if (!parsed || parsed.context !== 'system') {
      fail('invalid', `"${s}" is not a SMART system scope (e.g. system/*.read, system/Observation.rs)`);
    }
  }
  return [...new Set(parts)].join(' ');
}

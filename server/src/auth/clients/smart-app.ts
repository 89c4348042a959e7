import { randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';
import { auditAuthEvent } from '../../audit/auth-events.ts';
import type { Queryable } from '../../db/database.ts';
import { PURPOSE_SCOPES } from '../../access/purpose.ts';
import { parseScope } from '../../access/scopes.ts';
import { fail } from '../../kernel/outcome.ts';
import { getTenant } from '../../tenant/tenants.ts';
import { checkJwksUri, checkPublicJwks, findClient } from '../clients.ts';

/**
 * SMART apps (kind 'smart-app'): clients that act for a person through the authorization-code
 * flow. Three ways to authenticate at the token endpoint, one per SMART client profile:
 * - 'none': public (client-public), PKCE only;
 * - 'client_secret_basic': client-confidential-symmetric, a server-made secret sent by HTTP Basic;
 * - 'private_key_jwt': client-confidential-asymmetric, as for backend services.
 * https://hl7.org/fhir/smart-app-launch/app-launch.html#register-app-with-ehr
 */
export const SMART_APP = 'smart-app';
export type AuthMethod = 'none' | 'client_secret_basic' | 'private_key_jwt';
export const AUTH_METHODS: readonly AuthMethod[] = ['none', 'client_secret_basic', 'private_key_jwt'];

export interface RegisterSmartAppInput {
  tenant: string;
  name: string;
  id?: string;
  redirectUris: string[];
  authMethod: AuthMethod;
  jwks?: object;
  jwksUri?: string;
  /** Every scope the app may ever be granted: user/, patient/, launch, openid, fhirUser, ... */
  scope: string;
  launchUri?: string;
  /** 'pending' for RFC 7591 registrations awaiting a tenant admin. */
  status?: 'approved' | 'pending';
  /** Extra RFC 7591 metadata to keep (never secrets). */
  metadata?: Record<string, unknown>;
}

const CLIENT_ID = /^[A-Za-z0-9\-._~]{1,128}$/;

/** Non-resource scopes an app may hold (SMART scopes-and-launch-context; OpenID Connect Core §5.4 "profile"). */
export const APP_SCOPES = [
  'openid',
  'fhirUser',
  'profile',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
] as const;

/** Registration errors name the RFC 7591 §3.2.2 code a dynamic registration answers with. */
export class ClientMetadataError extends Error {
  readonly error: 'invalid_redirect_uri' | 'invalid_client_metadata';
  constructor(error: 'invalid_redirect_uri' | 'invalid_client_metadata', description: string) {
    super(description);
    this.error = error;
  }
}

export async function registerSmartApp(db: Queryable, input: RegisterSmartAppInput): Promise<{ clientId: string; clientSecret?: string }> {
  const clientId = input.id ?? randomUUID();
  if (!CLIENT_ID.test(clientId)) fail('invalid', 'Client id must be 1-128 characters of A-Z, a-z, 0-9, "-", ".", "_" or "~"');
  const name = input.name?.trim();
  if (!name) fail('invalid', 'Client name must not be empty');
  if (!(await getTenant(db, input.tenant))) fail('not-found', `Tenant "${input.tenant}" does not exist`);
  const m = checkSmartAppMetadata(input);
  let jwks: object | undefined;
  let jwksUri: string | undefined;
  if (input.authMethod === 'private_key_jwt') {
    if ((input.jwks === undefined) === (input.jwksUri === undefined)) {
      throw new ClientMetadataError('invalid_client_metadata', 'private_key_jwt needs exactly one of jwks or jwks_uri');
    }
    jwks = input.jwks === undefined ? undefined : await checkPublicJwks(input.jwks);
    jwksUri = input.jwksUri === undefined ? undefined : checkJwksUri(input.jwksUri);
  } else if (input.jwks !== undefined || input.jwksUri !== undefined) {
    throw new ClientMetadataError('invalid_client_metadata', 'jwks and jwks_uri are for private_key_jwt clients only');
  }
  // A secret is made here, never chosen by the client: 32 random bytes, shown once, kept as scrypt.
  const clientSecret = input.authMethod === 'client_secret_basic' ? randomBytes(32).toString('base64url') : undefined;
  const secretHash = clientSecret ? await hashSecret(clientSecret) : null;
  const r = await db.query(
    `INSERT INTO oauth_client (tenant, id, name, kind, jwks, jwks_uri, scope, auth_method, redirect_uris, secret_hash, status, launch_uri, metadata)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING RETURNING id`,
    [
      input.tenant,
      clientId,
      name,
      SMART_APP,
      jwks ? JSON.stringify(jwks) : null,
      jwksUri ?? null,
      m.scope,
      input.authMethod,
      m.redirectUris,
      secretHash,
      input.status ?? 'approved',
      m.launchUri ?? null,
      JSON.stringify(input.metadata ?? {}),
    ]
  );
  if (r.rows.length === 0) fail('conflict', `Client "${clientId}" already exists`);
  return clientSecret ? { clientId, clientSecret } : { clientId };
}

/** Validates what can be wrong without the database; throws ClientMetadataError. */
export function checkSmartAppMetadata(input: Pick<RegisterSmartAppInput, 'redirectUris' | 'authMethod' | 'scope' | 'launchUri'>): {
  redirectUris: string[];
  scope: string;
  launchUri: string | undefined;
} {
  if (!AUTH_METHODS.includes(input.authMethod)) {
    throw new ClientMetadataError('invalid_client_metadata', `token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`);
  }
  if (!Array.isArray(input.redirectUris) || input.redirectUris.length === 0) {
    throw new ClientMetadataError('invalid_redirect_uri', 'At least one redirect URI is required');
  }
  // RFC 6749 §3.1.2: "The redirection endpoint URI MUST be an absolute URI" and "MUST NOT include a fragment".
  for (const u of input.redirectUris) checkAbsoluteUri(u, 'invalid_redirect_uri', 'Redirect URI');
  const launchUri = input.launchUri === undefined ? undefined : checkAbsoluteUri(input.launchUri, 'invalid_client_metadata', 'Launch URI');
  return { redirectUris: [...new Set(input.redirectUris)], scope: checkAppScopes(input.scope), launchUri };
}

function checkAbsoluteUri(value: unknown, error: ClientMetadataError['error'], what: string): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new ClientMetadataError(error, `${what} "${clip(String(value))}" is not an absolute URI`);
  }
  if (typeof value !== 'string' || url.hash || value.includes('#')) throw new ClientMetadataError(error, `${what} must not contain a fragment`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ClientMetadataError(error, `${what} must use https (or http)`);
  if (url.username || url.password) throw new ClientMetadataError(error, `${what} must not contain credentials`);
  return value;
}

/**
 * An app's registered scopes: user/ and patient/ resource scopes (v1 or v2), the SMART/OIDC scopes
 * and purposes of use (which any app may ask for anyway: they are the person's, access/purpose.ts).
 */
export function checkAppScopes(scope: string): string {
  const parts = (scope ?? '').split(/\s+/).filter(Boolean);
  if (parts.length === 0) throw new ClientMetadataError('invalid_client_metadata', 'scope must name at least one scope');
  for (const s of parts) {
    if ((APP_SCOPES as readonly string[]).includes(s) || PURPOSE_SCOPES.includes(s)) continue;
    const parsed = parseScope(s);
    if (!parsed || parsed.context === 'system') {
      throw new ClientMetadataError('invalid_client_metadata', `"${clip(s)}" is not a user/, patient/ or SMART launch scope an app may hold`);
    }
  }
  return [...new Set(parts)].join(' ');
}

/**
 * A tenant admin approves a pending (dynamically registered) client and it is recorded
 * (client-approved). Returns the client's tenant, or undefined when there is no such client.
 */
export async function approveClient(db: Queryable, id: string, tenant?: string, by?: { userId?: string; fhirUser?: string }): Promise<string | undefined> {
  const r = await db.query<{ tenant: string }>(
    `UPDATE oauth_client SET status = 'approved' WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) RETURNING tenant`,
    [id, tenant ?? null]
  );
  const t = r.rows[0]?.tenant;
  if (t) await auditAuthEvent(db, { tenant: t, action: 'client-approved', outcome: 'success', clientId: id, userId: by?.userId, fhirUser: by?.fhirUser });
  return t;
}

export async function setClientDisabled(db: Queryable, id: string, disabled: boolean): Promise<boolean> {
  return (await db.query('UPDATE oauth_client SET disabled = $2 WHERE id = $1 RETURNING id', [id, disabled])).rows.length > 0;
}

// scrypt (RFC 7914) with a random salt: a stolen table does not give the secrets away.
const SCRYPT = { N: 16384, r: 8, p: 1 };
const scryptAsync = (secret: string, salt: Buffer, n: number, r: number, p: number) =>
  new Promise<Buffer>((resolve, reject) =>
    scrypt(secret, salt, 32, { N: n, r, p, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)))
  );

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Constant-time comparison of a presented secret with the stored hash. */
export async function verifySecret(secret: string, stored: string | null | undefined): Promise<boolean> {
  const parts = (stored ?? '').split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt' || secret.length > 512) return false;
  const [, n, r, p, salt, hash] = parts;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptAsync(secret, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export async function clientSecretHash(db: Queryable, id: string): Promise<string | undefined> {
  const r = await db.query<{ secret_hash: string | null }>('SELECT secret_hash FROM oauth_client WHERE id = $1', [id]);
  return r.rows[0]?.secret_hash ?? undefined;
}

export { findClient };

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}

import { auditAuthEvent } from '../../audit/auth-events.ts';
import type { AccessPolicy } from '../../access/policy.ts';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import { OperationOutcomeError } from '@medplum/core';
import { getTenant } from '../../tenant/tenants.ts';
import { findClient } from '../clients.ts';
import { type AuthMethod, AUTH_METHODS, ClientMetadataError, approveClient, registerSmartApp } from '../clients/smart-app.ts';

/**
 * OAuth 2.0 Dynamic Client Registration (RFC 7591) for SMART apps, at POST /auth/register.
 * Open registration, but a registered client is 'pending' and cannot get tokens until a tenant
 * admin approves it (CLI `client approve --id X`, or POST /auth/clients/{id}/approve with a
 * tenant-admin's token): nobody gets access to a clinic's data by registering alone.
 *
 * Tenant: the `tenant` member (an extension field) names the clinic; without it the server's
 * DEFAULT_TENANT (config.defaultTenant) is used; with neither, invalid_client_metadata.
 * SMART's EHR launch URL is the `launch_uri` extension member.
 * Errors: RFC 7591 §3.2.2 `invalid_redirect_uri` and `invalid_client_metadata`, status 400.
 */
export interface RegistrationResult {
  status: number;
  body: Record<string, unknown>;
}

const GRANT_TYPES = ['authorization_code', 'refresh_token'];

export async function registerClient(
  ctx: { db: Database; config: Pick<Config, 'defaultTenant'>; now: () => number },
  metadata: unknown,
  ip?: string
): Promise<RegistrationResult> {
  const bad = (error: string, description: string): RegistrationResult => ({ status: 400, body: { error, error_description: description } });
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    return bad('invalid_client_metadata', 'The request body must be a JSON object of client metadata');
  }
  const m = metadata as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof m[k] === 'string' ? (m[k] as string) : undefined);
  for (const k of ['client_name', 'token_endpoint_auth_method', 'jwks_uri', 'scope', 'launch_uri', 'tenant']) {
    if (m[k] !== undefined && typeof m[k] !== 'string') return bad('invalid_client_metadata', `${k} must be a string`);
  }
  const redirectUris = m.redirect_uris;
  if (!Array.isArray(redirectUris) || redirectUris.length === 0 || !redirectUris.every((u) => typeof u === 'string')) {
    return bad('invalid_redirect_uri', 'redirect_uris must be a non-empty array of absolute URIs');
  }
  // RFC 7591 §2: the default token_endpoint_auth_method is client_secret_basic.
  const authMethod = (str('token_endpoint_auth_method') ?? 'client_secret_basic') as AuthMethod;
  if (!AUTH_METHODS.includes(authMethod)) {
    return bad('invalid_client_metadata', `token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`);
  }
  const grantTypes = m.grant_types ?? ['authorization_code'];
  if (!Array.isArray(grantTypes) || !grantTypes.every((g) => GRANT_TYPES.includes(g as string))) {
    return bad('invalid_client_metadata', `grant_types may contain only ${GRANT_TYPES.join(', ')}`);
  }
  const responseTypes = m.response_types ?? ['code'];
  if (!Array.isArray(responseTypes) || responseTypes.some((r) => r !== 'code')) {
    return bad('invalid_client_metadata', 'response_types may contain only "code"');
  }
  const tenant = str('tenant') ?? ctx.config.defaultTenant;
  if (!tenant) return bad('invalid_client_metadata', 'Name the clinic in the "tenant" member');
  if (!(await getTenant(ctx.db, tenant))) return bad('invalid_client_metadata', 'Unknown tenant');
  const name = str('client_name')?.trim() || 'Unnamed SMART app';
  const scope = str('scope') ?? 'launch launch/patient openid fhirUser patient/*.rs';

  let registered: { clientId: string; clientSecret?: string };
  try {
    registered = await registerSmartApp(ctx.db, {
      tenant,
      name,
      redirectUris: redirectUris as string[],
      authMethod,
      jwks: m.jwks as object | undefined,
      jwksUri: str('jwks_uri'),
      scope,
      launchUri: str('launch_uri'),
      status: 'pending',
      metadata: { grant_types: grantTypes, response_types: responseTypes },
    });
  } catch (err) {
    if (err instanceof ClientMetadataError) return bad(err.error, err.message);
    // checkPublicJwks / checkJwksUri report through FHIR errors; their messages are safe to show.
    if (err instanceof OperationOutcomeError) {
      const o = err.outcome;
      if (o.id === 'conflict') return bad('invalid_client_metadata', 'A client with this id already exists');
      return bad('invalid_client_metadata', o.issue?.[0]?.diagnostics ?? 'Invalid client metadata');
    }
    throw err;
  }
  await auditAuthEvent(ctx.db, { tenant, action: 'client-registered', outcome: 'success', clientId: registered.clientId, ip });
  const body: Record<string, unknown> = {
    client_id: registered.clientId,
    client_id_issued_at: Math.floor(ctx.now() / 1000),
    client_name: name,
    redirect_uris: [...new Set(redirectUris as string[])],
    token_endpoint_auth_method: authMethod,
    grant_types: grantTypes,
    response_types: responseTypes,
    scope: scope.split(/\s+/).filter(Boolean).join(' '),
    tenant,
    status: 'pending',
  };
  if (registered.clientSecret) {
    body.client_secret = registered.clientSecret;
    body.client_secret_expires_at = 0; // RFC 7591 §3.2.1: 0 = does not expire
  }
  if (m.jwks !== undefined) body.jwks = m.jwks;
  if (str('jwks_uri')) body.jwks_uri = str('jwks_uri');
  if (str('launch_uri')) body.launch_uri = str('launch_uri');
  return { status: 201, body };
}

/**
 * POST /auth/clients/{id}/approve: the caller's token must carry the tenant-admin role in the
 * client's tenant. Other tenants' clients look exactly like unknown ones (404).
 */
export async function approveByAdmin(db: Database, policy: AccessPolicy, clientId: string): Promise<RegistrationResult> {
  const roles = policy.context.roles ?? [];
  if (!policy.context.userId || !roles.includes('tenant-admin')) {
    return { status: 403, body: { error: 'insufficient_scope', error_description: 'Approving a client needs the tenant-admin role' } };
  }
  const client = await findClient(db, clientId);
  if (!client || client.tenant !== policy.tenant) return { status: 404, body: { error: 'not_found', error_description: 'No such client in this tenant' } };
  await approveClient(db, clientId, policy.tenant, { userId: policy.context.userId, fhirUser: policy.context.fhirUser });
  return { status: 200, body: { client_id: clientId, status: 'approved' } };
}

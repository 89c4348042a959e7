import type { Config } from '../config.ts';
import {
  authorizeUrl,
  introspectionUrl,
  issuerUrl,
  jwksUrl,
  registrationUrl,
  revocationUrl,
  tokenEndpointUrl,
} from './endpoints.ts';
import { ID_TOKEN_ALG } from './keys.ts';
import { ASSERTION_ALGORITHMS } from './token/verify-client-assertion.ts';

/**
 * SMART configuration document (SMART App Launch 2.2, Conformance, "Metadata"):
 * https://hl7.org/fhir/smart-app-launch/conformance.html#metadata
 * It advertises only what works; test/auth/smart-discovery.test.ts maps every capability to the
 * test that exercises it.
 */
export const CAPABILITIES = [
  'launch-ehr',
  'launch-standalone',
  'authorize-post',
  'client-public',
  'client-confidential-symmetric',
  'client-confidential-asymmetric',
  'sso-openid-connect',
  'context-banner',
  'context-style',
  'context-ehr-patient',
  'context-ehr-encounter',
  'context-standalone-patient',
  'permission-offline',
  'permission-online',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
] as const;

export const SCOPES_SUPPORTED = [
  'openid',
  'fhirUser',
  'profile',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
  // Purpose of use TREAT (access/purpose.ts): restricted records for people who treat patients.
  'purpose/TREAT',
  'patient/*.rs',
  'patient/*.cruds',
  'patient/*.read',
  'user/*.rs',
  'user/*.cruds',
  'user/*.read',
  'system/*.cruds',
  'system/*.rs',
  'system/*.read',
  'system/*.write',
  'system/*.*',
] as const;

export const AUTH_METHODS_SUPPORTED = ['private_key_jwt', 'client_secret_basic', 'none'] as const;
export const GRANT_TYPES_SUPPORTED = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

export function smartConfiguration(config: Pick<Config, 'baseUrl'>): Record<string, unknown> {
  return {
    issuer: issuerUrl(config),
    jwks_uri: jwksUrl(config),
    authorization_endpoint: authorizeUrl(config),
    token_endpoint: tokenEndpointUrl(config),
    registration_endpoint: registrationUrl(config),
    introspection_endpoint: introspectionUrl(config),
    revocation_endpoint: revocationUrl(config),
    token_endpoint_auth_methods_supported: [...AUTH_METHODS_SUPPORTED],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    grant_types_supported: [...GRANT_TYPES_SUPPORTED],
    scopes_supported: [...SCOPES_SUPPORTED],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    capabilities: [...CAPABILITIES],
  };
}

/** OpenID Connect Discovery 1.0 §3 provider metadata (SMART sso-openid-connect). */
export function openidConfiguration(config: Pick<Config, 'baseUrl'>): Record<string, unknown> {
  return {
    issuer: issuerUrl(config),
    authorization_endpoint: authorizeUrl(config),
    token_endpoint: tokenEndpointUrl(config),
    jwks_uri: jwksUrl(config),
    registration_endpoint: registrationUrl(config),
    introspection_endpoint: introspectionUrl(config),
    revocation_endpoint: revocationUrl(config),
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [ID_TOKEN_ALG],
    scopes_supported: [...SCOPES_SUPPORTED],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'fhirUser'],
    code_challenge_methods_supported: ['S256'],
    grant_types_supported: [...GRANT_TYPES_SUPPORTED],
    token_endpoint_auth_methods_supported: [...AUTH_METHODS_SUPPORTED],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
  };
}

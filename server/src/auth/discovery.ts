import type { Config } from '../config.ts';
import { issuerUrl, jwksUrl, tokenEndpointUrl } from './endpoints.ts';
import { ASSERTION_ALGORITHMS } from './token/verify-client-assertion.ts';

/**
 * SMART configuration document (SMART App Launch 2.2, Conformance, "Metadata"):
 * https://hl7.org/fhir/smart-app-launch/conformance.html#metadata
 * It advertises only what works today: Backend Services (client_credentials with
 * private_key_jwt) and system scopes in v1 and v2 syntax. When the authorization-code flow
 * lands, it adds authorization_endpoint, code_challenge_methods_supported ["S256"],
 * response_types_supported and the launch/permission capabilities it implements.
 */
export const CAPABILITIES = ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'] as const;

export const SCOPES_SUPPORTED = ['system/*.cruds', 'system/*.rs', 'system/*.read', 'system/*.write', 'system/*.*'] as const;

export function smartConfiguration(config: Pick<Config, 'baseUrl'>): Record<string, unknown> {
  return {
    issuer: issuerUrl(config),
    jwks_uri: jwksUrl(config),
    token_endpoint: tokenEndpointUrl(config),
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    grant_types_supported: ['client_credentials'],
    scopes_supported: [...SCOPES_SUPPORTED],
    capabilities: [...CAPABILITIES],
  };
}

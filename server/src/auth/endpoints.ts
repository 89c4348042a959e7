import type { Config } from '../config.ts';

/**
 * The absolute URLs this authorization server is known by. SMART: "All endpoint URLs in the
 * response document SHALL be absolute URLs"; the token URL is also the `aud` every client
 * assertion must carry, compared exactly.
 */
export const tokenEndpointUrl = (config: Pick<Config, 'baseUrl'>): string => `${config.baseUrl}/auth/token`;
export const jwksUrl = (config: Pick<Config, 'baseUrl'>): string => `${config.baseUrl}/auth/jwks`;
export const authorizeUrl = (config: Pick<Config, 'baseUrl'>): string => `${config.baseUrl}/auth/authorize`;
export const registrationUrl = (config: Pick<Config, 'baseUrl'>): string => `${config.baseUrl}/auth/register`;
export const introspectionUrl = (config: Pick<Config, 'baseUrl'>): string => `${config.baseUrl}/auth/introspect`;
export const revocationUrl = (config: Pick<Config, 'baseUrl'>): string => `${config.baseUrl}/auth/revoke`;
/** The FHIR base: the `aud` of every access token we issue. */
export const fhirBaseUrl = (config: Pick<Config, 'baseUrl'>): string => `${config.baseUrl}/fhir/R4`;
/** The `iss` of every access token and id_token we issue. */
export const issuerUrl = (config: Pick<Config, 'baseUrl'>): string => config.baseUrl;

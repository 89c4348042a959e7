import { requestedPurpose } from '../../access/purpose.ts';
import type { Config } from '../../config.ts';
import { issueAccessToken } from '../access-token.ts';
import type { OAuthClient } from '../clients.ts';
import { fhirBaseUrl, issuerUrl } from '../endpoints.ts';
import type { SigningKeys } from '../keys.ts';

/**
 * Step 7: the access token response (SMART Backend Services, "Issue Access Token"):
 * access_token, token_type "bearer", expires_in, scope. "Access tokens issued under this profile
 * SHALL be short-lived; the expires_in value SHOULD NOT exceed 300". No refresh token
 * ("Refresh tokens SHOULD NOT be issued").
 * https://hl7.org/fhir/smart-app-launch/backend-services.html#issue-access-token
 */
export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  scope: string;
}

export const MAX_SYSTEM_TOKEN_SECONDS = 300;

export async function issueToken(
  ctx: { config: Pick<Config, 'baseUrl' | 'systemTokenSeconds'>; keys: SigningKeys },
  client: OAuthClient,
  scope: string
): Promise<TokenResponse> {
  const ttl = Math.max(1, Math.min(ctx.config.systemTokenSeconds, MAX_SYSTEM_TOKEN_SECONDS));
  // grant-scopes.ts has checked the purpose against the registration; the token names who receives.
  const purposeOfUse = requestedPurpose(scope) ?? undefined;
  const accessToken = await issueAccessToken(
    ctx.keys,
    issuerUrl(ctx.config),
    fhirBaseUrl(ctx.config),
    { tenant: client.tenant, clientId: client.id, scope, sub: client.id, purposeOfUse, organization: client.organization },
    ttl
  );
  return { access_token: accessToken, token_type: 'bearer', expires_in: ttl, scope };
}

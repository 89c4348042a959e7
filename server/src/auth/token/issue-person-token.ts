import type { Clock } from '../../clock.ts';
import type { Config } from '../../config.ts';
import type { Queryable } from '../../db/database.ts';
import { purposeFromScope } from '../../access/purpose.ts';
import { issueAccessToken } from '../access-token.ts';
import { fhirBaseUrl, issuerUrl } from '../endpoints.ts';
import { type GrantRow, MAX_ACCESS_TOKEN_SECONDS, issueRefreshToken } from '../grants.ts';
import { absoluteFhirUser, issueIdToken, wantsIdToken } from '../id-token.ts';
import type { SigningKeys } from '../keys.ts';
import { findUserById } from '../users/index.ts';

/**
 * The token response of SMART App Launch ("Response to a successful token request"):
 * access_token, token_type "Bearer", expires_in, scope, and the launch context decided at
 * /authorize (patient, encounter, fhirContext, need_patient_banner, smart_style_url); an
 * id_token with openid + fhirUser/profile; a refresh_token with offline_access/online_access.
 * https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5
 */
export interface PersonTokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  id_token?: string;
  refresh_token?: string;
  patient?: string;
  encounter?: string;
  fhirContext?: unknown[];
  need_patient_banner?: boolean;
  smart_style_url?: string;
}

export interface IssueContext {
  db: Queryable;
  config: Pick<Config, 'baseUrl' | 'personTokenSeconds' | 'offlineRefreshSeconds' | 'onlineRefreshSeconds' | 'offlineGrantMaxSeconds'>;
  keys: SigningKeys;
  now: () => number;
  /** The server's clock (../../clock.ts): an offline grant's absolute lifetime is measured by it. */
  clock: Clock;
}

/** Seconds an offline grant has left before its absolute lifetime ends (≤ 0: ended; fails closed on a bad setting). */
export function offlineGrantSecondsLeft(ctx: Pick<IssueContext, 'config' | 'clock'>, grant: Pick<GrantRow, 'created_ms'>): number {
  const left = (grant.created_ms + ctx.config.offlineGrantMaxSeconds * 1000 - ctx.clock.now().getTime()) / 1000;
  return Number.isFinite(left) ? left : 0;
}

export async function issuePersonTokens(
  ctx: IssueContext,
  grant: GrantRow,
  scope: string,
  opts: { idToken: boolean }
): Promise<PersonTokenResponse> {
  const ttl = Math.max(1, Math.min(ctx.config.personTokenSeconds, MAX_ACCESS_TOKEN_SECONDS));
  const c = grant.context;
  // The account's roles now, not those seen at /authorize: a role change between the consent and
  // this token (or since the last refresh) shows at once.
  const roles = (await findUserById(ctx.db, grant.user_id))?.roles ?? [];
  const accessToken = await issueAccessToken(
    ctx.keys,
    issuerUrl(ctx.config),
    fhirBaseUrl(ctx.config),
    {
      tenant: grant.tenant,
      clientId: grant.client_id,
      scope,
      sub: grant.user_id,
      userId: grant.user_id,
      fhirUser: c.fhirUser,
      roles,
      patient: c.patient,
      encounter: c.encounter,
      // TREAT only when this token's scope (narrowed by a refresh, perhaps) still asks for it.
      purposeOfUse: purposeFromScope(scope, c.roles),
      grantId: grant.id,
    },
    ttl
  );
  const res: PersonTokenResponse = { access_token: accessToken, token_type: 'Bearer', expires_in: ttl, scope };
  if (c.patient) res.patient = c.patient;
  if (c.encounter) res.encounter = c.encounter;
  if (Array.isArray(c.fhirContext) && c.fhirContext.length) res.fhirContext = c.fhirContext;
  if (c.need_patient_banner !== undefined) res.need_patient_banner = c.need_patient_banner;
  if (c.smart_style_url) res.smart_style_url = c.smart_style_url;
  if (opts.idToken && wantsIdToken(scope)) {
    res.id_token = await issueIdToken(ctx.keys, {
      issuer: issuerUrl(ctx.config),
      clientId: grant.client_id,
      subject: grant.user_id,
      fhirUser: absoluteFhirUser(c.fhirUser, fhirBaseUrl(ctx.config)),
      nonce: c.nonce,
      authTime: c.auth_time,
      ttlSeconds: ttl,
      now: ctx.now(),
    });
  }
  const parts = scope.split(' ');
  if (parts.includes('offline_access') || parts.includes('online_access')) {
    // An offline refresh token never outlives its grant's absolute lifetime, however recently rotated.
    const refreshTtl = parts.includes('offline_access')
      ? Math.max(1, Math.min(ctx.config.offlineRefreshSeconds, Math.floor(offlineGrantSecondsLeft(ctx, grant))))
      : ctx.config.onlineRefreshSeconds;
    res.refresh_token = await issueRefreshToken(ctx.db, grant, scope, refreshTtl);
  }
  return res;
}

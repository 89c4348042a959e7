import { auditAuthEvent } from '../../audit/auth-events.ts';
import type { Database } from '../../db/database.ts';
import type { OAuthClient } from '../clients.ts';
import { InvalidGrant } from '../errors.ts';
import { type GrantContext, createGrant, findGrant, revokeGrantsOfCode, sha256 } from '../grants.ts';
import { checkPkce } from './check-pkce.ts';
import { userIsActive } from './check-person.ts';
import { type IssueContext, type PersonTokenResponse, issuePersonTokens } from './issue-person-token.ts';
import { type TokenParameters, required } from './read-parameters.ts';

/**
 * The authorization_code grant (RFC 6749 §4.1.3, SMART App Launch "Obtain access token"):
 * the code was issued to this client, for this redirect_uri, is unexpired and unused, and the
 * PKCE verifier matches. Any failure is invalid_grant (§5.2). A code presented a second time
 * also revokes every token issued from it (§4.1.2: "SHOULD revoke (when possible) all tokens
 * previously issued based on that authorization code").
 * https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-access-token
 */
interface CodeRow {
  tenant: string;
  client_id: string;
  user_id: string;
  redirect_uri: string;
  scope: string;
  code_challenge: string;
  context: GrantContext | string;
  expired: boolean;
}

export async function exchangeCode(
  ctx: IssueContext & { db: Database; ip?: string },
  client: OAuthClient,
  params: TokenParameters
): Promise<PersonTokenResponse> {
  const code = required(params, 'code');
  const redirectUri = required(params, 'redirect_uri');
  const codeHash = sha256(code);

  const found = await ctx.db.query<{ client_id: string }>('SELECT client_id FROM authorization_code WHERE code_hash = $1', [codeHash]);
  // A code of another client is not burnt by this request: the rightful client may still use it.
  if (found.rows.length === 0 || found.rows[0].client_id !== client.id) throw new InvalidGrant('The authorization code is invalid');

  // Marked used atomically, and the grant created in the same transaction: of two concurrent
  // exchanges exactly one wins, and the loser (blocked on the row lock until the winner commits)
  // then finds the winner's grant to revoke. Failures after marking still burn the code.
  const outcome = await ctx.db.transaction(async (tx): Promise<{ grantId: string; row: CodeRow } | { reused: true } | { error: InvalidGrant }> => {
    const used = await tx.query<CodeRow>(
      `UPDATE authorization_code SET used_at = now() WHERE code_hash = $1 AND used_at IS NULL
       RETURNING tenant, client_id, user_id, redirect_uri, scope, code_challenge, context, expires_at <= now() AS expired`,
      [codeHash]
    );
    const row = used.rows[0];
    if (!row) return { reused: true };
    try {
      if (row.expired) throw new InvalidGrant('The authorization code has expired');
      // RFC 6749 §4.1.3: redirect_uri must be "identical" to the one in the authorization request.
      if (row.redirect_uri !== redirectUri) throw new InvalidGrant('redirect_uri does not match the authorization request');
      checkPkce(params.get('code_verifier'), row.code_challenge);
      if (!(await userIsActive(tx, row.user_id))) throw new InvalidGrant('The user account is disabled');
    } catch (err) {
      if (err instanceof InvalidGrant) return { error: err };
      throw err;
    }
    const context = (typeof row.context === 'string' ? JSON.parse(row.context) : row.context) as GrantContext;
    row.context = context;
    const grantId = await createGrant(tx, {
      tenant: row.tenant,
      clientId: client.id,
      userId: row.user_id,
      codeHash,
      scope: row.scope,
      context,
      sessionId: context.sessionId,
      // On the server's clock, like the offline grant's absolute lifetime measured from it.
      createdAt: ctx.clock.now(),
    });
    return { grantId, row };
  });
  if ('error' in outcome) throw outcome.error;
  if ('reused' in outcome) {
    const revoked = await revokeGrantsOfCode(ctx.db, codeHash);
    if (revoked > 0) await auditAuthEvent(ctx.db, { tenant: client.tenant, action: 'token-revoked', outcome: 'success', clientId: client.id, ip: ctx.ip });
    throw new InvalidGrant('The authorization code has already been used');
  }
  const { grantId, row } = outcome;
  const context = row.context as GrantContext;
  const grant = await findGrant(ctx.db, grantId);
  if (!grant) throw new Error('grant vanished');
  const res = await issuePersonTokens(ctx, grant, row.scope, { idToken: true });
  await auditAuthEvent(ctx.db, {
    tenant: row.tenant,
    action: 'token-issued',
    outcome: 'success',
    userId: row.user_id,
    fhirUser: context.fhirUser,
    clientId: client.id,
    ip: ctx.ip,
    detail: row.scope,
  });
  return res;
}

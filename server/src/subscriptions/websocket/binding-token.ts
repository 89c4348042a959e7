import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../../db/database.ts';

/**
 * Websocket binding tokens (Backport IG 1.1 `$get-ws-binding-token`,
 * http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-get-ws-binding-token).
 * The IG leaves the token's form to the server: ours is `<tenant>.<32 random bytes, base64url>`,
 * stored only as its sha256 in `subscription_ws_token` (migration 009) so any server process can
 * accept it and a database leak yields no usable token.
 */

/** Lifetime of a binding token. A binding made with it lasts as long (re-bind with a fresh token to go on). */
export const BINDING_TOKEN_SECONDS = 600;

export interface BindingToken {
  token: string;
  expiresAt: Date;
}

export interface RedeemedToken {
  tenant: string;
  subscriptions: string[];
  expiresAt: Date;
}

const hash = (token: string) => createHash('sha256').update(token).digest('base64url');

export async function issueBindingToken(
  db: Queryable,
  input: { tenant: string; subscriptions: string[]; clientId?: string; subject?: string; now: Date }
): Promise<BindingToken> {
  const token = `${input.tenant}.${randomBytes(32).toString('base64url')}`;
  const expiresAt = new Date(input.now.getTime() + BINDING_TOKEN_SECONDS * 1000);
  // Expired tokens of the tenant go as new ones come: the table holds at most ten minutes' worth.
  await db.query('DELETE FROM subscription_ws_token WHERE tenant = $1 AND expires_at < $2', [input.tenant, input.now.toISOString()]);
  await db.query(
    'INSERT INTO subscription_ws_token (tenant, token_hash, subscriptions, client_id, subject, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
    [input.tenant, hash(token), input.subscriptions, input.clientId ?? null, input.subject ?? null, expiresAt.toISOString()]
  );
  return { token, expiresAt };
}

/** The token's tenant and subscriptions, or undefined when it is unknown, malformed or expired at `now`. */
export async function redeemBindingToken(db: Queryable, token: string, now: Date): Promise<RedeemedToken | undefined> {
  const dot = token.lastIndexOf('.');
  if (dot <= 0 || token.length > 200) return undefined;
  const tenant = token.slice(0, dot);
  const { rows } = await db.query<{ subscriptions: string[]; expires_at: Date | string }>(
    'SELECT subscriptions, expires_at FROM subscription_ws_token WHERE tenant = $1 AND token_hash = $2 AND expires_at > $3',
    [tenant, hash(token), now.toISOString()]
  );
  const row = rows[0];
  if (!row) return undefined;
  return { tenant, subscriptions: row.subscriptions, expiresAt: new Date(row.expires_at) };
}

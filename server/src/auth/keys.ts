import { type JWK, exportJWK, generateKeyPair, importJWK } from 'jose';
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.ts';

/**
 * The server's signing keys for access (and later id) tokens. Generated on first start and kept
 * in the signing_key table so every node and every restart signs and verifies with the same keys.
 */
export const TOKEN_ALG = 'ES256';

export interface SigningKeys {
  current: { kid: string; alg: string; key: CryptoKey | Uint8Array };
  /** Public keys by kid, for verification and the published JWKS. */
  publicKeys: Map<string, { jwk: JWK; key: CryptoKey | Uint8Array }>;
}

export async function loadSigningKeys(db: Database): Promise<SigningKeys> {
  const select = (q: Queryable) =>
    q.query<{ kid: string; alg: string; private_jwk: string; public_jwk: string }>(
      'SELECT kid, alg, private_jwk, public_jwk FROM signing_key WHERE retired_at IS NULL ORDER BY created_at DESC'
    );
  let rows = (await select(db)).rows;
  if (rows.length === 0) {
    // Under a lock, so nodes starting together on an empty database agree on one key.
    rows = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(424243)');
      const again = (await select(tx)).rows;
      if (again.length > 0) return again;
      const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALG, { extractable: true });
      const kid = randomUUID();
      const priv = JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: TOKEN_ALG });
      const pub = JSON.stringify({ ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALG, use: 'sig' });
      await tx.query('INSERT INTO signing_key (kid, alg, private_jwk, public_jwk) VALUES ($1, $2, $3, $4)', [kid, TOKEN_ALG, priv, pub]);
      return [{ kid, alg: TOKEN_ALG, private_jwk: priv, public_jwk: pub }];
    });
  }
  const publicKeys: SigningKeys['publicKeys'] = new Map();
  for (const r of rows) {
    const jwk = JSON.parse(r.public_jwk) as JWK;
    publicKeys.set(r.kid, { jwk, key: await importJWK(jwk, r.alg) });
  }
  const top = rows[0];
  return { current: { kid: top.kid, alg: top.alg, key: await importJWK(JSON.parse(top.private_jwk) as JWK, top.alg) }, publicKeys };
}

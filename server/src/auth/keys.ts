import { type JWK, exportJWK, generateKeyPair, importJWK } from 'jose';
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.ts';

/**
 * The server's signing keys, kept in the signing_key table so every node and every restart signs
 * and verifies with the same keys. Two purposes, each with its own current key:
 * - access tokens: ES256 (`current`, the name older code and test/support/server.ts use);
 * - id_tokens: RS256, because SMART App Launch (sso-openid-connect) and OpenID Connect Core §15.1
 *   require RS256 support from the relying party's point of view.
 * Rotation (`rotateSigningKeys`) adds a new key per purpose; older public keys stay published
 * (and verifiable) until every token they signed has expired, then they are retired.
 */
export const TOKEN_ALG = 'ES256';
export const ID_TOKEN_ALG = 'RS256';
const ALGS = [TOKEN_ALG, ID_TOKEN_ALG] as const;
/** A superseded key stays published this long: longer than any token we sign lives (1 h) plus skew. */
export const RETIRE_AFTER_SECONDS = 2 * 3600;

export interface CurrentKey {
  kid: string;
  alg: string;
  key: CryptoKey | Uint8Array;
}

export interface SigningKeys {
  /** The access-token (ES256) signing key. */
  current: CurrentKey;
  /** The id_token (RS256) signing key. */
  idToken: CurrentKey;
  /** Public keys by kid, for verification and the published JWKS. */
  publicKeys: Map<string, { jwk: JWK; key: CryptoKey | Uint8Array }>;
  /**
   * Reads keys added since (another process rotated): called when a token names an unknown kid,
   * at most once per `reloadIntervalMs`.
   */
  reload?: () => Promise<boolean>;
}

interface KeyRow {
  kid: string;
  alg: string;
  private_jwk: string;
  public_jwk: string;
}

const select = (q: Queryable) =>
  q.query<KeyRow>('SELECT kid, alg, private_jwk, public_jwk FROM signing_key WHERE retired_at IS NULL ORDER BY created_at DESC, kid');

async function insertKey(tx: Queryable, alg: string): Promise<KeyRow> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === ID_TOKEN_ALG ? { modulusLength: 2048 } : {}) });
  const kid = randomUUID();
  const priv = JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg });
  const pub = JSON.stringify({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
  await tx.query('INSERT INTO signing_key (kid, alg, private_jwk, public_jwk) VALUES ($1, $2, $3, $4)', [kid, alg, priv, pub]);
  return { kid, alg, private_jwk: priv, public_jwk: pub };
}

export async function loadSigningKeys(db: Database): Promise<SigningKeys> {
  let rows = (await select(db)).rows;
  if (ALGS.some((alg) => !rows.some((r) => r.alg === alg))) {
    // Under a lock, so nodes starting together on an empty database agree on one key per purpose.
    rows = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(424243)');
      const again = (await select(tx)).rows;
      for (const alg of ALGS) if (!again.some((r) => r.alg === alg)) again.push(await insertKey(tx, alg));
      return again;
    });
  }
  const keys = await toKeys(rows);
  let lastReload = 0;
  keys.reload = async () => {
    if (Date.now() - lastReload < 5_000) return false;
    lastReload = Date.now();
    const fresh = await toKeys((await select(db)).rows);
    let added = false;
    for (const [kid, k] of fresh.publicKeys) {
      if (!keys.publicKeys.has(kid)) {
        keys.publicKeys.set(kid, k);
        added = true;
      }
    }
    return added;
  };
  return keys;
}

async function toKeys(rows: KeyRow[]): Promise<SigningKeys> {
  const publicKeys: SigningKeys['publicKeys'] = new Map();
  for (const r of rows) {
    const jwk = JSON.parse(r.public_jwk) as JWK;
    publicKeys.set(r.kid, { jwk, key: await importJWK(jwk, r.alg) });
  }
  // Rows are newest first: the first of each algorithm signs.
  const current = async (alg: string): Promise<CurrentKey> => {
    const top = rows.find((r) => r.alg === alg);
    if (!top) throw new Error(`no ${alg} signing key`);
    return { kid: top.kid, alg: top.alg, key: await importJWK(JSON.parse(top.private_jwk) as JWK, top.alg) };
  };
  return { current: await current(TOKEN_ALG), idToken: await current(ID_TOKEN_ALG), publicKeys };
}

/** The public JWK Set to publish, read fresh so a rotation on any node shows at once. */
export async function publishedJwks(db: Queryable): Promise<{ keys: JWK[] }> {
  return { keys: (await select(db)).rows.map((r) => JSON.parse(r.public_jwk) as JWK) };
}

/**
 * Adds a new key for each purpose (it signs from the next start of each server process; until
 * then the old one goes on signing and both verify). Retires keys superseded more than
 * RETIRE_AFTER_SECONDS ago: no live token can carry their signature any more.
 */
export async function rotateSigningKeys(db: Database): Promise<{ added: string[]; retired: string[] }> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(424243)');
    const retired = (
      await tx.query<{ kid: string }>(
        `UPDATE signing_key k SET retired_at = now()
          WHERE retired_at IS NULL
            AND EXISTS (SELECT 1 FROM signing_key n WHERE n.alg = k.alg AND n.retired_at IS NULL
                        AND n.created_at > k.created_at AND n.created_at < now() - make_interval(secs => $1))
          RETURNING kid`,
        [RETIRE_AFTER_SECONDS]
      )
    ).rows.map((r) => r.kid);
    const added: string[] = [];
    for (const alg of ALGS) added.push((await insertKey(tx, alg)).kid);
    return { added, retired };
  });
}

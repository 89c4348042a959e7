import { type JWK, exportJWK, generateKeyPair, importJWK } from 'jose';
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.ts';
import { secretBoxOf, secretContext } from '../db/secret-box.ts';

/**
 * The server's signing keys, kept in the signing_key table so every node and every restart signs
 * and verifies with the same keys. Three purposes, each with its own current key:
 * - access tokens: ES256 (`current`, the name older code and test/support/server.ts use);
 * - id_tokens: RS256, because SMART App Launch (sso-openid-connect) and OpenID Connect Core §15.1
 *   require RS256 support from the relying party's point of view;
 * - note signatures (signed Compositions, clinical/notes): ES256, a key set of its own because a
 *   signed note must verify for as long as the record is kept, while token keys live for hours.
 * Rotation (`rotateSigningKeys`) adds a new key per purpose. Superseded token keys stay published
 * (and verifiable) until every token they signed has expired, then they are retired; note keys
 * are never retired. Private keys are stored encrypted with the server key (db/secret-box.ts).
 */
export const TOKEN_ALG = 'ES256';
export const ID_TOKEN_ALG = 'RS256';
export const NOTE_ALG = 'ES256';
type Purpose = 'access-token' | 'id-token' | 'note';
const PURPOSES: Record<Purpose, string> = { 'access-token': TOKEN_ALG, 'id-token': ID_TOKEN_ALG, note: NOTE_ALG };
/** A superseded token key stays published this long: longer than any token we sign lives (1 h) plus skew. */
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
  /** The note-signature (ES256) signing key. */
  notes: CurrentKey;
  /** Public token keys by kid, for token verification (never the note keys). */
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
  purpose: Purpose;
  private_jwk: string;
  public_jwk: string;
}

const select = (q: Queryable) =>
  q.query<KeyRow>(
    'SELECT kid, alg, purpose, private_jwk, public_jwk FROM signing_key WHERE retired_at IS NULL ORDER BY created_at DESC, kid'
  );

async function insertKey(tx: Queryable, purpose: Purpose): Promise<KeyRow> {
  const alg = PURPOSES[purpose];
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const kid = randomUUID();
  const priv = secretBoxOf(tx).seal(JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg }), privateContext(kid));
  const pub = JSON.stringify({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
  await tx.query('INSERT INTO signing_key (kid, alg, purpose, private_jwk, public_jwk) VALUES ($1, $2, $3, $4, $5)', [kid, alg, purpose, priv, pub]);
  return { kid, alg, purpose, private_jwk: priv, public_jwk: pub };
}

const privateContext = (kid: string) => secretContext('signing_key', 'private_jwk', kid);

export async function loadSigningKeys(db: Database): Promise<SigningKeys> {
  let rows = (await select(db)).rows;
  if (missingPurposes(rows).length) {
    // Under a lock, so nodes starting together on an empty database agree on one key per purpose.
    rows = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(424243)');
      const again = (await select(tx)).rows;
      for (const purpose of missingPurposes(again)) again.push(await insertKey(tx, purpose));
      return again;
    });
  }
  const keys = await toKeys(db, rows);
  let lastReload = 0;
  keys.reload = async () => {
    if (Date.now() - lastReload < 5_000) return false;
    lastReload = Date.now();
    const fresh = await toKeys(db, (await select(db)).rows);
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

function missingPurposes(rows: KeyRow[]): Purpose[] {
  return (Object.keys(PURPOSES) as Purpose[]).filter((p) => !rows.some((r) => r.purpose === p));
}

async function toKeys(db: Queryable, rows: KeyRow[]): Promise<SigningKeys> {
  const publicKeys: SigningKeys['publicKeys'] = new Map();
  for (const r of rows) {
    if (r.purpose === 'note') continue;
    const jwk = JSON.parse(r.public_jwk) as JWK;
    publicKeys.set(r.kid, { jwk, key: await importJWK(jwk, r.alg) });
  }
  // Rows are newest first: the first of each purpose signs.
  const box = secretBoxOf(db);
  const current = async (purpose: Purpose): Promise<CurrentKey> => {
    const top = rows.find((r) => r.purpose === purpose);
    if (!top) throw new Error(`no ${purpose} signing key`);
    const jwk = JSON.parse(box.open(top.private_jwk, privateContext(top.kid))) as JWK;
    return { kid: top.kid, alg: top.alg, key: await importJWK(jwk, top.alg) };
  };
  return { current: await current('access-token'), idToken: await current('id-token'), notes: await current('note'), publicKeys };
}

/**
 * The public JWK Set to publish, read fresh so a rotation on any node shows at once: the token
 * keys not yet retired, and every key that ever signed a note (note keys, and the access-token
 * keys that signed notes before note keys existed, migration 015), retired or not.
 */
export async function publishedJwks(db: Queryable): Promise<{ keys: JWK[] }> {
  const r = await db.query<{ public_jwk: string }>(
    `SELECT public_jwk FROM signing_key WHERE retired_at IS NULL OR purpose = 'note' OR signed_notes ORDER BY created_at DESC, kid`
  );
  return { keys: r.rows.map((k) => JSON.parse(k.public_jwk) as JWK) };
}

/**
 * Adds a new key for each purpose (it signs from the next start of each server process; until
 * then the old one goes on signing and both verify). Retires token keys superseded more than
 * RETIRE_AFTER_SECONDS ago: no live token can carry their signature any more. Note keys are not
 * retired: the notes they signed must verify for as long as they are kept.
 */
export async function rotateSigningKeys(db: Database): Promise<{ added: string[]; retired: string[] }> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(424243)');
    const retired = (
      await tx.query<{ kid: string }>(
        `UPDATE signing_key k SET retired_at = now()
          WHERE retired_at IS NULL AND purpose <> 'note'
            AND EXISTS (SELECT 1 FROM signing_key n WHERE n.purpose = k.purpose AND n.retired_at IS NULL
                        AND n.created_at > k.created_at AND n.created_at < now() - make_interval(secs => $1))
          RETURNING kid`,
        [RETIRE_AFTER_SECONDS]
      )
    ).rows.map((r) => r.kid);
    const added: string[] = [];
    for (const purpose of Object.keys(PURPOSES) as Purpose[]) added.push((await insertKey(tx, purpose)).kid);
    return { added, retired };
  });
}

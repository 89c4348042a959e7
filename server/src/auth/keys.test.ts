import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestDatabase, freshDatabase } from '../../../test/support/database.ts';
import { loadDefinitions } from '../kernel/definitions.ts';
import { createTenant } from '../tenant/tenants.ts';
import { issueAccessToken, verifyAccessToken } from './access-token.ts';
import { issueIdToken } from './id-token.ts';
import { ID_TOKEN_ALG, NOTE_ALG, TOKEN_ALG, loadSigningKeys, publishedJwks, rotateSigningKeys } from './keys.ts';

let t: TestDatabase;
beforeAll(async () => {
  loadDefinitions(); // createTenant installs the clinic's profiles
  t = await freshDatabase();
  await createTenant(t.db, { id: 'k', name: 'K' });
});
afterAll(async () => {
  await t?.drop();
});

describe('signing keys: one current key per purpose, rotation', () => {
  test('ES256 for access tokens (current), RS256 for id_tokens, ES256 for notes; all published with kids', async () => {
    const keys = await loadSigningKeys(t.db);
    expect(keys.current.alg).toBe(TOKEN_ALG);
    expect(keys.idToken.alg).toBe(ID_TOKEN_ALG);
    expect(keys.notes.alg).toBe(NOTE_ALG);
    expect(new Set([keys.current.kid, keys.idToken.kid, keys.notes.kid]).size).toBe(3);
    // Note keys sign notes only: a token names no note kid that would verify.
    expect(keys.publicKeys.has(keys.notes.kid)).toBe(false);
    const { keys: published } = await publishedJwks(t.db);
    expect(published.map((k) => k.kid).sort()).toEqual([keys.current.kid, keys.idToken.kid, keys.notes.kid].sort());
    for (const k of published) expect(k).not.toHaveProperty('d');
    // Loading again (another process) agrees on the same keys.
    const again = await loadSigningKeys(t.db);
    expect([again.current.kid, again.idToken.kid, again.notes.kid]).toEqual([keys.current.kid, keys.idToken.kid, keys.notes.kid]);
  });

  test('rotation adds keys; tokens signed by the old ones still verify; a running process learns the new kid', async () => {
    const old = await loadSigningKeys(t.db);
    const before = await issueAccessToken(old, 'https://iss', 'https://aud', { tenant: 'k', clientId: 'c', scope: 'system/*.rs', sub: 'c' }, 60);
    const { added, retired } = await rotateSigningKeys(t.db);
    expect(added).toHaveLength(3);
    expect(retired).toEqual([]); // the old keys were superseded just now: still needed
    const fresh = await loadSigningKeys(t.db);
    expect(added).toContain(fresh.current.kid);
    expect(added).toContain(fresh.idToken.kid);
    expect((await publishedJwks(t.db)).keys).toHaveLength(6);
    expect(await verifyAccessToken(fresh, 'https://iss', 'https://aud', before)).toMatchObject({ tenant: 'k' });
    // `old` was loaded before the rotation: it finds the new kid by reloading.
    const after = await issueAccessToken(fresh, 'https://iss', 'https://aud', { tenant: 'k', clientId: 'c', scope: 'system/*.rs', sub: 'c' }, 60);
    expect(await verifyAccessToken(old, 'https://iss', 'https://aud', after)).toMatchObject({ tenant: 'k' });
    // An id_token is never accepted as an access token.
    const idToken = await issueIdToken(fresh, { issuer: 'https://iss', clientId: 'https://aud', subject: 'u', ttlSeconds: 60, now: Date.now() });
    expect(await verifyAccessToken(fresh, 'https://iss', 'https://aud', idToken)).toBeUndefined();
  });

  test('token keys superseded more than two hours ago are retired by the next rotation; note keys never are', async () => {
    await t.db.query("UPDATE signing_key SET created_at = created_at - interval '3 hours'");
    const { retired } = await rotateSigningKeys(t.db);
    expect(retired).toHaveLength(2); // the first token pair; the second was superseded only now
    // Token keys: the second and third pairs; note keys: all three.
    expect((await publishedJwks(t.db)).keys).toHaveLength(7);
  });
});

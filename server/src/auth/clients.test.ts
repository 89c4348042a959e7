import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestDatabase, freshDatabase } from '../../../test/support/database.ts';
import { loadDefinitions } from '../kernel/definitions.ts';
import { createTenant, listTenants } from '../tenant/tenants.ts';
import { findClient, listClients, registerBackendClient } from './clients.ts';

let t: TestDatabase;
let publicJwk: Record<string, unknown>;
let privateJwk: Record<string, unknown>;

beforeAll(async () => {
  loadDefinitions(); // createTenant installs the clinic's profiles
  t = await freshDatabase();
  await createTenant(t.db, { id: 'clinic', name: 'Clinic' });
  const { publicKey, privateKey } = await generateKeyPair('ES384', { extractable: true });
  publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1' };
  privateJwk = { ...(await exportJWK(privateKey)), kid: 'k1' };
});
afterAll(async () => {
  await t?.drop();
});

const diag = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: { outcome?: { issue?: { diagnostics?: string }[] } }) => e.outcome?.issue?.[0]?.diagnostics ?? String(e)
  );

describe('tenants', () => {
  test('create, list, refuse duplicates and bad ids', async () => {
    await createTenant(t.db, { id: 'other.clinic-2' });
    expect((await listTenants(t.db)).map((x) => x.id)).toEqual(['clinic', 'other.clinic-2']);
    expect(await diag(createTenant(t.db, { id: 'clinic' }))).toMatch(/already exists/);
    expect(await diag(createTenant(t.db, { id: 'has space' }))).toMatch(/must be 1-64/);
    expect(await diag(createTenant(t.db, { id: '' }))).toMatch(/must be 1-64/);
  });
});

describe('registerBackendClient', () => {
  test('inline JWK Set: stored and read back', async () => {
    const { clientId } = await registerBackendClient(t.db, { tenant: 'clinic', name: 'Sync', jwks: { keys: [publicJwk] }, scope: 'system/*.rs  system/*.rs system/Observation.write' });
    const c = await findClient(t.db, clientId);
    expect(c).toMatchObject({ tenant: 'clinic', name: 'Sync', kind: 'backend-service', jwksUri: undefined, scope: 'system/*.rs system/Observation.write', disabled: false });
    expect(c?.jwks?.keys[0].kid).toBe('k1');
  });

  test('JWK Set URL with a chosen id', async () => {
    const { clientId } = await registerBackendClient(t.db, { tenant: 'clinic', name: 'Url', jwksUri: 'https://client.example/jwks.json', scope: 'system/*.read', id: 'my-client' });
    expect(clientId).toBe('my-client');
    expect((await listClients(t.db, 'clinic')).map((c) => c.id)).toContain('my-client');
    expect(await listClients(t.db, 'nobody')).toEqual([]);
  });

  test.each([
    ['a private key', () => ({ jwks: { keys: [privateJwk] } }), /private key material/],
    ['both jwks and jwksUri', () => ({ jwks: { keys: [publicJwk] }, jwksUri: 'https://x.example/j' }), /exactly one/],
    ['neither', () => ({}), /exactly one/],
    ['an empty key set', () => ({ jwks: { keys: [] } }), /non-empty "keys"/],
    ['a key without kid', () => ({ jwks: { keys: [{ ...publicJwk, kid: undefined }] } }), /no "kid"/],
    ['duplicate kids', () => ({ jwks: { keys: [publicJwk, publicJwk] } }), /more than once/],
    ['a P-256 key', () => ({ jwks: { keys: [{ ...publicJwk, crv: 'P-256' }] } }), /P-384/],
    ['a symmetric key', () => ({ jwks: { keys: [{ kty: 'oct', kid: 's', k: 'c2VjcmV0' }] } }), /private key material|kty/],
    ['a broken key', () => ({ jwks: { keys: [{ ...publicJwk, x: 'AAAA' }] } }), /not a valid ES384 public key/],
    ['a key with a mismatched alg', () => ({ jwks: { keys: [{ ...publicJwk, alg: 'ES256' }] } }), /"alg" must be ES384/],
    ['a non-http JWK Set URL', () => ({ jwksUri: 'file:///etc/passwd' }), /https/],
    ['a JWK Set URL with credentials', () => ({ jwksUri: 'https://u:p@x.example/j' }), /credentials/],
    ['a patient scope', () => ({ jwksUri: 'https://x.example/j', scope: 'patient/*.rs' }), /not a SMART system scope/],
    ['no scope', () => ({ jwksUri: 'https://x.example/j', scope: ' ' }), /at least one/],
    ['an unknown tenant', () => ({ jwksUri: 'https://x.example/j', tenant: 'nope' }), /does not exist/],
    ['a bad client id', () => ({ jwksUri: 'https://x.example/j', id: 'a b' }), /Client id/],
    ['a taken client id', () => ({ jwksUri: 'https://x.example/j', id: 'my-client' }), /already exists/],
  ])('refuses %s', async (_name, input, message) => {
    const result = await diag(registerBackendClient(t.db, { tenant: 'clinic', name: 'x', scope: 'system/*.rs', ...input() }));
    expect(result).toMatch(message);
  });
});

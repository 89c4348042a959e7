import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestDatabase, freshDatabase } from '../../../test/support/database.ts';
import { loadDefinitions } from '../kernel/definitions.ts';
import { createTenant } from '../tenant/tenants.ts';
import { isRevoked, revokeGrant } from './grants.ts';
import { CHANNEL, listenForRevocations, onRevocation } from './revocation-channel.ts';

// A revocation reaches every server process: this one directly, the others (PostgreSQL, several
// worker processes) through LISTEN/NOTIFY on a dedicated connection.
let t: TestDatabase;
beforeAll(async () => {
  loadDefinitions(); // createTenant installs the clinic's profiles
  t = await freshDatabase();
  await createTenant(t.db, { id: 'r', name: 'R' });
});
afterAll(async () => {
  await t?.drop();
});

const next = (pred: (ids: string[]) => boolean) =>
  new Promise<string[]>((resolve) => {
    const off = onRevocation((ids) => {
      if (pred(ids)) {
        off();
        resolve(ids);
      }
    });
  });

describe('revocation channel', () => {
  test('revokeGrant records the id (one lookup) and tells this process at once', async () => {
    expect(await isRevoked(t.db, 'g-1', undefined)).toBe(false);
    const heard = next((ids) => ids.includes('g-1'));
    await revokeGrant(t.db, 'r', 'g-1');
    expect(await heard).toEqual(['g-1']);
    expect(await isRevoked(t.db, 'g-1', 'some-jti')).toBe(true);
    expect(await isRevoked(t.db, undefined, undefined)).toBe(false);
  });

  test('a NOTIFY from another process reaches this one (PostgreSQL); PGlite is one process and needs none', async () => {
    if (t.db.kind === 'pglite') {
      expect(t.url).toBeUndefined();
      return;
    }
    const stop = listenForRevocations(t.url as string);
    try {
      // Wait until the LISTEN connection is up, then announce as another process would.
      let heard: string[] | undefined;
      const got = next((ids) => ids.includes('g-remote')).then((ids) => (heard = ids));
      for (let i = 0; i < 50 && !heard; i++) {
        await t.db.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(['g-remote'])]);
        await Promise.race([got, new Promise((r) => setTimeout(r, 100))]);
      }
      expect(heard).toEqual(['g-remote']);
    } finally {
      await stop();
    }
  });
});

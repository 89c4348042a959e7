import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Queryable } from './database.ts';

/**
 * Secrets at rest (signing private keys, TOTP secrets): AES-256-GCM under the server key, so a
 * copy of the database (a dump, a backup, a replica) without the key gives none of them away.
 *
 * A stored value reads `enc1.<key id>.<iv>.<ciphertext+tag>` (base64url). The key id names the
 * key that wrote it, so several keys can be configured at once: the first one writes, every one
 * reads (rotation: add a new first key, restart, `npm run cli -- secrets reencrypt`, then drop the
 * old one). The additional authenticated data names the table, column and row, so a ciphertext
 * copied into another row or column does not decrypt.
 */
export interface SecretKey {
  id: string;
  key: Buffer;
}

export const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const PREFIX = 'enc1.';

export class SecretBox {
  readonly current: SecretKey;
  private readonly byId: Map<string, Buffer>;

  constructor(keys: SecretKey[]) {
    if (keys.length === 0) throw new Error('A secret box needs at least one key');
    for (const k of keys) {
      if (!KEY_ID.test(k.id)) throw new Error(`Secret key id "${k.id}" must be 1-32 letters, digits, "_" or "-"`);
      if (k.key.length !== 32) throw new Error(`Secret key "${k.id}" must be 32 bytes (AES-256), base64-encoded`);
    }
    this.current = keys[0];
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
    if (this.byId.size !== keys.length) throw new Error('Secret key ids must be unique');
  }

  get keyIds(): string[] {
    return [...this.byId.keys()];
  }

  /** Encrypts under the current key; `context` names where the value is stored (table.column:row). */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}${this.current.id}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /** The plaintext of a sealed value; throws (naming the column, never the value) when it cannot. */
  open(stored: string, context: string): string {
    const parts = stored.split('.');
    if (!isSealed(stored) || parts.length !== 4) throw new Error(`The secret in ${columnOf(context)} is not encrypted`);
    const key = this.byId.get(parts[1]);
    if (!key) throw new Error(`The secret in ${columnOf(context)} is encrypted with server key "${parts[1]}", which is not configured (SECRET_KEYS / SECRET_KEYS_FILE)`);
    const body = Buffer.from(parts[3], 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(parts[2], 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(body.subarray(body.length - 16));
    try {
      return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`The secret in ${columnOf(context)} does not decrypt with server key "${parts[1]}" (wrong key, or the value was moved or altered)`);
    }
  }

  /** Whether a stored value was written under the current key (re-encryption skips it). */
  isCurrent(stored: string): boolean {
    return stored.startsWith(`${PREFIX}${this.current.id}.`);
  }
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** The authenticated context of a secret: `table.column:row key`. */
export function secretContext(table: string, column: string, ...rowKey: string[]): string {
  return `${table}.${column}:${rowKey.join('/')}`;
}

function columnOf(context: string): string {
  return context.slice(0, context.indexOf(':'));
}

/**
 * The box of a database, found from the database or any of its transactions (db/open.ts attaches
 * it when it opens the database; pg.ts and pglite.ts pass it on to each transaction), so the code
 * that stores a secret needs no extra parameter threaded through every caller. A symbol-keyed,
 * enumerable property, so a wrapper made by spreading a database (`{ ...db, close }`) keeps it.
 */
const BOX = Symbol('secretBox');
type WithBox = Queryable & { [BOX]?: SecretBox };

export function attachSecretBox(q: Queryable, box: SecretBox): void {
  Object.defineProperty(q, BOX, { value: box, enumerable: true, configurable: true, writable: false });
}

export function shareSecretBox(from: Queryable, to: Queryable): void {
  const box = (from as WithBox)[BOX];
  if (box) attachSecretBox(to, box);
}

export function secretBoxOf(q: Queryable): SecretBox {
  const box = (q as WithBox)[BOX];
  if (!box) throw new Error('No server key is loaded for this database (open it with openDatabase)');
  return box;
}

import { CompactSign } from 'jose';
import { fail } from '../../kernel/outcome.ts';

/**
 * The server's note-signing key (auth/keys.ts: a key set apart from the token keys, never retired
 * from /auth/jwks, so a note signed years ago still verifies) as the notes module sees it.
 * app.ts registers the keys it loaded under its FHIR base, so that several servers in one process
 * (tests) each sign with their own database's key; the keys themselves live in the database, so
 * every node of one deployment signs with the same key.
 */
export interface SigningKeys {
  /** The note-signature key (auth/keys.ts loads it; its SigningKeys has this shape). */
  notes: { kid: string; alg: string; key: CryptoKey | Uint8Array };
}

const byFhirBase = new Map<string, SigningKeys>();

export function useSigningKeys(fhirBase: string, keys: SigningKeys): void {
  byFhirBase.set(fhirBase, keys);
}

export function signingKeysFor(fhirBase: string, explicit?: SigningKeys): SigningKeys {
  const keys = explicit ?? byFhirBase.get(fhirBase);
  if (!keys) fail('server-error', 'The server has no signing key loaded for notes');
  return keys;
}

/** A compact JWS (RFC 7515) with the payload attached, signed with the server's current note key. */
export async function signJws(keys: SigningKeys, payload: string): Promise<string> {
  const { kid, alg, key } = keys.notes;
  return new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg, kid, cty: 'application/fhir+json' }).sign(key);
}

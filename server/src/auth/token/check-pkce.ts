import { createHash } from 'node:crypto';
import { constantTimeEqual } from '../constant-time.ts';
import { InvalidGrant } from '../errors.ts';

/**
 * PKCE at the token endpoint (RFC 7636 §4.6): the server "MUST" compare BASE64URL(SHA256(code_verifier))
 * with the code_challenge it stored; "If the values are not equal, an error response indicating
 * invalid_grant". SMART App Launch: "SHALL ... support the S256 code_challenge_method" and "SHALL NOT
 * support the plain method" — so a verifier equal to the challenge (plain) fails like any other.
 * A missing or blank verifier is invalid_grant too: every code here was issued with a challenge.
 */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/; // RFC 7636 §4.1

export function checkPkce(codeVerifier: string | undefined, codeChallenge: string): void {
  if (codeVerifier === undefined || codeVerifier.trim() === '') throw new InvalidGrant('code_verifier is required (PKCE, S256)');
  if (!VERIFIER.test(codeVerifier)) throw new InvalidGrant('code_verifier must be 43-128 characters of A-Z, a-z, 0-9, "-", ".", "_", "~"');
  const computed = createHash('sha256').update(codeVerifier, 'ascii').digest('base64url');
  if (!constantTimeEqual(computed, codeChallenge)) throw new InvalidGrant('code_verifier does not match the code_challenge (S256)');
}

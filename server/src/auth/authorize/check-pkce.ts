import { InvalidRequest } from './errors.ts';
import type { AuthorizeParams } from './read-parameters.ts';

/**
 * PKCE (RFC 7636). SMART App Launch 2: servers "SHALL require" `code_challenge_method=S256`
 * and "SHALL NOT support the plain method". RFC 7636 §4.2: the challenge is the base64url
 * sha256 of a 43-128 character verifier, i.e. 43 characters.
 */
export function checkPkce(params: AuthorizeParams): string {
  const challenge = params.code_challenge;
  if (challenge === undefined || challenge.trim() === '') throw new InvalidRequest('code_challenge is required (PKCE, S256)');
  if (params.code_challenge_method !== 'S256') throw new InvalidRequest('code_challenge_method must be S256');
  if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) throw new InvalidRequest('code_challenge must be the base64url sha256 of the code verifier (43 characters)');
  return challenge;
}

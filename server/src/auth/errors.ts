/**
 * OAuth 2.0 token-endpoint errors, one class per error code of RFC 6749 §5.2
 * (https://www.rfc-editor.org/rfc/rfc6749#section-5.2), so a code can never drift from the RFC.
 * A step throws one of these; the token endpoint turns it into the wire form
 * `{ "error": code, "error_description": description }` with the class's HTTP status.
 * Descriptions are written for the client developer and never echo tokens or keys.
 * Every code here is listed in ./README.md (a test checks it).
 */
export abstract class OAuthError extends Error {
  abstract readonly error: string;
  abstract readonly status: number;
  readonly description: string;
  constructor(description: string) {
    super(description);
    this.description = description;
  }
}

/** §5.2: missing or repeated parameter, unsupported parameter value (other than grant type), malformed request. */
export class InvalidRequest extends OAuthError {
  readonly error = 'invalid_request';
  readonly status = 400;
}

/**
 * §5.2: client authentication failed (unknown client, no or bad client authentication).
 * SMART client-confidential-asymmetric: "If an error is encountered during the authentication
 * process, the server SHALL respond with an invalid_client error".
 * 401 as RFC 6749 allows; there is no Authorization header scheme to challenge for private_key_jwt.
 */
export class InvalidClient extends OAuthError {
  readonly error = 'invalid_client';
  readonly status = 401;
}

/** §5.2: the authorization grant type is not supported by the authorization server. */
export class UnsupportedGrantType extends OAuthError {
  readonly error = 'unsupported_grant_type';
  readonly status = 400;
}

/** §5.2: the requested scope is invalid, unknown, malformed, or exceeds what the client was granted. */
export class InvalidScope extends OAuthError {
  readonly error = 'invalid_scope';
  readonly status = 400;
}

/**
 * §5.2: the authorization code or refresh token is invalid, expired, revoked, already used, was
 * issued to another client or for another redirect URI; or the PKCE code_verifier fails
 * (RFC 7636 §4.6).
 */
export class InvalidGrant extends OAuthError {
  readonly error = 'invalid_grant';
  readonly status = 400;
}

/** Too many requests from one address or client (our rate limit; RFC 6749 §4.1.2.1 names the code). */
export class TemporarilyUnavailable extends OAuthError {
  readonly error = 'temporarily_unavailable';
  readonly status = 429;
}

/** Every error class the token endpoint can emit, for documentation checks. */
export const OAUTH_ERRORS = [InvalidRequest, InvalidClient, UnsupportedGrantType, InvalidScope, InvalidGrant, TemporarilyUnavailable] as const;

/** The wire body of RFC 6749 §5.2. */
export function errorBody(err: OAuthError): { error: string; error_description: string } {
  return { error: err.error, error_description: err.description };
}

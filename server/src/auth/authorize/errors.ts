/**
 * Authorization endpoint errors, RFC 6749 §4.1.2.1
 * (https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1), one class per error code.
 *
 * Two kinds, by where the error can be sent:
 * - `ErrorPage`: the client or redirect URI is unknown or wrong. §4.1.2.1: the server "SHOULD
 *   inform the resource owner of the error and MUST NOT automatically redirect the user-agent
 *   to the invalid redirection URI" — so these are shown on our own page (no open redirect).
 * - `AuthorizeError` subclasses: everything after the redirect URI is known good; sent back to
 *   it as `error`, `error_description` and the client's `state`.
 */
export class ErrorPage extends Error {
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

export abstract class AuthorizeError extends Error {
  abstract readonly error: string;
}

/** Missing, repeated or invalid parameter (PKCE, aud, launch, …). */
export class InvalidRequest extends AuthorizeError {
  readonly error = 'invalid_request';
}
/** The client may not use this flow. */
export class UnauthorizedClient extends AuthorizeError {
  readonly error = 'unauthorized_client';
}
/** The person denied the request at the consent screen, or may not grant it. */
export class AccessDenied extends AuthorizeError {
  readonly error = 'access_denied';
}
/** Only `code` is supported (SMART App Launch uses the authorization code flow only). */
export class UnsupportedResponseType extends AuthorizeError {
  readonly error = 'unsupported_response_type';
}
/** No requested scope can be granted. */
export class InvalidScope extends AuthorizeError {
  readonly error = 'invalid_scope';
}
/** Unexpected failure; the description says nothing about the cause. */
export class ServerError extends AuthorizeError {
  readonly error = 'server_error';
}

export const AUTHORIZE_ERRORS = [InvalidRequest, UnauthorizedClient, AccessDenied, UnsupportedResponseType, InvalidScope, ServerError] as const;

/** The redirect carrying an error (§4.1.2.1), appended to any query the redirect URI has. */
export function errorRedirect(redirectUri: string, err: AuthorizeError, state: string | undefined): string {
  const url = new URL(redirectUri);
  url.searchParams.set('error', err.error);
  url.searchParams.set('error_description', err.message);
  if (state !== undefined) url.searchParams.set('state', state);
  return url.toString();
}

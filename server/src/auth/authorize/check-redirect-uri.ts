import type { OAuthClient } from '../clients.ts';
import { ErrorPage } from './errors.ts';
import type { AuthorizeParams } from './read-parameters.ts';

/**
 * The redirect URI must equal one registered for the client, character for character (RFC 6749
 * §3.1.2.3 simple string comparison; OAuth 2.0 Security BCP, RFC 9700 §4.1.3: exact matching).
 * Until this passes, errors go to a page, never to a redirect (no open redirector).
 */
export function checkRedirectUri(client: OAuthClient, params: AuthorizeParams): string {
  const uri = params.redirect_uri;
  if (!uri) throw new ErrorPage('The request has no redirect_uri');
  if (!client.redirectUris.includes(uri)) throw new ErrorPage('The redirect_uri is not one registered for this application');
  return uri;
}

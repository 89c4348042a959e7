import { ErrorPage } from './errors.ts';

/**
 * The authorization request's parameters, from the query (GET) or the form body (POST: SMART
 * "authorize-post" capability). RFC 6749 §3.1: "Request and response parameters MUST NOT be
 * included more than once"; since the redirect URI is not yet checked, a repeat is shown on a page.
 */
export type AuthorizeParams = Record<string, string>;

const NAMES = ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'aud', 'launch', 'code_challenge', 'code_challenge_method', 'nonce'];

export function readParameters(raw: Record<string, unknown>): AuthorizeParams {
  const out: AuthorizeParams = {};
  for (const name of NAMES) {
    const v = raw[name];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new ErrorPage(`The parameter "${name}" was given more than once`);
    if (v.length > 4096) throw new ErrorPage(`The parameter "${name}" is too long`);
    out[name] = v;
  }
  return out;
}

import { InvalidRequest } from '../errors.ts';

/**
 * Step 1: the form body of the token request.
 * RFC 6749 §4.4.2 / §3.2: parameters are sent "using the application/x-www-form-urlencoded
 * format"; "Request and response parameters MUST NOT be included more than once."
 */
export type TokenParameters = ReadonlyMap<string, string>;

export function readParameters(body: unknown, isForm: boolean): TokenParameters {
  if (!isForm) throw new InvalidRequest('The token request must be sent as application/x-www-form-urlencoded');
  const entries: [string, string][] =
    typeof body === 'string'
      ? [...new URLSearchParams(body)]
      : // An upstream body parser may already have parsed the form; repeated names then arrive as arrays.
        Object.entries((body ?? {}) as Record<string, unknown>).flatMap(([k, v]) =>
          (Array.isArray(v) ? v : [v]).map((x): [string, string] => [k, typeof x === 'string' ? x : ''])
        );
  const params = new Map<string, string>();
  for (const [name, value] of entries) {
    if (params.has(name)) throw new InvalidRequest(`Parameter "${name}" must not be repeated`);
    params.set(name, value);
  }
  return params;
}

/** A parameter that must be present and non-empty (RFC 6749 §5.2 invalid_request: "missing a required parameter"). */
export function required(params: TokenParameters, name: string): string {
  const value = params.get(name);
  if (value === undefined || value === '') throw new InvalidRequest(`Missing required parameter "${name}"`);
  return value;
}

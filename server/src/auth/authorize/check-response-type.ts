import { UnsupportedResponseType } from './errors.ts';
import type { AuthorizeParams } from './read-parameters.ts';

/** SMART App Launch: `response_type` "Fixed value: code" (authorization code flow only). */
export function checkResponseType(params: AuthorizeParams): void {
  if (params.response_type !== 'code') throw new UnsupportedResponseType('response_type must be "code"');
}

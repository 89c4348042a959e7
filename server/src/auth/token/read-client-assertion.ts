import { InvalidRequest } from '../errors.ts';
import { type TokenParameters, required } from './read-parameters.ts';

/**
 * Step 3: the client authentication parameters of RFC 7523 §2.2, as profiled by SMART
 * client-confidential-asymmetric:
 * client_assertion_type, "Fixed value: urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
 * client_assertion, "Signed authentication JWT value".
 * client_id is optional (RFC 7521 §4.2); when sent it must name the same client as the assertion.
 */
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface ClientAssertion {
  jwt: string;
  clientId: string | undefined;
}

export function readClientAssertion(params: TokenParameters): ClientAssertion {
  const type = required(params, 'client_assertion_type');
  const jwt = required(params, 'client_assertion');
  if (type !== JWT_BEARER) throw new InvalidRequest(`client_assertion_type must be ${JWT_BEARER}`);
  return { jwt, clientId: params.get('client_id') || undefined };
}

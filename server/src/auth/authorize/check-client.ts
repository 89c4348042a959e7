import type { Queryable } from '../../db/database.ts';
import { type OAuthClient, findClient } from '../clients.ts';
import { ErrorPage } from './errors.ts';
import type { AuthorizeParams } from './read-parameters.ts';

/**
 * RFC 6749 §4.1.2.1: an unknown client cannot be redirected to; the person sees a page.
 * Only approved, enabled SMART apps (kind 'smart-app') may start an authorization: a backend
 * service has no person, and a pending dynamic registration awaits a tenant admin.
 */
export async function checkClient(db: Queryable, params: AuthorizeParams): Promise<OAuthClient> {
  if (!params.client_id) throw new ErrorPage('The request has no client_id');
  const client = await findClient(db, params.client_id);
  if (!client || client.kind !== 'smart-app') throw new ErrorPage('This application is not registered with this server');
  if (client.disabled) throw new ErrorPage('This application has been disabled');
  if (client.status !== 'approved') throw new ErrorPage('This application has not been approved by the clinic yet');
  return client;
}

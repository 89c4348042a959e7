import { allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { Parameters, Subscription } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import { websocketEndpointFor } from '../../subscriptions/channels/websocket.ts';
import { issueBindingToken } from '../../subscriptions/websocket/binding-token.ts';
import { fail } from '../../kernel/outcome.ts';

/**
 * Subscription/$get-ws-binding-token (type level, and Subscription/[id]/$get-ws-binding-token):
 * Backport IG 1.1 OperationDefinition backport-subscription-get-ws-binding-token
 * (http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition-backport-subscription-get-ws-binding-token.html).
 * Input: `id` (0..*, type level only). Output Parameters: token, expiration, subscription
 * (repeated), websocket-url.
 *
 * A token covers only Subscriptions the caller may read now (the same read rule as
 * GET Subscription/[id], so a hidden one answers 404 exactly like a missing one) whose channel is
 * websocket. Without ids the IG lets the server pick "all Subscriptions available to the caller
 * with a channel-type of websocket": we do, and refuse when there are none.
 */
const MAX_SUBSCRIPTIONS = 100;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

export const getWsBindingToken: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const r = repo as Repository;
  const endpoint = websocketEndpointFor(r.ctx.fhirBase);
  if (!endpoint) fail('not-supported', 'Websocket notifications are not available on this server');

  let ids: string[];
  if (req.params.id) {
    ids = [req.params.id]; // "At the Instance level, this parameter is ignored."
  } else {
    ids = requestedIds(req);
  }
  if (ids.length > MAX_SUBSCRIPTIONS) fail('invalid', `At most ${MAX_SUBSCRIPTIONS} subscriptions per binding token`, 'Parameters.parameter');

  let subscriptions: Subscription[];
  if (ids.length > 0) {
    subscriptions = [];
    for (const id of new Set(ids)) subscriptions.push(await r.readResource<Subscription>('Subscription', id));
    for (const s of subscriptions) {
      if (s.channel?.type !== 'websocket') {
        fail('invalid', `Subscription/${s.id} does not use the websocket channel (channel.type is '${s.channel?.type ?? ''}')`, 'Subscription.channel.type');
      }
      if (s.status === 'off') fail('invalid', `Subscription/${s.id} is off`, 'Subscription.status');
    }
  } else {
    const bundle = await r.searchParams('Subscription', [['type', 'websocket'], ['_count', String(MAX_SUBSCRIPTIONS)]]);
    subscriptions = (bundle.entry ?? [])
      .map((e) => e.resource as Subscription)
      .filter((s) => s?.resourceType === 'Subscription' && s.channel?.type === 'websocket' && s.status !== 'off');
    if (subscriptions.length === 0) {
      fail('invalid', 'No websocket Subscription is available to the caller; create one or name it with parameter id', 'Parameters.parameter');
    }
  }

  const context = r.ctx.access.context;
  const { token, expiresAt } = await issueBindingToken(endpoint.db, {
    tenant: r.ctx.tenant,
    subscriptions: subscriptions.map((s) => s.id as string),
    clientId: context?.clientId,
    subject: context?.fhirUser ?? context?.userId,
    now: endpoint.clock.now(),
  });
  const out: Parameters = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'token', valueString: token },
      { name: 'expiration', valueDateTime: expiresAt.toISOString() },
      ...subscriptions.map((s) => ({ name: 'subscription', valueString: `${r.ctx.fhirBase}/Subscription/${s.id}` })),
      { name: 'websocket-url', valueUrl: endpoint.url },
    ],
  };
  return [allOk, out];
};

/** `id` from the query (repeated, or comma-separated) and from a Parameters body. */
function requestedIds(req: FhirRequest): string[] {
  const ids: string[] = [];
  const add = (value: unknown, where: string) => {
    if (typeof value !== 'string' || !ID.test(value)) fail('invalid', `Parameter 'id' must be a Subscription id`, where);
    ids.push(value);
  };
  for (const [k, v] of Object.entries(req.query ?? {})) {
    if (k.startsWith('_')) continue; // _format and friends belong to the HTTP layer
    if (k !== 'id') fail('invalid', `Unknown parameter '${k}' for $get-ws-binding-token`, k);
    for (const x of [v].flat()) for (const part of String(x).split(',')) add(part.trim(), 'id');
  }
  if (req.method === 'POST' && req.body && typeof req.body === 'object' && Object.keys(req.body).length > 0) {
    const body = req.body as Parameters;
    if (body.resourceType !== 'Parameters') fail('invalid', 'The body of POST $get-ws-binding-token must be a Parameters resource', 'resourceType');
    (body.parameter ?? []).forEach((p, i) => {
      if (p.name !== 'id') fail('invalid', `Unknown parameter '${p.name}' for $get-ws-binding-token`, `Parameters.parameter[${i}].name`);
      add(p.valueId ?? p.valueString, `Parameters.parameter[${i}].value`);
    });
  }
  return ids;
}

import { type SearchRequest, parseSearchRequest } from '@medplum/core';
import type { Extension, Subscription } from '@medplum/fhirtypes';
import { resourceTypes, searchParamsFor } from '../kernel/definitions.ts';
import { fail } from '../kernel/outcome.ts';
import type { ChannelType, PayloadContent, SubscriptionRow } from './channel.ts';
import { endpointProblem } from './endpoint-safety.ts';
import { type Topic, filterAllowed, topicFor } from './topics.ts';

/**
 * Reads and checks a Subscription resource (R4 https://hl7.org/fhir/R4/subscription.html with the
 * Backport IG 1.1 profile https://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition-backport-subscription.html).
 * Anything we cannot honour is refused with a 400 naming the element, never accepted and ignored.
 */
const BP = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
export const EXT = {
  filterCriteria: `${BP}/backport-filter-criteria`,
  payloadContent: `${BP}/backport-payload-content`,
  heartbeatPeriod: `${BP}/backport-heartbeat-period`,
  timeout: `${BP}/backport-timeout`,
  maxCount: `${BP}/backport-max-count`,
  channelType: `${BP}/backport-channel-type`,
} as const;
export const BACKPORT_SUBSCRIPTION_PROFILE = `${BP}/backport-subscription`;

export const DEFAULT_TIMEOUT_SECONDS = 10;
export const DEFAULT_MAX_COUNT = 20;
export const MAX_MAX_COUNT = 100;
const MAX_FILTERS = 20;
const MAX_HEADERS = 10;

/** What the server keeps of a Subscription (the table row without the bookkeeping). */
export type SubscriptionSpec = Omit<SubscriptionRow, 'tenant' | 'id' | 'eventsSinceStart' | 'principal'> & {
  /** Backport filter criteria as given ('Type?param=value'). */
  filters: string[];
};

/** A filter or a classic criteria, parsed once for in-memory matching. */
export interface ParsedCriteria {
  resourceType: string;
  request: SearchRequest;
  /** Patient ids the criteria pins (patient= or subject=Patient/...), for the per-patient index. */
  patients: string[];
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
const FORBIDDEN_HEADERS = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'expect', 'upgrade', 'te', 'trailer', 'keep-alive']);

function ext(list: Extension[] | undefined, url: string): Extension[] {
  return (list ?? []).filter((e) => e.url === url);
}

function uint(e: Extension | undefined, path: string, key: 'valueUnsignedInt' | 'valuePositiveInt'): number | undefined {
  if (!e) return undefined;
  const v = e[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < (key === 'valuePositiveInt' ? 1 : 0)) {
    fail('invalid', `${path} needs ${key} (${key === 'valuePositiveInt' ? 'an integer ≥ 1' : 'an integer ≥ 0'})`, path);
  }
  return v;
}

/**
 * Parses 'Type?param=value&…' (or 'param=value' for the topic's own type) for in-memory matching.
 * `allowed` decides which parameters may appear; `path` names the element in errors.
 */
export function parseCriteria(text: string, defaultType: string | undefined, allowed: (type: string, code: string) => boolean, path: string): ParsedCriteria {
  const q = text.trim();
  const qm = q.indexOf('?');
  const type = qm >= 0 ? q.slice(0, qm) : /^[A-Z][A-Za-z]+$/.test(q) ? q : defaultType;
  const query = qm >= 0 ? q.slice(qm + 1) : type === q ? '' : q;
  if (!type || !resourceTypes().includes(type)) fail('invalid', `Unknown resource type in criteria '${type ?? ''}'`, path);
  if (defaultType && type !== defaultType) fail('invalid', `Filter criteria must be about ${defaultType}, not ${type}`, path);
  let request: SearchRequest;
  try {
    request = parseSearchRequest(`${type}?${query}`);
  } catch {
    fail('invalid', 'Criteria could not be parsed as a search', path);
  }
  if (request.sortRules?.length || request.count !== undefined || request.include?.length || request.revInclude?.length) {
    fail('not-supported', 'Criteria may only filter (no _sort, _count, _include)', path);
  }
  const patients: string[] = [];
  for (const f of request.filters ?? []) {
    const code = f.code.split(':')[0];
    if (code.includes('.')) fail('not-supported', `Chained parameter '${f.code}' is not supported in criteria`, path);
    if (!allowed(type, code)) fail('not-supported', `Filter parameter '${code}' is not supported here`, path);
    if ((code === 'patient' || code === 'subject') && f.operator === 'eq' && !f.value.includes(',')) {
      const m = /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/.exec(f.value);
      if (m && (code === 'patient' || f.value.startsWith('Patient/'))) patients.push(m[1]);
    }
  }
  return { resourceType: type, request, patients };
}

/** The classic criteria or the topic's filters of a spec, parsed (used by the matcher cache). */
export function criteriaOf(spec: Pick<SubscriptionSpec, 'topic' | 'criteria' | 'filters'>): { topic?: Topic; resourceType: string; parsed: ParsedCriteria[] } {
  if (spec.topic) {
    const topic = topicFor(spec.topic);
    if (!topic) fail('invalid', 'Unknown topic', 'Subscription.criteria');
    const parsed = spec.filters.map((f, i) =>
      parseCriteria(f, topic.resourceType, (_t, c) => filterAllowed(topic, c), `Subscription.criteria.extension[${i}]`)
    );
    return { topic, resourceType: topic.resourceType, parsed };
  }
  const parsed = parseCriteria(spec.criteria ?? '', undefined, (t, c) => searchParamsFor(t).has(c), 'Subscription.criteria');
  return { resourceType: parsed.resourceType, parsed: [parsed] };
}

/**
 * Validates a Subscription and returns what the server keeps. `allowedHosts`: rest-hook hosts
 * allowed over http (config.subscriptionAllowedHosts).
 */
export function parseSubscription(sub: Subscription, allowedHosts: readonly string[]): SubscriptionSpec {
  const criteria = (sub.criteria ?? '').trim();
  if (!criteria) fail('invalid', 'Subscription.criteria is required: a topic canonical or a search (Type?params)', 'Subscription.criteria');
  const topicBased = /^[a-z][a-z0-9+.-]*:/i.test(criteria) || (sub.meta?.profile ?? []).includes(BACKPORT_SUBSCRIPTION_PROFILE);
  const channel = sub.channel;
  if (!channel) fail('invalid', 'Subscription.channel is required', 'Subscription.channel');

  // channel.type: rest-hook and websocket; custom channel types (backport-channel-type) are not offered.
  const subAny = sub as Subscription & { channel: { _type?: { extension?: Extension[] }; _payload?: { extension?: Extension[] } }; _criteria?: { extension?: Extension[] } };
  if (ext(subAny.channel._type?.extension, EXT.channelType).length) {
    fail('not-supported', 'Custom channel types are not supported; use rest-hook or websocket', 'Subscription.channel.type');
  }
  const channelType = channel.type as string;
  if (channelType !== 'rest-hook' && channelType !== 'websocket') {
    fail('not-supported', `Channel type '${channelType ?? ''}' is not supported; use rest-hook or websocket`, 'Subscription.channel.type');
  }

  let endpoint: string | undefined;
  if (channelType === 'rest-hook') {
    endpoint = channel.endpoint?.trim();
    if (!endpoint) fail('invalid', 'A rest-hook subscription needs channel.endpoint', 'Subscription.channel.endpoint');
    const problem = endpointProblem(endpoint, allowedHosts);
    if (problem) fail('invalid', `The endpoint ${problem}`, 'Subscription.channel.endpoint');
  }

  const headers = (channel.header ?? []).map((h, i) => {
    const path = `Subscription.channel.header[${i}]`;
    const m = /^([^:]+):[ \t]*(.*)$/.exec(h ?? '');
    if (!m || !HEADER_NAME.test(m[1]) || /[\r\n\0]/.test(m[2]) || m[2].length > 4096) fail('invalid', "A header must be 'Name: value' with a valid name", path);
    const name = m[1].toLowerCase();
    if (FORBIDDEN_HEADERS.has(name) || name.startsWith('proxy-')) fail('invalid', `Header '${m[1]}' is set by the server`, path);
    return `${m[1]}: ${m[2]}`;
  });
  if (headers.length > MAX_HEADERS) fail('invalid', `At most ${MAX_HEADERS} headers`, 'Subscription.channel.header');

  // Payload: the MIME type (R4 channel.payload) and, for topics, its content (backport-payload-content).
  const contentType = channel.payload?.trim() || undefined;
  if (contentType && contentType !== 'application/fhir+json' && contentType !== 'application/json') {
    fail('not-supported', `Payload MIME type '${contentType}' is not supported; use application/fhir+json`, 'Subscription.channel.payload');
  }
  const contentExt = ext(subAny.channel._payload?.extension, EXT.payloadContent);
  let payload: PayloadContent;
  if (topicBased) {
    if (!contentType) fail('invalid', 'A topic-based subscription needs channel.payload (application/fhir+json) with its content extension', 'Subscription.channel.payload');
    const code = contentExt[0]?.valueCode;
    if (contentExt.length !== 1 || !code) {
      fail('invalid', `channel.payload needs exactly one ${EXT.payloadContent} extension (valueCode)`, 'Subscription.channel.payload.extension');
    }
    if (code !== 'empty' && code !== 'id-only' && code !== 'full-resource') {
      fail('not-supported', `Payload content '${code}' is not supported; use empty, id-only or full-resource`, 'Subscription.channel.payload.extension');
    }
    payload = code;
  } else {
    // R4 classic: no payload = a notification with no body; a MIME type = the resource itself.
    if (contentExt.length) fail('invalid', 'Payload content applies to topic-based subscriptions only', 'Subscription.channel.payload.extension');
    payload = contentType ? 'full-resource' : 'empty';
  }

  const channelExt = channel.extension ?? [];
  const heartbeatSeconds = uint(ext(channelExt, EXT.heartbeatPeriod)[0], 'Subscription.channel.extension(heartbeatPeriod)', 'valueUnsignedInt');
  const timeoutSeconds = uint(ext(channelExt, EXT.timeout)[0], 'Subscription.channel.extension(timeout)', 'valueUnsignedInt') ?? DEFAULT_TIMEOUT_SECONDS;
  const maxCount = uint(ext(channelExt, EXT.maxCount)[0], 'Subscription.channel.extension(maxCount)', 'valuePositiveInt') ?? DEFAULT_MAX_COUNT;
  if (heartbeatSeconds !== undefined && heartbeatSeconds < 1) fail('invalid', 'heartbeatPeriod must be at least 1 second', 'Subscription.channel.extension(heartbeatPeriod)');
  if (timeoutSeconds < 1) fail('invalid', 'timeout must be at least 1 second', 'Subscription.channel.extension(timeout)');
  if (maxCount > MAX_MAX_COUNT) fail('invalid', `maxCount may be at most ${MAX_MAX_COUNT}`, 'Subscription.channel.extension(maxCount)');
  if (!topicBased && (heartbeatSeconds !== undefined || ext(channelExt, EXT.maxCount).length)) {
    fail('invalid', 'heartbeatPeriod and maxCount apply to topic-based subscriptions only', 'Subscription.channel.extension');
  }

  const filterExt = ext(subAny._criteria?.extension, EXT.filterCriteria);
  const filters = filterExt.map((e, i) => {
    if (typeof e.valueString !== 'string' || !e.valueString.trim()) fail('invalid', 'Filter criteria need a valueString', `Subscription.criteria.extension[${i}]`);
    return e.valueString.trim();
  });
  if (filters.length > MAX_FILTERS) fail('invalid', `At most ${MAX_FILTERS} filter criteria`, 'Subscription.criteria.extension');
  if (!topicBased && filters.length) fail('invalid', 'Filter criteria apply to topic-based subscriptions only', 'Subscription.criteria.extension');

  const spec: SubscriptionSpec = {
    status: sub.status as SubscriptionSpec['status'],
    topic: topicBased ? criteria : undefined,
    criteria: topicBased ? undefined : criteria,
    filters,
    channelType: channelType as ChannelType,
    endpoint,
    headers,
    payload,
    contentType,
    heartbeatSeconds,
    timeoutSeconds,
    maxCount,
  };
  if (topicBased && !topicFor(criteria)) {
    fail('not-supported', `Unknown subscription topic '${criteria}'; the CapabilityStatement lists the topics offered`, 'Subscription.criteria');
  }
  criteriaOf(spec); // throws with the element named when a filter or classic criteria is not usable
  return spec;
}

/** Whether two specs deliver to the same place the same way (else the endpoint is verified again). */
export function sameChannel(a: SubscriptionSpec, b: SubscriptionSpec): boolean {
  return a.channelType === b.channelType && a.endpoint === b.endpoint && JSON.stringify(a.headers) === JSON.stringify(b.headers) && a.contentType === b.contentType;
}

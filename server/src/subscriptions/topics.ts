import type { Resource } from '@medplum/fhirtypes';
import { resourceTypes, searchParamsFor } from '../kernel/definitions.ts';
import type { WriteMethod } from '../store/hooks.ts';

/**
 * The topic catalogue: what a topic-based Subscription (Backport IG 1.1,
 * https://hl7.org/fhir/uv/subscriptions-backport/components.html) may name in Subscription.criteria.
 * In R4 the IG leaves SubscriptionTopic resources out of scope ("pre-defined topics with fixed
 * canonical URLs"); clients discover ours through the CapabilityStatement extension
 * capabilitystatement-subscriptiontopic-canonical (fhir/interactions/metadata.ts).
 *
 * Each topic names one resource type, the changes that trigger it (a predicate over the previous
 * and the current version) and the search parameters a subscription may filter on.
 */
export const TOPIC_BASE = 'http://bh-fhir.org/fhir/SubscriptionTopic';
export const RISK_TASK_CODE = { system: 'http://bh-fhir.org/fhir/CodeSystem/risk-task', code: 'suicide-risk-follow-up' };

export type Change = 'create' | 'update' | 'delete';

export interface Topic {
  canonical: string;
  title: string;
  resourceType: string;
  /** Whether this change (previous → current; current undefined for a delete) is an event of the topic. */
  trigger(change: Change, before: Resource | undefined, after: Resource | undefined): boolean;
  /** Search parameters allowed in filter criteria; undefined = every search parameter of the type. */
  filters?: readonly string[];
}

type Coded = { coding?: { system?: string; code?: string }[] };
const hasCoding = (cc: Coded | Coded[] | undefined, system: string, code: string): boolean =>
  [cc ?? []].flat().some((c) => c.coding?.some((x) => x.system === system && x.code === code));

const isRiskTask = (r: Resource | undefined): boolean =>
  r?.resourceType === 'Task' && hasCoding((r as { code?: Coded }).code, RISK_TASK_CODE.system, RISK_TASK_CODE.code);
const completed = (r: Resource | undefined): boolean => (r as { status?: string } | undefined)?.status === 'completed';
const legallySigned = (r: Resource | undefined): boolean =>
  ((r as { attester?: { mode?: string }[] } | undefined)?.attester ?? []).some((a) => a.mode === 'legal');
const scored = (r: Resource | undefined): boolean => {
  const o = r as { derivedFrom?: { reference?: string }[]; category?: Coded[] } | undefined;
  return (
    Boolean(o?.derivedFrom?.some((d) => d.reference?.startsWith('QuestionnaireResponse/'))) &&
    hasCoding(o?.category, 'http://terminology.hl7.org/CodeSystem/observation-category', 'survey')
  );
};

const CURATED: Topic[] = [
  {
    canonical: `${TOPIC_BASE}/risk-task`,
    title: 'Suicide-risk follow-up Task created or updated',
    resourceType: 'Task',
    trigger: (change, _before, after) => change !== 'delete' && isRiskTask(after),
    filters: ['patient', 'subject', 'status', 'owner', 'priority', 'code', 'focus'],
  },
  {
    canonical: `${TOPIC_BASE}/questionnaire-response-completed`,
    title: 'QuestionnaireResponse completed',
    resourceType: 'QuestionnaireResponse',
    trigger: (change, before, after) => change !== 'delete' && completed(after) && !completed(before),
    filters: ['patient', 'subject', 'questionnaire', 'author', 'encounter'],
  },
  {
    canonical: `${TOPIC_BASE}/scored-observation`,
    title: 'Scored Observation (derived from a QuestionnaireResponse, category survey) created',
    resourceType: 'Observation',
    trigger: (change, _before, after) => change === 'create' && scored(after),
    filters: ['patient', 'subject', 'code', 'derived-from', 'encounter'],
  },
  {
    canonical: `${TOPIC_BASE}/composition-signed`,
    title: 'Composition signed (a legal attester added)',
    resourceType: 'Composition',
    trigger: (change, before, after) => change !== 'delete' && legallySigned(after) && !legallySigned(before),
    filters: ['patient', 'subject', 'type', 'author', 'encounter'],
  },
  {
    canonical: `${TOPIC_BASE}/appointment`,
    title: 'Appointment created, changed or deleted',
    resourceType: 'Appointment',
    trigger: () => true,
    filters: ['patient', 'actor', 'practitioner', 'location', 'status', 'service-type'],
  },
  {
    canonical: `${TOPIC_BASE}/encounter`,
    title: 'Encounter created, changed or deleted',
    resourceType: 'Encounter',
    trigger: () => true,
    filters: ['patient', 'subject', 'practitioner', 'participant', 'status', 'class', 'type', 'service-provider'],
  },
];

/**
 * Types with no generic topic: a Subscription about Subscriptions would notify about the server's
 * own status writes, and AuditEvents are written for every read (a subscription would amplify traffic).
 */
const NO_GENERIC = new Set(['Subscription', 'AuditEvent']);

let catalogue: Map<string, Topic> | undefined;

function build(): Map<string, Topic> {
  const out = new Map<string, Topic>(CURATED.map((t) => [t.canonical, t]));
  for (const type of resourceTypes()) {
    if (NO_GENERIC.has(type) || type === 'Parameters' || type === 'Binary' || type === 'Bundle') continue;
    out.set(`${TOPIC_BASE}/resource/${type}`, {
      canonical: `${TOPIC_BASE}/resource/${type}`,
      title: `${type} created, updated or deleted`,
      resourceType: type,
      trigger: () => true,
    });
  }
  return out;
}

/** Every topic the server offers, by canonical (curated topics first). */
export function topics(): Map<string, Topic> {
  catalogue ??= build();
  return catalogue;
}

/** The topic for a canonical, ignoring a `|version` suffix. */
export function topicFor(canonical: string): Topic | undefined {
  return topics().get(canonical.split('|')[0]);
}

/** Whether `param` may be used in a filter of `topic`. */
export function filterAllowed(topic: Topic, param: string): boolean {
  if (topic.filters) return topic.filters.includes(param);
  return searchParamsFor(topic.resourceType).has(param);
}

export function changeOf(method: WriteMethod, before: Resource | undefined): Change {
  if (method === 'delete') return 'delete';
  return before ? 'update' : 'create';
}

import type { Bundle, Communication, ContactPoint, HealthcareService } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import type { SearchRequest } from '../../store/search/batch.ts';
import { COMMUNICATION_CATEGORY_SYSTEM, CRISIS_RESOURCE_SYSTEM } from '../codes.ts';

/**
 * A tenant's crisis resources: HealthcareService resources whose category holds
 * CRISIS_RESOURCE_SYSTEM `crisis-line` or `emergency`, active. Installed with US defaults when a
 * tenant starts (./install.ts) and then the tenant's to edit (PUT HealthcareService/crisis-988,
 * crisis-emergency, or add its own local crisis line with that category).
 * 988 Suicide & Crisis Lifeline: call or text 988, chat at https://988lifeline.org/chat
 * (https://988lifeline.org/); emergencies: 911.
 */
export const DEFAULT_CRISIS_RESOURCES: HealthcareService[] = [
  {
    resourceType: 'HealthcareService',
    id: 'crisis-988',
    active: true,
    category: [{ coding: [{ system: CRISIS_RESOURCE_SYSTEM, code: 'crisis-line', display: 'Crisis line' }] }],
    name: '988 Suicide & Crisis Lifeline',
    comment: 'Free, confidential support 24/7 for anyone in suicidal crisis or emotional distress: call or text 988, or chat online.',
    telecom: [
      { system: 'phone', value: '988', use: 'work', rank: 1 },
      { system: 'sms', value: '988', use: 'work', rank: 2 },
      { system: 'url', value: 'https://988lifeline.org/chat', use: 'work', rank: 3 },
    ],
    availableTime: [{ allDay: true }],
  },
  {
    resourceType: 'HealthcareService',
    id: 'crisis-emergency',
    active: true,
    category: [{ coding: [{ system: CRISIS_RESOURCE_SYSTEM, code: 'emergency', display: 'Emergency services' }] }],
    name: 'Emergency services',
    comment: 'If you are in immediate danger or may act on thoughts of harming yourself, call 911 or go to the nearest emergency department.',
    telecom: [{ system: 'phone', value: '911', use: 'work', rank: 1 }],
    availableTime: [{ allDay: true }],
  },
];

/** The tenant's active crisis resources (the defaults' words when it has none left: never an empty message). */
export async function crisisResources(repo: Repository): Promise<HealthcareService[]> {
  const [type, params] = CRISIS_RESOURCES_SEARCH;
  return crisisResourcesIn(await repo.searchParams(type, params));
}

/** The search for the tenant's crisis resources (so that it can join a batch: Repository.searchBatch). */
export const CRISIS_RESOURCES_SEARCH: SearchRequest = [
  'HealthcareService',
  [
    ['service-category', `${CRISIS_RESOURCE_SYSTEM}|crisis-line,${CRISIS_RESOURCE_SYSTEM}|emergency`],
    ['_count', '50'],
  ],
];

/** The active crisis resources among those `CRISIS_RESOURCES_SEARCH` found, in the order a patient sees them. */
export function crisisResourcesIn(bundle: Bundle): HealthcareService[] {
  const found = (bundle.entry ?? []).map((e) => e.resource as HealthcareService).filter((h) => h.active !== false);
  // Crisis lines first, then emergency services; stable by id.
  const kind = (h: HealthcareService) => (h.category?.some((c) => c.coding?.some((x) => x.code === 'crisis-line')) ? 0 : 1);
  return found.sort((a, b) => kind(a) - kind(b) || (a.id ?? '').localeCompare(b.id ?? ''));
}

function contact(t: ContactPoint): string {
  switch (t.system) {
    case 'phone':
      return `call ${t.value}`;
    case 'sms':
      return `text ${t.value}`;
    case 'url':
      return `chat at ${t.value}`;
    default:
      return `${t.system ?? 'contact'} ${t.value}`;
  }
}

/** Plain words a patient app can show as they are. */
export function crisisText(services: HealthcareService[]): string {
  const list = services.length ? services : DEFAULT_CRISIS_RESOURCES;
  const lines = list.map((s) => {
    const ways = (s.telecom ?? []).filter((t) => t.value).sort((a, b) => (a.rank ?? 9) - (b.rank ?? 9)).map(contact);
    return `${s.name ?? 'Crisis support'}: ${ways.join(', ')}.${s.comment ? ` ${s.comment}` : ''}`;
  });
  return [
    'Thank you for your answers. Some of them tell us you may be going through a very hard time, and your care team has been notified. You do not have to wait for us if you need help now:',
    ...lines,
  ].join('\n');
}

/**
 * The patient's crisis-resources Communication for one positive screen (issue 8 "the patient is
 * not left alone"). An app finds it with
 *   GET Communication?based-on=QuestionnaireResponse/<id>&category=<COMMUNICATION_CATEGORY_SYSTEM>|crisis-resources
 * Not security-labelled: it is in the patient's own compartment (subject and recipient).
 */
export function patientCommunication(patient: string, responseId: string, services: HealthcareService[], sent: string): Communication {
  return {
    resourceType: 'Communication',
    status: 'completed',
    category: [
      { coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'crisis-resources', display: 'Crisis resources' }] },
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'alert', display: 'Alert' }] },
    ],
    priority: 'urgent',
    subject: { reference: patient },
    recipient: [{ reference: patient }],
    basedOn: [{ reference: `QuestionnaireResponse/${responseId}` }],
    sent,
    payload: [
      { contentString: crisisText(services) },
      ...services.map((s) => ({ contentReference: { reference: `HealthcareService/${s.id}`, display: s.name } })),
    ],
  };
}

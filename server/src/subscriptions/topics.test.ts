import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadDefinitions } from '../kernel/definitions.ts';
import { RISK_TASK_CODE, TOPIC_BASE, filterAllowed, topicFor } from './topics.ts';

beforeAll(() => loadDefinitions());

const t = (name: string) => {
  const topic = topicFor(`${TOPIC_BASE}/${name}`);
  if (!topic) throw new Error(`no topic ${name}`);
  return topic;
};

describe('curated topic triggers', () => {
  test('risk-task: a Task with the risk code, created or updated; other Tasks never', () => {
    const risk = { resourceType: 'Task', status: 'requested', intent: 'order', code: { coding: [RISK_TASK_CODE] } } as Resource;
    const other = { resourceType: 'Task', status: 'requested', intent: 'order', code: { text: 'call back' } } as Resource;
    expect(t('risk-task').trigger('create', undefined, risk)).toBe(true);
    expect(t('risk-task').trigger('update', risk, { ...risk, status: 'in-progress' } as Resource)).toBe(true);
    expect(t('risk-task').trigger('create', undefined, other)).toBe(false);
  });

  test('questionnaire-response-completed: only the transition to completed', () => {
    const qr = (status: string) => ({ resourceType: 'QuestionnaireResponse', status }) as Resource;
    const topic = t('questionnaire-response-completed');
    expect(topic.trigger('create', undefined, qr('completed'))).toBe(true);
    expect(topic.trigger('update', qr('in-progress'), qr('completed'))).toBe(true);
    expect(topic.trigger('update', qr('completed'), qr('completed'))).toBe(false);
    expect(topic.trigger('create', undefined, qr('in-progress'))).toBe(false);
  });

  test('scored-observation: created, derived from a QuestionnaireResponse, category survey', () => {
    const topic = t('scored-observation');
    const scored = {
      resourceType: 'Observation',
      derivedFrom: [{ reference: 'QuestionnaireResponse/1' }],
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
    } as Resource;
    expect(topic.trigger('create', undefined, scored)).toBe(true);
    expect(topic.trigger('update', scored, scored)).toBe(false);
    expect(topic.trigger('create', undefined, { ...scored, derivedFrom: undefined } as Resource)).toBe(false);
  });

  test('composition-signed: a legal attester appears', () => {
    const topic = t('composition-signed');
    const draft = { resourceType: 'Composition', status: 'preliminary' } as Resource;
    const signed = { ...draft, status: 'final', attester: [{ mode: 'legal' }] } as Resource;
    expect(topic.trigger('update', draft, signed)).toBe(true);
    expect(topic.trigger('update', signed, { ...signed, attester: [{ mode: 'legal' }, { mode: 'professional' }] } as Resource)).toBe(false);
  });

  test('filters: curated topics allow their list; generic topics every search parameter of the type', () => {
    expect(filterAllowed(t('encounter'), 'patient')).toBe(true);
    expect(filterAllowed(t('encounter'), 'reason-code')).toBe(false);
    expect(filterAllowed(t('resource/Encounter'), 'reason-code')).toBe(true);
    expect(topicFor(`${TOPIC_BASE}/resource/Subscription`)).toBeUndefined();
    expect(topicFor(`${TOPIC_BASE}/encounter|1.0`)?.resourceType).toBe('Encounter');
  });
});

import type { PractitionerRole } from '@medplum/fhirtypes';
import { expect, test } from 'vitest';
import { TIMEZONE_EXTENSION } from '../codes.ts';
import { availableAt } from './rota.ts';
import { SHIPPED_RULES, parseRuleSet } from './rules.ts';

const role = (availableTime: PractitionerRole['availableTime'], zone?: string): PractitionerRole => ({
  resourceType: 'PractitionerRole',
  availableTime,
  ...(zone ? { extension: [{ url: TIMEZONE_EXTENSION, valueCode: zone }] } : {}),
});

test('availableTime is read in the role\'s IANA time zone, UTC without one', () => {
  // Monday 2026-01-05 14:30 UTC is 09:30 in New York (EST, UTC-5).
  const monday = new Date('2026-01-05T14:30:00Z');
  const office = [{ daysOfWeek: ['mon' as const], availableStartTime: '09:00:00', availableEndTime: '17:00:00' }];
  expect(availableAt(role(office, 'America/New_York'), monday)).toBe(true);
  expect(availableAt(role(office, 'America/New_York'), new Date('2026-01-05T13:30:00Z'))).toBe(false); // 08:30 in New York
  expect(availableAt(role(office), new Date('2026-01-05T08:30:00Z'))).toBe(false);
  expect(availableAt(role(office), new Date('2026-01-05T09:30:00Z'))).toBe(true);
  expect(availableAt(role([{ daysOfWeek: ['tue'], allDay: true }]), monday)).toBe(false);
  expect(availableAt(role(undefined), monday)).toBe(true);
});

test('an overnight shift belongs to the day it starts', () => {
  const nights = [{ daysOfWeek: ['fri' as const], availableStartTime: '22:00:00', availableEndTime: '07:00:00' }];
  expect(availableAt(role(nights), new Date('2026-01-09T23:00:00Z'))).toBe(true); // Friday 23:00
  expect(availableAt(role(nights), new Date('2026-01-10T06:59:00Z'))).toBe(true); // Saturday 06:59
  expect(availableAt(role(nights), new Date('2026-01-10T07:00:00Z'))).toBe(false);
  expect(availableAt(role(nights), new Date('2026-01-08T23:00:00Z'))).toBe(false); // Thursday
});

test('the shipped rule set parses: deadlines in ms, priorities, one condition each', () => {
  const set = parseRuleSet(SHIPPED_RULES);
  expect(set.canonical).toBe('http://bh-fhir.org/fhir/PlanDefinition/risk-rules|1.0.0');
  const byId = Object.fromEntries(set.rules.map((r) => [r.id, r]));
  expect(byId['asq-acute']).toMatchObject({ priority: 'stat', deadlineMs: 15 * 60_000 });
  expect(byId['phq9-item9']).toMatchObject({ priority: 'urgent', deadlineMs: 60 * 60_000 });
  expect(byId['phq9-severe']).toMatchObject({ priority: 'asap', deadlineMs: 4 * 3_600_000 });
});

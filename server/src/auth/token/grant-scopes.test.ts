import { describe, expect, test } from 'vitest';
import type { OAuthClient } from '../clients.ts';
import { grantScopes } from './grant-scopes.ts';

const client = (scope: string): OAuthClient => ({
  tenant: 't',
  id: 'c',
  name: 'c',
  kind: 'backend-service',
  jwks: undefined,
  jwksUri: undefined,
  scope,
  disabled: false,
  authMethod: 'private_key_jwt',
  redirectUris: [],
  status: 'approved',
  launchUri: undefined,
  organization: undefined,
  purposes: [],
  createdAt: '',
});

describe('grantScopes: the requested scopes within the pre-authorized ones', () => {
  test.each([
    // [registered, requested, granted]
    ['system/*.read', 'system/*.read', 'system/*.read'],
    ['system/*.cruds', 'system/*.read', 'system/*.read'],
    ['system/*.cruds', 'system/Observation.rs system/Patient.write', 'system/Observation.rs system/Patient.write'],
    ['system/*.*', 'system/Observation.cruds', 'system/Observation.cruds'],
    ['system/*.read', 'system/*.rs', 'system/*.rs'],
    ['system/*.read', 'system/Observation.s', 'system/Observation.s'],
    ['system/Observation.rs', 'system/*.read', 'system/Observation.rs'],
    ['system/Observation.rs', 'system/*.cruds', 'system/Observation.rs'],
    ['system/*.rs', 'system/Patient.cruds', 'system/Patient.rs'],
    ['system/Observation.rs system/Patient.r', 'system/*.rs', 'system/Observation.rs system/Patient.r'],
    ['system/*.rs', 'system/Observation.rs system/Patient.rs system/Patient.rs', 'system/Observation.rs system/Patient.rs'],
    // granular (v2 query) constraints
    ['system/*.rs', 'system/Observation.rs?category=survey', 'system/Observation.rs?category=survey'],
    ['system/Observation.rs?category=survey', 'system/Observation.rs', 'system/Observation.rs?category=survey'],
    ['system/Observation.rs?category=survey', 'system/Observation.rs?category=survey', 'system/Observation.rs?category=survey'],
    [
      'system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|survey',
      'system/*.read',
      'system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|survey',
    ],
    ['system/Observation.rs?category=survey', 'system/Observation.rs?status=final', 'system/Observation.rs?status=final&category=survey'],
    // non-system and malformed scopes are dropped, the rest granted
    ['system/*.rs', 'openid patient/*.rs system/Patient.rs launch system/Patient.xyz', 'system/Patient.rs'],
  ])('registered %s, requested %s → %s', (registered, requested, granted) => {
    expect(grantScopes(client(registered), requested)).toBe(granted);
  });

  test.each([
    ['system/Observation.rs', 'system/Patient.rs'],
    ['system/Observation.rs', 'system/Observation.cud'],
    ['system/*.read', 'system/*.write'],
    ['system/*.cruds', 'patient/*.rs user/*.rs'],
    ['system/*.cruds', 'openid fhirUser'],
    ['system/*.cruds', 'system/Observation.sr'],
  ])('registered %s, requested %s → invalid_scope', (registered, requested) => {
    expect(() => grantScopes(client(registered), requested)).toThrow(expect.objectContaining({ error: 'invalid_scope' }));
  });
});

describe('grantScopes: purpose of use', () => {
  const payer = { ...client('system/*.rs'), organization: 'Organization/p', purposes: ['HPAYMT', 'HOPERAT'] };
  test('a registered purpose is granted with the resource scopes', () => {
    expect(grantScopes(payer, 'system/Patient.rs purpose/HPAYMT')).toBe('system/Patient.rs purpose/HPAYMT');
  });
  test.each([
    [payer, 'system/Patient.rs purpose/HRESCH'],
    [payer, 'system/Patient.rs purpose/HPAYMT purpose/HOPERAT'],
    [client('system/*.rs'), 'system/Patient.rs purpose/TREAT'],
  ])('%#: an unregistered purpose or two purposes → invalid_scope, never dropped', (c, requested) => {
    expect(() => grantScopes(c, requested)).toThrow(expect.objectContaining({ error: 'invalid_scope' }));
  });
  test('a purpose alone grants nothing', () => {
    expect(() => grantScopes(payer, 'purpose/HPAYMT')).toThrow(expect.objectContaining({ error: 'invalid_scope' }));
  });
});

import { OperationOutcomeError } from '@medplum/core';
import type { FhirRequest, FhirRouter } from '@medplum/fhir-router';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { outcome, statusOf } from '../kernel/outcome.ts';
import type { Repository } from '../store/repository.ts';
import { parseIfMatch } from './if-match.ts';
import { jsonDepthExceeds } from './json-depth.ts';
import { causeOf, ownError } from './own-errors.ts';
import { guardRoute } from './route-guard.ts';

function dbError(code: string, message: string): pg.DatabaseError {
  const err = new pg.DatabaseError(message, 0, 'error');
  err.code = code;
  return err;
}
const text = (e: OperationOutcomeError) => JSON.stringify(e.outcome);

describe('ownError: only our own words reach a client', () => {
  it('keeps an OperationOutcomeError as it is', () => {
    const err = new OperationOutcomeError(outcome('invalid', 'Patient.gender is not a code'));
    expect(ownError(err)).toBe(err);
  });

  it.each([
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'resourceType')")],
    ['a RangeError', new RangeError('Maximum call stack size exceeded')],
    ['a cancelled statement', dbError('57014', 'canceling statement due to user request')],
    ['a constraint the database enforces', dbError('23503', 'insert or update on table "idx_token" violates foreign key constraint')],
  ])('makes %s a 500 in our words, and keeps the cause for the log only', (_label, err) => {
    const own = ownError(err);
    expect(statusOf(own.outcome)).toBe(500);
    expect(text(own)).not.toContain(err.message);
    expect(text(own)).toMatch(/has been logged/);
    expect(causeOf(own.outcome)).toBe(err);
  });

  it('makes a serialization failure or deadlock that outlived its retries a 409', () => {
    for (const code of ['40001', '40P01']) {
      const own = ownError(dbError(code, 'could not serialize access due to concurrent update'));
      expect(statusOf(own.outcome)).toBe(409);
      expect(text(own)).not.toMatch(/serialize access/);
      expect(text(own)).toMatch(/changed concurrently/);
    }
  });
});

describe('guardRoute', () => {
  const req = (): FhirRequest => ({ method: 'GET', url: 'Patient/1', pathname: '', body: undefined, params: {}, query: {}, headers: {} });
  const throwing = (err: unknown) => guardRoute(async () => Promise.reject(err), 'read', false);
  const repo = (transactional: boolean) => ({ transactional }) as unknown as Repository;

  it('lets a serialization failure inside a transaction reach the transaction, to be retried', async () => {
    const err = dbError('40001', 'could not serialize access due to concurrent update');
    await expect(throwing(err)(req(), repo(true), {} as FhirRouter)).rejects.toBe(err);
  });

  it('outside a transaction, the same failure leaves as a 409 in our words', async () => {
    const err = dbError('40001', 'could not serialize access due to concurrent update');
    const thrown = await throwing(err)(req(), repo(false), {} as FhirRouter).catch((e: OperationOutcomeError) => e);
    expect(statusOf((thrown as OperationOutcomeError).outcome)).toBe(409);
  });
});

describe('parseIfMatch', () => {
  it.each([
    ['W/"3"', '3'],
    ['"3"', '3'],
    [' W/"12" ', '12'],
    ['*', '*'],
  ])('%s names %s', (header, tag) => expect(parseIfMatch(header)).toBe(tag));

  it.each(['garbage', 'W/""', '""', ',', 'W/', 'W/"1", W/"2"', '"1', 'W/"a b"', `"${'9'.repeat(65)}"`, 'x'.repeat(4000)])('refuses %s with a 400', (header) => {
    const err = (() => {
      try {
        parseIfMatch(header);
      } catch (e) {
        return e as OperationOutcomeError;
      }
    })();
    expect(err).toBeInstanceOf(OperationOutcomeError);
    expect(statusOf((err as OperationOutcomeError).outcome)).toBe(400);
    expect(text(err as OperationOutcomeError).length).toBeLessThan(600);
  });
});

describe('jsonDepthExceeds', () => {
  it('counts objects and arrays, not brackets in strings', () => {
    expect(jsonDepthExceeds('{"a":[{"b":[]}]}', 4)).toBe(false);
    expect(jsonDepthExceeds('{"a":[{"b":[[]]}]}', 4)).toBe(true);
    expect(jsonDepthExceeds(`{"a":"${'['.repeat(1000)}\\"${'{'.repeat(1000)}"}`, 1)).toBe(false);
  });

  it('walks ten million levels without the stack', () => {
    expect(jsonDepthExceeds('['.repeat(10_000_000), 100)).toBe(true);
  });
});

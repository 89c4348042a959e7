import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Bundle } from '@medplum/fhirtypes';
import { beforeAll, expect, test } from 'vitest';
import { loadDefinitions } from '../../kernel/definitions.ts';
import { validate } from '../../store/validate.ts';
import { plainEnvelope } from './batch.ts';

// An envelope that skips the validator must be one the validator accepts; anything unusual must
// still reach it (its answer names the element at fault).
beforeAll(() => loadDefinitions());

const FIXTURE = join(import.meta.dirname, '../../../../test/fixtures/synthea-r4-8-bundles.ndjson.gz');
const envelopeOf = (b: Bundle): Bundle => ({ ...b, entry: (b.entry ?? []).map(({ resource: _r, ...rest }) => rest) });

const UUID = 'urn:uuid:0a1B2c3d-0000-4000-8000-00000000abcd';
const plain = (request: Record<string, unknown>, fullUrl: string | undefined = UUID, type = 'transaction'): Bundle =>
  ({ resourceType: 'Bundle', type, entry: [{ ...(fullUrl ? { fullUrl } : {}), request }] }) as unknown as Bundle;

test('the Synthea bundles and every plain shape are envelopes the validator accepts', () => {
  const bundles = gunzipSync(readFileSync(FIXTURE))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Bundle);
  const shapes = [
    ...bundles,
    ...['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'].map((method) => plain({ method, url: 'Patient/1' })),
    plain({ method: 'PUT', url: 'Patient?identifier=http://x|a&_id=%20b' }, undefined, 'batch'),
    plain({ method: 'POST', url: 'Observation' }, undefined),
  ];
  for (const bundle of shapes) {
    expect(plainEnvelope(bundle), JSON.stringify(bundle.entry?.[0]?.request)).toBe(true);
    expect(() => validate(envelopeOf(bundle))).not.toThrow();
  }
});

test('anything else goes to the validator', () => {
  const others: Bundle[] = [
    plain({ method: 'FOO', url: 'Patient' }),
    plain({ method: 'post', url: 'Patient' }),
    plain({ method: 'POST', url: 'Pa tient' }),
    plain({ method: 'POST', url: '' }),
    plain({ method: 'POST', url: 'Patient', ifNoneExist: 'identifier=a' }),
    plain({ method: 'POST', url: 'Patient' }, 'http://example.org/Patient/1/_history/1'),
    plain({ method: 'POST', url: 'Patient' }, 'urn:uuid:not-a-uuid'),
    plain({ method: 'POST', url: 'Patient' }, UUID, 'collection'),
    { ...plain({ method: 'POST', url: 'Patient' }), total: 1 } as Bundle,
    { ...plain({ method: 'POST', url: 'Patient' }), entry: [{ fullUrl: UUID, request: { method: 'POST', url: 'Patient' }, response: { status: '201' } }] } as Bundle,
  ];
  for (const bundle of others) expect(plainEnvelope(bundle), JSON.stringify(bundle)).toBe(false);
});

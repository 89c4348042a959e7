import type { Bundle, Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { REDISCLOSURE_NOTICE, discloseAll, withRedisclosureNotice } from '../../server/src/clinical/part2/notice.ts';
import { ACT_CODE, NOTICE_URL, PART2, R } from './fixture.ts';

// The §2.32(a)(1) notice as a value: its text, the shape it is attached in, idempotence, and that
// the record given in is never changed (it may be shared). The paths that attach it: matrix.test.ts.
const part2: Observation = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' }, meta: { versionId: '1', security: [PART2, R] } };

describe('the redisclosure notice', () => {
  test('is 42 CFR §2.32(a)(1) Statement 1 of the 2024 final rule', () => {
    expect(REDISCLOSURE_NOTICE).toMatch(/^This record which has been disclosed to you is protected by Federal confidentiality rules \(42 CFR part 2\)\./);
    expect(REDISCLOSURE_NOTICE).toMatch(/except as provided at 42 CFR 2\.12\(c\)\(5\) or as authorized by a court in accordance with 42 CFR 2\.64 or 2\.65/);
    expect(REDISCLOSURE_NOTICE).toMatch(/\(iii\) You have received the record from a covered entity or business associate as permitted by 45 CFR part 164, subparts A and E\./);
    expect(REDISCLOSURE_NOTICE).toMatch(/NOT sufficient to meet the required elements of written consent to further use or redisclose the record \(see 42 CFR 2\.31\)\.$/);
  });

  test('goes into meta.extension with the NORDSCLCD refrain, once, on a copy', () => {
    const once = withRedisclosureNotice(part2);
    const twice = withRedisclosureNotice(once);
    expect(twice).toBe(once);
    expect(once.meta?.extension).toEqual([{ url: NOTICE_URL, valueString: REDISCLOSURE_NOTICE }]);
    expect(once.meta?.security?.filter((l) => l.system === ACT_CODE && l.code === 'NORDSCLCD')).toHaveLength(1);
    expect(once.meta?.versionId).toBe('1');
    expect(part2.meta?.extension).toBeUndefined();
    expect(part2.meta?.security).toHaveLength(2);
  });

  test('discloseAll marks the Part 2 resources of a Bundle and leaves the others as they are', () => {
    const plain: Observation = { resourceType: 'Observation', id: 'p', status: 'final', code: { text: 'y' } };
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: plain }, { resource: part2 }] };
    const out = discloseAll(bundle);
    expect(out.entry?.[0].resource).toBe(plain);
    expect(out.entry?.[1].resource?.meta?.extension?.[0]?.url).toBe(NOTICE_URL);
    expect(discloseAll({ ...bundle, entry: [{ resource: plain }] }).entry?.[0].resource).toBe(plain);
  });
});

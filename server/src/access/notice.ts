import type { Coding, Resource } from '@medplum/fhirtypes';
import { ACT_CODE, PART2 } from './labels.ts';

/**
 * The 42 CFR Part 2 redisclosure notice that travels with every Part 2 record disclosed outside
 * the treating clinic (issue 13 item 4). It lives here, in access/, because both the REST layer
 * (fhir/http.ts) and subscription delivery (subscriptions/events.ts) attach it and subscriptions/
 * sits beside clinical/, not above it; `clinical/part2/notice.ts` re-exports it under the name
 * the shared contract gives.
 */

/**
 * 42 CFR §2.32(a)(1), "Statement 1", as amended by the 2024 final rule (89 FR 12472, Feb. 16,
 * 2024; https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2/subpart-C/section-2.32).
 */
export const REDISCLOSURE_NOTICE =
  'This record which has been disclosed to you is protected by Federal confidentiality rules (42 CFR part 2). ' +
  'These rules prohibit you from using or disclosing this record, or testimony that describes the information contained in this record, ' +
  'in any civil, criminal, administrative, or legislative proceedings by any Federal, State, or local authority, against the patient, ' +
  'unless authorized by the consent of the patient, except as provided at 42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR 2.64 or 2.65. ' +
  'In addition, the Federal rules prohibit you from making any other use or disclosure of this record unless at least one of the following applies: ' +
  '(i) Further use or disclosure is expressly permitted by the written consent of the individual whose information is being disclosed in this record or as otherwise permitted by 42 CFR part 2. ' +
  '(ii) You are a covered entity or business associate and have received the record for treatment, payment, or health care operations, or ' +
  '(iii) You have received the record from a covered entity or business associate as permitted by 45 CFR part 164, subparts A and E. ' +
  'A general authorization for the release of medical or other information is NOT sufficient to meet the required elements of written consent to further use or redisclose the record (see 42 CFR 2.31).';

export const REDISCLOSURE_NOTICE_URL = 'http://bh-fhir.org/fhir/StructureDefinition/redisclosure-notice';

/** DS4P refrain policy "prohibit redisclosure without consent directive" (v3-ActCode NORDSCLCD). */
export const NO_REDISCLOSURE: Coding = { system: ACT_CODE, code: 'NORDSCLCD' };

/** Whether `resource` carries the 42CFRPart2 policy label. */
export function isPart2(resource: Resource | undefined): boolean {
  return Boolean(resource?.meta?.security?.some((s) => s.system === PART2.system && s.code === PART2.code));
}

/**
 * A copy of `resource` carrying the notice as `meta.extension` (valueString) and the refrain
 * NORDSCLCD in `meta.security`. Idempotent; the input is never changed (it may be a cached or
 * shared object). Meant for Part 2-labelled resources; see `discloseAll` for whole bodies.
 */
export function withRedisclosureNotice<T extends Resource>(resource: T): T {
  const meta = resource.meta ?? {};
  const hasNotice = meta.extension?.some((e) => e.url === REDISCLOSURE_NOTICE_URL && e.valueString === REDISCLOSURE_NOTICE);
  const hasRefrain = meta.security?.some((s) => s.system === NO_REDISCLOSURE.system && s.code === NO_REDISCLOSURE.code);
  if (hasNotice && hasRefrain) return resource;
  const extension = [...(meta.extension ?? []).filter((e) => e.url !== REDISCLOSURE_NOTICE_URL), { url: REDISCLOSURE_NOTICE_URL, valueString: REDISCLOSURE_NOTICE }];
  const security = hasRefrain ? meta.security : [...(meta.security ?? []), { ...NO_REDISCLOSURE }];
  return { ...resource, meta: { ...meta, extension, security } };
}

/**
 * A response body as disclosed: every Part 2-labelled resource in it (the body itself, Bundle
 * entries, and the resources in a nested Bundle of a transaction response) with the notice.
 * Returns the same object when nothing needed it.
 */
export function discloseAll<T>(body: T): T {
  const r = body as unknown as Resource | undefined;
  if (!r || typeof r !== 'object' || typeof r.resourceType !== 'string') return body;
  if (r.resourceType === 'Bundle') {
    const entries = r.entry;
    if (!entries?.length) return body;
    let changed = false;
    const entry = entries.map((e) => {
      if (!e.resource) return e;
      const next = discloseAll(e.resource);
      if (next === e.resource) return e;
      changed = true;
      return { ...e, resource: next };
    });
    return (changed ? { ...r, entry } : body) as T;
  }
  return (isPart2(r) ? withRedisclosureNotice(r) : body) as T;
}

import type { Resource } from '@medplum/fhirtypes';
import { ACT_CODE, PART2 } from '../../access/labels.ts';

/**
 * The 42 CFR §2.32(a)(1) notice that accompanies each disclosure of Part 2 records made with the
 * patient's consent (42 CFR Part 2 as amended, 89 FR 12472, Feb. 16, 2024), carried by a disclosed
 * Part 2-labelled resource as meta.extension (issue 13, shared contract).
 */
export const REDISCLOSURE_NOTICE_URL = 'http://bh-fhir.org/fhir/StructureDefinition/redisclosure-notice';

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

/** Whether the resource carries the 42CFRPart2 policy label (v3-ActCode). */
export function isPart2(resource: Resource): boolean {
  return Boolean(resource.meta?.security?.some((c) => c.system === ACT_CODE && c.code === PART2.code));
}

/** The resource with the notice in meta.extension when it is Part 2-labelled; others unchanged. */
export function withRedisclosureNotice<T extends Resource>(resource: T): T {
  if (!isPart2(resource) || resource.meta?.extension?.some((e) => e.url === REDISCLOSURE_NOTICE_URL)) return resource;
  return { ...resource, meta: { ...resource.meta, extension: [...(resource.meta?.extension ?? []), { url: REDISCLOSURE_NOTICE_URL, valueString: REDISCLOSURE_NOTICE }] } };
}

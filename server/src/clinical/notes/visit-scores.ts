import type { Composition, Reference } from '@medplum/fhirtypes';
import type { Repository } from '../../store/repository.ts';
import { profileUrl } from '../codes.ts';
import { SECTION } from './note-codes.ts';

/**
 * A note's Assessment section (LOINC 51848-0) lists the visit's scored totals as section.entry:
 * on every write of an unsigned note with an encounter, the encounter's scored Observations
 * (profile assessment-score, counted statuses, codes.ts) that the writer can see are added to the
 * entries the author put there. Nothing is removed, so an author's own choice of entries stays.
 */
export async function withVisitScores(repo: Repository, note: Composition): Promise<Composition | undefined> {
  const encounter = note.encounter?.reference;
  const i = (note.section ?? []).findIndex((s) => s.code?.coding?.some((c) => c.system === SECTION.assessment.system && c.code === SECTION.assessment.code));
  if (!encounter?.startsWith('Encounter/') || i < 0) return undefined;
  const found = await repo.searchParams('Observation', [
    ['encounter', encounter],
    ['_profile', profileUrl('assessment-score')],
    ['status', 'final,amended,corrected'],
    ['_sort', 'date'],
    ['_count', '50'],
  ]);
  const section = (note.section ?? [])[i];
  const have = new Set((section.entry ?? []).map((e) => e.reference));
  const added: Reference[] = (found.entry ?? []).map((e) => ({ reference: `Observation/${e.resource?.id}` })).filter((r) => !have.has(r.reference));
  if (added.length === 0) return undefined;
  const sections = [...(note.section ?? [])];
  sections[i] = { ...section, entry: [...(section.entry ?? []), ...added] };
  return { ...note, section: sections };
}

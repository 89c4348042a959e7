import type { Composition, CompositionSection, DocumentReference } from '@medplum/fhirtypes';
import { fail } from '../../kernel/outcome.ts';
import type { Repository } from '../../store/repository.ts';
import { PSYCHOTHERAPY_SECTION, PSYTHPN, RESTRICTED } from './note-codes.ts';
import { renderSection } from './render.ts';

/**
 * Psychotherapy notes are kept apart from the progress note (HIPAA 45 CFR 164.501 and 164.508(a)(2):
 * notes "separated from the rest of the individual's medical record", disclosed only with specific
 * authorization). A note written with a psychotherapy-note section (code
 * PSYCHOTHERAPY_SECTION) is split on the server before it is stored: the section becomes its own
 * DocumentReference, labelled meta.security PSYTHPN (v3-ActCode) and R (v3-Confidentiality),
 * linked to the note by context.related and to the visit by context.encounter (one per note).
 * The note itself never holds it. The access layer shows PSYTHPN resources to the author and supervisors only.
 */
export function isPsychotherapySection(s: CompositionSection): boolean {
  return Boolean(s.code?.coding?.some((c) => c.system === PSYCHOTHERAPY_SECTION.system && c.code === PSYCHOTHERAPY_SECTION.code));
}

/**
 * Returns the note without psychotherapy sections, having stored them in the note's psychotherapy
 * DocumentReference: created on the first write that carries such a section, replaced (a new
 * version of the same DocumentReference) by later writes of the unsigned note that carry one.
 */
export async function splitPsychotherapy(repo: Repository, note: Composition): Promise<Composition | undefined> {
  const moved = (note.section ?? []).filter(isPsychotherapySection);
  if (moved.length === 0) return undefined;
  const sys = await repo.asServer({ reason: 'psychotherapy note split' });
  // The client's XHTML is reduced to escaped text, as for the rendered note: a text/html document
  // the server makes must never carry a client's markup, links or scripts.
  const body = moved.map((s) => renderSection({ ...s, title: s.title ?? 'Psychotherapy note' }, 2)).join('\n');
  const html = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Psychotherapy note</title></head><body>${body}</body></html>`;
  const existing = await sys.searchParams('DocumentReference', [
    ['related', `Composition/${note.id}`],
    ['type', `${PSYCHOTHERAPY_SECTION.system}|${PSYCHOTHERAPY_SECTION.code}`],
    ['_count', '1'],
  ]);
  const previous = existing.entry?.[0]?.resource as DocumentReference | undefined;
  // Replacing it changes a psychotherapy note, which the server then writes with tenant-wide
  // access: the caller must be someone the access decision lets read it (its author, a
  // supervisor), not merely someone who may edit the progress note it belongs to.
  if (previous && !(await repo.readResource('DocumentReference', previous.id as string).then(() => true, () => false))) {
    fail('forbidden', `The psychotherapy note of Composition/${note.id} may be changed only by its author or a supervisor`, 'Composition.section');
  }
  const doc: DocumentReference = {
    resourceType: 'DocumentReference',
    ...(previous ? { id: previous.id } : {}),
    meta: { security: [PSYTHPN, RESTRICTED] },
    status: 'current',
    docStatus: note.status === 'final' ? 'final' : 'preliminary',
    type: { coding: [PSYCHOTHERAPY_SECTION], text: 'Psychotherapy note' },
    subject: note.subject as DocumentReference['subject'],
    date: new Date().toISOString(),
    author: note.author,
    securityLabel: [{ coding: [PSYTHPN] }, { coding: [RESTRICTED] }],
    description: 'Psychotherapy note',
    content: [{ attachment: { contentType: 'text/html', data: Buffer.from(html, 'utf8').toString('base64'), title: 'Psychotherapy note' } }],
    context: {
      ...(note.encounter ? { encounter: [note.encounter] } : {}),
      related: [{ reference: `Composition/${note.id}` }],
    },
  };
  if (previous) await sys.updateResource<DocumentReference>(doc);
  else await sys.createResource<DocumentReference>(doc);
  await sys.flush();
  return { ...note, section: (note.section ?? []).filter((s) => !isPsychotherapySection(s)) };
}

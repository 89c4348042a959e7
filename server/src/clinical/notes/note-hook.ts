import type { Composition, Provenance } from '@medplum/fhirtypes';
import { fail } from '../../kernel/outcome.ts';
import type { WriteHook } from '../../store/hooks.ts';
import { SIGNATURE_TYPE } from './note-codes.ts';
import { splitPsychotherapy } from './psychotherapy.ts';
import { withVisitScores } from './visit-scores.ts';

/**
 * The write rules of clinical notes (Compositions):
 * - A signed note is locked. Once its author has signed (an attester with mode legal, written
 *   only by $sign), update, patch and delete are refused with 409; changes come as addenda: a new
 *   Composition with relatesTo { code: appends, targetReference: the note }
 *   (https://hl7.org/fhir/R4/composition.html#addendum: "a new document that appends").
 *   Only the server's own $sign / $countersign writes pass (see `allowSignatureWrite`).
 * - Attesters are written by $sign / $countersign only: a client write that adds one is refused
 *   (422), so a note cannot claim a signature it does not have.
 * - A psychotherapy-note section is moved out of the note before it is stored (./psychotherapy.ts).
 * - The Assessment section lists the visit's scored Observations (./visit-scores.ts).
 * - A Provenance holding a note's signature is as permanent as the signature: update, patch and
 *   delete are refused with 409.
 */
const signatureWrites = new WeakSet<object>();

/** Marks a Composition object as written by $sign / $countersign (checked by identity, never from a request). */
export function allowSignatureWrite<T extends object>(c: T): T {
  signatureWrites.add(c);
  return c;
}

export function isSigned(c: Composition | undefined): boolean {
  return Boolean(c && (c.status === 'final' || c.status === 'amended') && c.attester?.some((a) => a.mode === 'legal'));
}

function holdsNoteSignature(p: Provenance): boolean {
  return Boolean(
    p.target?.some((t) => t.reference?.startsWith('Composition/')) && p.signature?.some((sig) => sig.type?.some((c) => c.system === SIGNATURE_TYPE))
  );
}

export const noteHook: WriteHook = {
  name: 'clinical-notes',
  types: ['Composition', 'Provenance'],
  async beforeWrite({ repo, method, resourceType, id, before, after }) {
    if (resourceType === 'Provenance') {
      if (before && holdsNoteSignature(before as Provenance)) {
        fail('conflict', `Provenance/${id} holds a note's signature and cannot be ${method === 'delete' ? 'deleted' : 'changed'}`, 'Provenance.signature');
      }
      return;
    }
    if (after && signatureWrites.has(after)) return;
    const prior = before as Composition | undefined;
    if (isSigned(prior)) {
      fail('conflict', `Composition/${id} is signed and locked: it cannot be ${method === 'delete' ? 'deleted' : 'changed'}; write an addendum (a new Composition with relatesTo.code = appends and targetReference Composition/${id})`, 'Composition.status');
    }
    if (!after) return;
    const note = after as Composition;
    const known = new Set((prior?.attester ?? []).map((a) => JSON.stringify(a)));
    if ((note.attester ?? []).some((a) => !known.has(JSON.stringify(a)))) {
      fail('unprocessable', 'Composition.attester is written by the server when a note is signed: use POST Composition/{id}/$sign or $countersign', 'Composition.attester');
    }
    const split = (await splitPsychotherapy(repo, note)) ?? note;
    return (await withVisitScores(repo, split)) ?? (split === note ? undefined : split);
  },
  // Present so that a note's write and the psychotherapy DocumentReference split from it commit
  // or roll back together: the repository opens a transaction for types with an afterWrite hook.
  async afterWrite() {},
};

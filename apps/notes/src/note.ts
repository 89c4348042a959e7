import type { Composition, CompositionSection, Reference } from '@medplum/fhirtypes';

/**
 * The SOAP progress note as the server models it (server/src/clinical/notes/README.md, profile
 * soap-note): a Composition of type LOINC 11506-3 with the four SOAP sections, tied to its
 * Encounter. Apps never import server code, so the codes are repeated here from
 * server/src/clinical/notes/note-codes.ts.
 */
const LOINC = 'http://loinc.org';
export const SOAP_NOTE_PROFILE = 'http://bh-fhir.org/fhir/StructureDefinition/soap-note';
export const PROGRESS_NOTE = { system: LOINC, code: '11506-3', display: 'Progress note' };

export type SectionKey = 'subjective' | 'objective' | 'assessment' | 'plan' | 'psychotherapy';
export const SOAP_KEYS: SectionKey[] = ['subjective', 'objective', 'assessment', 'plan'];

export const SECTION: Record<SectionKey, { system: string; code: string; display: string; title: string; hint: string }> = {
  subjective: { system: LOINC, code: '61150-9', display: 'Subjective Narrative', title: 'Subjective', hint: 'What the patient reports: concerns, mood, sleep, events since the last visit.' },
  objective: { system: LOINC, code: '61149-1', display: 'Objective Narrative', title: 'Objective', hint: 'What you observed: presentation, affect, mental status, today\u2019s scores.' },
  assessment: { system: LOINC, code: '51848-0', display: 'Assessment note', title: 'Assessment', hint: 'Your clinical impression and progress against the goals. The server links this visit\u2019s scores here when you save.' },
  plan: { system: LOINC, code: '18776-5', display: 'Plan of care note', title: 'Plan', hint: 'Next steps, interventions, next visit. The care plan and its goals are linked here.' },
  // 45 CFR 164.501 psychotherapy notes: the server moves this section out of the note into its own
  // restricted DocumentReference (server/src/clinical/notes/psychotherapy.ts).
  psychotherapy: {
    system: 'http://bh-fhir.org/fhir/CodeSystem/note-section',
    code: 'psychotherapy-note',
    display: 'Psychotherapy note',
    title: 'Psychotherapy notes',
    hint: 'Process notes kept apart from the record. Only you and supervisors can read them; they are not part of the progress note.',
  },
};

export type SectionTexts = Record<SectionKey, string>;
export const emptyTexts = (): SectionTexts => ({ subjective: '', objective: '', assessment: '', plan: '', psychotherapy: '' });

const XHTML = 'http://www.w3.org/1999/xhtml';
/** Narrative status for a section the author has not written yet (R4 NarrativeStatus "empty"). */
const NOT_WRITTEN = 'Not written yet.';

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Plain text → XHTML narrative: one paragraph per line (R4 narrative rules: a div with content). */
export function textToDiv(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const body = lines.length ? lines.map((l) => (l ? `<p>${escapeXml(l)}</p>` : '<br/>')).join('') : '';
  return `<div xmlns="${XHTML}">${body}</div>`;
}

/** XHTML narrative → the plain text the author typed (paragraphs → lines). */
export function divToText(div: string | undefined): string {
  if (!div) return '';
  const doc = new DOMParser().parseFromString(div, 'text/html');
  const root = doc.body.firstElementChild ?? doc.body;
  const lines: string[] = [];
  for (const node of Array.from(root.childNodes)) {
    if (node.nodeName === 'BR') lines.push('');
    else lines.push((node.textContent ?? '').trim());
  }
  return lines.join('\n').replace(/\n+$/, '');
}

export function sectionKeyOf(s: CompositionSection): SectionKey | undefined {
  return (Object.keys(SECTION) as SectionKey[]).find((k) => s.code?.coding?.some((c) => c.system === SECTION[k].system && c.code === SECTION[k].code));
}

/** The text of a section of a stored note (empty when it was saved unwritten). */
export function sectionText(s: CompositionSection | undefined): string {
  if (!s?.text || s.text.status === 'empty') return '';
  return divToText(s.text.div);
}

export function textsOf(note: Composition): SectionTexts {
  const t = emptyTexts();
  for (const s of note.section ?? []) {
    const k = sectionKeyOf(s);
    if (k) t[k] = sectionText(s);
  }
  return t;
}

function section(key: SectionKey, text: string, entry?: Reference[]): CompositionSection {
  const c = SECTION[key];
  const written = text.trim().length > 0;
  return {
    title: c.title,
    code: { coding: [{ system: c.system, code: c.code, display: c.display }] },
    // A draft may leave a section unwritten; the profile still needs all four sections and R4
    // needs each to carry text or entries, so an unwritten one says so (status "empty").
    text: written ? { status: 'additional', div: textToDiv(text) } : { status: 'empty', div: textToDiv(NOT_WRITTEN) },
    ...(entry?.length ? { entry } : {}),
  };
}

export interface NoteInput {
  /** The stored note being edited (keeps id, version, other entries). */
  existing?: Composition;
  patientId: string;
  encounterId: string;
  author: string;
  texts: SectionTexts;
  /** CarePlan and Goals listed in the Plan section (notes README: "Links"). */
  planEntries: Reference[];
}

/** The progress note to save as a draft (status preliminary). */
export function buildNote(input: NoteInput): Composition {
  const prior = input.existing;
  const priorEntries = (key: SectionKey): Reference[] =>
    prior?.section?.find((s) => sectionKeyOf(s) === key)?.entry ?? [];
  const merge = (a: Reference[], b: Reference[]): Reference[] => {
    const seen = new Set<string>();
    return [...a, ...b].filter((r) => r.reference && !seen.has(r.reference) && seen.add(r.reference));
  };
  const sections = SOAP_KEYS.map((k) => section(k, input.texts[k], k === 'plan' ? merge(priorEntries(k), input.planEntries) : priorEntries(k)));
  if (input.texts.psychotherapy.trim()) sections.push(section('psychotherapy', input.texts.psychotherapy));
  return {
    ...(prior ?? {}),
    resourceType: 'Composition',
    meta: { ...(prior?.meta ?? {}), profile: [SOAP_NOTE_PROFILE] },
    status: 'preliminary',
    type: { coding: [PROGRESS_NOTE], text: 'Progress note' },
    subject: { reference: `Patient/${input.patientId}` },
    encounter: { reference: `Encounter/${input.encounterId}` },
    date: new Date().toISOString(),
    author: prior?.author?.length ? prior.author : [{ reference: input.author }],
    title: 'Progress note',
    section: sections,
  };
}

/**
 * An addendum to a signed note (https://hl7.org/fhir/R4/composition.html#addendum and the notes
 * README): a new Composition that `appends` to the note, carrying the section it adds to.
 */
export function buildAddendum(input: { note: Composition; author: string; section: SectionKey; text: string }): Composition {
  const { note } = input;
  return {
    resourceType: 'Composition',
    meta: { profile: [SOAP_NOTE_PROFILE] },
    status: 'preliminary',
    type: note.type ?? { coding: [PROGRESS_NOTE] },
    subject: note.subject,
    encounter: note.encounter,
    date: new Date().toISOString(),
    author: [{ reference: input.author }],
    title: `Addendum to progress note`,
    relatesTo: [{ code: 'appends', targetReference: { reference: `Composition/${note.id}` } }],
    section: [section(input.section, input.text)],
  };
}

export const isAddendum = (c: Composition): boolean => Boolean(c.relatesTo?.some((r) => r.code === 'appends'));
export const appendsTo = (c: Composition): string | undefined =>
  c.relatesTo?.find((r) => r.code === 'appends')?.targetReference?.reference;
export const isSigned = (c: Composition): boolean =>
  (c.status === 'final' || c.status === 'amended') && Boolean(c.attester?.some((a) => a.mode === 'legal'));
export const countersigners = (c: Composition): string[] =>
  (c.attester ?? []).filter((a) => a.mode === 'professional').map((a) => a.party?.reference ?? '').filter(Boolean);
export const signedAt = (c: Composition): string | undefined => c.attester?.find((a) => a.mode === 'legal')?.time;

/** Which section an OperationOutcome expression names: `Composition.section[2]...` → that section's key. */
export function sectionOfExpression(expression: string | undefined, note: Composition | undefined): SectionKey | undefined {
  const m = expression?.match(/^Composition\.section\[(\d+)\]/);
  if (!m || !note?.section) return undefined;
  const s = note.section[Number(m[1])];
  return s ? sectionKeyOf(s) : undefined;
}

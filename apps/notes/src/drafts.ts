import type { SectionTexts } from './note.ts';

/**
 * What the clinician typed, kept in this browser until the server has it: a session that ends
 * (expired token, revoked grant) sends them through sign-in again, and the text is still here
 * when they come back. Keys are prefixed `bh:notes:` (all apps share this origin's storage).
 */
export interface LocalDraft {
  texts: SectionTexts;
  /** The stored draft this text belongs to, when it was saved once. */
  noteId?: string;
  at: string;
}

const draftKey = (patientId: string, encounterId: string): string => `bh:notes:draft:${patientId}:${encounterId}`;
const visitKey = (patientId: string): string => `bh:notes:visit:${patientId}`;
const addendumKey = (noteId: string): string => `bh:notes:addendum:${noteId}`;

function read<T>(key: string): T | undefined {
  try {
    const raw = localStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : undefined;
  } catch {
    return undefined;
  }
}

function write(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the text stays on screen; nothing else to do.
  }
}

export const loadDraft = (patientId: string, encounterId: string): LocalDraft | undefined => read<LocalDraft>(draftKey(patientId, encounterId));
export const keepDraft = (patientId: string, encounterId: string, draft: LocalDraft): void => write(draftKey(patientId, encounterId), draft);
export const dropDraft = (patientId: string, encounterId: string): void => localStorage.removeItem(draftKey(patientId, encounterId));

/** The visit last worked on for a patient (a standalone launch after sign-in carries no encounter). */
export const lastVisit = (patientId: string): string | undefined => read<string>(visitKey(patientId));
export const rememberVisit = (patientId: string, encounterId: string): void => write(visitKey(patientId), encounterId);

export const loadAddendum = (noteId: string): { section: string; text: string } | undefined => read(addendumKey(noteId));
export const keepAddendum = (noteId: string, value: { section: string; text: string }): void => write(addendumKey(noteId), value);
export const dropAddendum = (noteId: string): void => localStorage.removeItem(addendumKey(noteId));

import type { Answers } from './questionnaire.ts';

/**
 * Answers kept on this device only while they could not reach the server (the session ended, or
 * the network is down), so nothing typed is lost across a sign-in. Written only then, removed as
 * soon as the server has them, and ignored after a day: answers to a mental-health questionnaire
 * are not left lying in a browser. Key: `bh:intake:draft:<person>:<patient>`.
 */
export interface LocalDraft {
  questionnaire: string;
  /** The server's in-progress response, when there was one. */
  responseId?: string;
  taskId?: string;
  answers: Answers;
  savedAt: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const key = (person: string, patient: string): string => `bh:intake:draft:${person}:${patient}`;

export function keepDraft(person: string, patient: string, draft: Omit<LocalDraft, 'savedAt'>): void {
  try {
    localStorage.setItem(key(person, patient), JSON.stringify({ ...draft, savedAt: Date.now() }));
  } catch {
    // Storage full or disabled: the answers stay on screen; nothing else to do.
  }
}

export function loadDraft(person: string, patient: string): LocalDraft | undefined {
  try {
    const raw = localStorage.getItem(key(person, patient));
    if (!raw) return undefined;
    const d = JSON.parse(raw) as LocalDraft;
    if (!d.questionnaire || typeof d.answers !== 'object' || Date.now() - d.savedAt > DAY_MS) {
      localStorage.removeItem(key(person, patient));
      return undefined;
    }
    return d;
  } catch {
    return undefined;
  }
}

export function dropDraft(person: string, patient: string): void {
  try {
    localStorage.removeItem(key(person, patient));
  } catch {
    // nothing kept
  }
}

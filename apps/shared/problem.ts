import type { OperationOutcome } from '@medplum/fhirtypes';
import { SessionExpired } from './smart.ts';

/**
 * What went wrong, in words a person can act on. A refused save names the item the server
 * named (OperationOutcome.issue.expression), so a form can show it next to that item.
 */
export interface Problem {
  kind: 'refused' | 'session' | 'network' | 'not-found' | 'forbidden' | 'other';
  message: string;
  /** Per issue: its text and the FHIRPath it names (e.g. `QuestionnaireResponse.item[2]`). */
  issues: { message: string; expression?: string }[];
}

function outcomeOf(e: unknown): OperationOutcome | undefined {
  const o = (e as { outcome?: OperationOutcome })?.outcome;
  return o?.resourceType === 'OperationOutcome' ? o : undefined;
}

export function problemFrom(e: unknown): Problem {
  if (e instanceof SessionExpired) return { kind: 'session', message: e.message, issues: [] };
  if (e instanceof TypeError) {
    return { kind: 'network', message: 'Cannot reach the server. Check your connection; we will try again.', issues: [] };
  }
  const outcome = outcomeOf(e);
  if (outcome) {
    const issues = (outcome.issue ?? []).map((i) => ({
      message: i.details?.text ?? i.diagnostics ?? 'The server refused this.',
      expression: i.expression?.[0],
    }));
    const code = outcome.issue?.[0]?.code;
    const kind = code === 'not-found' ? 'not-found' : code === 'forbidden' || code === 'security' ? 'forbidden' : 'refused';
    const message = kind === 'forbidden' ? 'You do not have access to this.' : kind === 'not-found' ? 'This record was not found.' : issues[0]?.message ?? 'The server refused this.';
    return { kind, message, issues };
  }
  return { kind: 'other', message: 'Something went wrong. Please try again.', issues: [] };
}

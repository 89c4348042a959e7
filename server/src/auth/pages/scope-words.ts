import { parseScope } from '../../access/scopes.ts';

/**
 * Scopes in plain words for the consent screen (SMART: the person should understand what they
 * allow). The scope string is kept beside the words for people who know what it means.
 */
const SPECIAL: Record<string, string> = {
  openid: 'Know who you are (your sign-in identity)',
  fhirUser: 'Know which person record you are (your FHIR user)',
  profile: 'See your name and profile',
  launch: 'Open with the patient or visit selected in the EHR',
  'launch/patient': 'Know which patient is selected',
  'launch/encounter': 'Know which visit is selected',
  offline_access: 'Keep access after you close the app, until you revoke it',
  online_access: 'Keep access while you stay signed in',
  'purpose/TREAT': 'Use records for treating your patients, including restricted ones (substance-use treatment under 42 CFR Part 2, records marked restricted, your own psychotherapy notes)',
};

const VERBS: Record<string, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

export function scopeInWords(scope: string): string {
  if (SPECIAL[scope]) return `${SPECIAL[scope]} (${scope})`;
  const r = parseScope(scope);
  if (!r) return scope;
  const verbs = [...'cruds'].filter((p) => r.permissions.has(p as never)).map((p) => VERBS[p]);
  const list = verbs.length > 1 ? `${verbs.slice(0, -1).join(', ')} and ${verbs[verbs.length - 1]}` : verbs[0];
  const what = r.resourceType === '*' ? 'all kinds of records' : `${r.resourceType} records`;
  const whose = r.context === 'patient' ? ' of the selected patient' : r.context === 'user' ? ' you may see' : '';
  const filter = r.query ? ` (only where ${r.query.map(([k, v]) => `${k} is ${v}`).join(', ')})` : '';
  const sentence = `${list} ${what}${whose}${filter}`;
  return `${sentence[0].toUpperCase()}${sentence.slice(1)} (${scope})`;
}

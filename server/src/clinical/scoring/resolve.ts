import type { Questionnaire } from '@medplum/fhirtypes';
import { isPlatformQuestionnaireUrl } from '../../access/platform.ts';
import { fail } from '../../kernel/outcome.ts';
import type { Repository } from '../../store/repository.ts';
import { instrumentByUrl } from './definitions.ts';

/**
 * Finds the Questionnaire a response names (QuestionnaireResponse.questionnaire, a canonical
 * `url|version`). The platform's instruments (urls under access/platform.ts
 * PLATFORM_QUESTIONNAIRE_BASE) resolve to the definitions the server ships
 * (questionnaires/*.json), never to a stored copy: their totals and risk flags cannot be changed
 * by data in the tenant. Other urls are the tenant's own instruments, looked up in the tenant:
 * without `|version` the highest version stored wins. A literal `Questionnaire/<id>` is read
 * directly (and, when it is a copy of a platform instrument, stands for the shipped definition).
 * Unknown → 400 naming QuestionnaireResponse.questionnaire. Tenant reads go through the caller's
 * repository (and so its access policy).
 */
export async function resolveQuestionnaire(repo: Repository, canonical: string): Promise<Questionnaire> {
  // One lookup per canonical per repository (a request, or one transaction such as a Bundle or a seed).
  let known = cache.get(repo);
  if (!known) cache.set(repo, (known = new Map()));
  const hit = known.get(canonical);
  if (hit) return hit;
  const found = await lookup(repo, canonical);
  known.set(canonical, found);
  return found;
}

const cache = new WeakMap<Repository, Map<string, Questionnaire>>();

async function lookup(repo: Repository, canonical: string): Promise<Questionnaire> {
  const literal = /^Questionnaire\/([A-Za-z0-9\-.]{1,64})$/.exec(canonical);
  if (literal) {
    let stored: Questionnaire;
    try {
      stored = await repo.readResource<Questionnaire>('Questionnaire', literal[1]);
    } catch {
      unknown(canonical);
    }
    return isPlatformQuestionnaireUrl(stored.url) ? shipped(stored.url as string, stored.version, canonical) : stored;
  }
  const [url, version] = canonical.split('|');
  if (isPlatformQuestionnaireUrl(url)) return shipped(url, version, canonical);
  const params: [string, string][] = [['url', url], ['_count', '100']];
  if (version) params.push(['version', version]);
  const bundle = await repo.searchParams('Questionnaire', params);
  const found = (bundle.entry ?? [])
    .map((e) => e.resource as Questionnaire)
    .filter((q) => q.url === url && (!version || q.version === version))
    .sort((a, b) => (b.version ?? '').localeCompare(a.version ?? '', 'en', { numeric: true }));
  if (!found[0]) unknown(canonical);
  return found[0];
}

/** The platform's own definition of `url` (at `version`, when named); anything else under its base is unknown. */
function shipped(url: string, version: string | undefined, canonical: string): Questionnaire {
  const definition = instrumentByUrl(url);
  if (!definition || (version && definition.version !== version)) unknown(canonical);
  return definition.questionnaire;
}

function unknown(canonical: string): never {
  fail('invalid', `Questionnaire '${canonical}' does not exist in this tenant`, 'QuestionnaireResponse.questionnaire');
}

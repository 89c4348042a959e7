import type { Questionnaire } from '@medplum/fhirtypes';
import { fail } from '../../kernel/outcome.ts';
import type { Repository } from '../../store/repository.ts';

/**
 * Finds the Questionnaire a response names (QuestionnaireResponse.questionnaire, a canonical
 * `url|version`) in the tenant. Without `|version` the highest version stored wins; a literal
 * `Questionnaire/<id>` is read directly. Unknown → 400 naming QuestionnaireResponse.questionnaire.
 * Reads go through the caller's repository (and so its access policy).
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
    try {
      return await repo.readResource<Questionnaire>('Questionnaire', literal[1]);
    } catch {
      unknown(canonical);
    }
  }
  const [url, version] = canonical.split('|');
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

function unknown(canonical: string): never {
  fail('invalid', `Questionnaire '${canonical}' does not exist in this tenant`, 'QuestionnaireResponse.questionnaire');
}

import type { Encounter, EpisodeOfCare, Organization, Reference, Resource } from '@medplum/fhirtypes';
import type { Statement } from '../../db/database.ts';
import type { Repository } from '../../store/repository.ts';
import { PROGRAM_TYPE_CODE, PROGRAM_TYPE_SYSTEM } from './codes.ts';

/**
 * Context rule: is a record written "in the context of" a Part 2 program (README.md)?
 *
 * A program is an Organization or an EpisodeOfCare whose `type` carries part2-program#part2-program.
 * - An EpisodeOfCare is in a program when it is one, or its managingOrganization is one.
 * - An Encounter is in a program when its serviceProvider is one or one of its episodeOfCare is.
 * - Any other record is when its encounter (`encounter`, `context`, DocumentReference
 *   `context.encounter`: Encounter or EpisodeOfCare) is.
 * Reads are by id through the caller's transaction with tenant-wide access (the writer may not see
 * the program, and must not learn from a refusal whether it exists): for an Observation in an
 * Encounter of an episode, at most Encounter + Organization + EpisodeOfCare + Organization.
 */
export async function inPart2Program(repo: Repository, r: Resource): Promise<boolean> {
  if (r.resourceType === 'EpisodeOfCare' && isProgramType((r as EpisodeOfCare).type)) return true;
  const own = r.resourceType === 'EpisodeOfCare' || r.resourceType === 'Encounter';
  const refs = own ? [] : contextRefs(r);
  // A record with no encounter or episode is in no program: nothing to look up.
  if (!own && refs.length === 0) return false;
  // Most tenants have no Part 2 program: then no record needs the reads below (a bundle of
  // encounters would otherwise flush its buffered creates once per encounter).
  if (!(await mayHavePrograms(repo))) return false;
  const reader = new Reader(repo, readsOf(repo));
  if (r.resourceType === 'EpisodeOfCare') return reader.isProgramEpisode(r as EpisodeOfCare);
  if (r.resourceType === 'Encounter') return reader.isProgramEncounter(r as Encounter);
  for (const ref of refs) {
    const [type] = ref.split('/');
    const target = await reader.read(ref);
    if (!target) continue;
    if (type === 'Encounter' && (await reader.isProgramEncounter(target as Encounter))) return true;
    if (type === 'EpisodeOfCare' && (await reader.isProgramEpisode(target as EpisodeOfCare))) return true;
  }
  return false;
}

/**
 * What was read, per transaction: a scored response's Observations share its Encounter, and each
 * fresh read would flush the transaction's buffered creates (`asServer`), which are otherwise
 * written in one statement at commit. A write of a program or context record in the same
 * transaction forgets it (`forgetRead`).
 */
const reads = new WeakMap<object, Map<string, Resource | undefined>>();
function readsOf(repo: Repository): Map<string, Resource | undefined> {
  const key = repo.transactionKey;
  if (!key) return new Map();
  let map = reads.get(key);
  if (!map) reads.set(key, (map = new Map()));
  return map;
}
export function forgetRead(repo: Repository, reference: string): void {
  const key = repo.transactionKey;
  if (key) reads.get(key)?.delete(reference);
}

/**
 * Whether the tenant may have a program: one committed (an index lookup on `type`, which leaves
 * the transaction's buffered creates alone), or one written earlier in this transaction
 * (`noteProgramWrite`, from the hook's beforeWrite). Asked once per transaction.
 */
const programsKnown = new WeakMap<object, boolean>();
async function mayHavePrograms(repo: Repository): Promise<boolean> {
  const key = repo.transactionKey;
  const known = key ? programsKnown.get(key) : undefined;
  if (known !== undefined) return known;
  const statement = programsStatement(repo);
  // Sent ahead with the current row of an update (the hook's prefetch): no round trip of its own.
  const rows = repo.prefetched<{ found: boolean }>(statement) ?? (await repo.aggregateOver<{ found: boolean }>([], statement.sql, statement.params ?? []));
  const found = Boolean(rows[0]?.found);
  if (key) programsKnown.set(key, found);
  return found;
}

/** `mayHavePrograms`'s read: whether the tenant has a committed program. */
function programsStatement(repo: Repository): Statement {
  return {
    sql: `SELECT EXISTS (SELECT 1 FROM idx_token WHERE tenant = $1 AND rtype IN ('Organization', 'EpisodeOfCare')
       AND param = 'type' AND code = $2 AND system = $3) AS found`,
    params: [repo.ctx.tenant, PROGRAM_TYPE_CODE, PROGRAM_TYPE_SYSTEM],
  };
}

/**
 * `mayHavePrograms`'s read, to send ahead with the current row of an update (WriteHook.prefetch)
 * when the transaction does not know the answer yet.
 */
export function programsPrefetch(repo: Repository): Statement | undefined {
  const key = repo.transactionKey;
  if (!key || programsKnown.has(key)) return undefined;
  return programsStatement(repo);
}

/** A program (an Organization or EpisodeOfCare typed part2-program) is being written in this transaction. */
export function noteProgramWrite(repo: Repository, r: Resource | undefined): void {
  const key = repo.transactionKey;
  if (key && r && (r.resourceType === 'Organization' || r.resourceType === 'EpisodeOfCare') && isProgramType((r as Organization).type)) {
    programsKnown.set(key, true);
  }
}

const isProgramType = (types: { coding?: { system?: string; code?: string }[] }[] | undefined): boolean =>
  Boolean(types?.some((t) => t.coding?.some((c) => c.system === PROGRAM_TYPE_SYSTEM && c.code === PROGRAM_TYPE_CODE)));

const LOCAL = /^(Encounter|EpisodeOfCare|Organization)\/[A-Za-z0-9\-.]{1,64}$/;

function contextRefs(r: Resource): string[] {
  const x = r as unknown as { encounter?: Reference | Reference[]; context?: Reference & { encounter?: Reference[] } };
  const refs = [x.encounter, x.context, x.context?.encounter].flat().map((v) => v?.reference);
  return [...new Set(refs.filter((v): v is string => typeof v === 'string' && LOCAL.test(v) && !v.startsWith('Organization/')))];
}

class Reader {
  private readonly seen: Map<string, Resource | undefined>;
  private server: Repository | undefined;
  private readonly repo: Repository;
  constructor(repo: Repository, seen: Map<string, Resource | undefined>) {
    this.repo = repo;
    this.seen = seen;
  }

  async read(reference: string | undefined): Promise<Resource | undefined> {
    if (!reference || !LOCAL.test(reference)) return undefined;
    if (!this.seen.has(reference)) {
      // A reference to nothing (or to a deleted record) is no program.
      this.server ??= await this.repo.asServer({ reason: 'part 2 labels' });
      this.seen.set(reference, await this.server.readReference({ reference }).catch(() => undefined));
    }
    return this.seen.get(reference);
  }

  async isProgramOrganization(ref: Reference | undefined): Promise<boolean> {
    const org = (await this.read(ref?.reference)) as Organization | undefined;
    return org?.resourceType === 'Organization' && isProgramType(org.type);
  }

  async isProgramEpisode(ep: EpisodeOfCare): Promise<boolean> {
    return isProgramType(ep.type) || (await this.isProgramOrganization(ep.managingOrganization));
  }

  async isProgramEncounter(enc: Encounter): Promise<boolean> {
    if (await this.isProgramOrganization(enc.serviceProvider)) return true;
    for (const ref of enc.episodeOfCare ?? []) {
      const ep = (await this.read(ref.reference)) as EpisodeOfCare | undefined;
      if (ep?.resourceType === 'EpisodeOfCare' && (await this.isProgramEpisode(ep))) return true;
    }
    return false;
  }
}

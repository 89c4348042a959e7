import type { Questionnaire } from '@medplum/fhirtypes';
import type { Database, Queryable } from '../../db/database.ts';
import { log } from '../../log.ts';
import { Repository } from '../../store/repository.ts';
import { installRelease } from '../releases.ts';
import { INSTRUMENTS } from '../scoring/definitions.ts';

/**
 * Puts the shipped instruments (questionnaires/*.json) into a tenant, versioned by canonical
 * `url|version`: a Questionnaire whose url|version is absent is created; one that is present and
 * equal is left alone; one that is present but differs from the file is an error — a changed
 * instrument needs a new `version`, never a silent overwrite of what responses were scored against.
 * Idempotent and safe to run from several server processes at once (per-tenant advisory lock).
 */
export interface LoadResult {
  tenant: string;
  created: string[];
  unchanged: string[];
}

export class InstrumentConflictError extends Error {
  readonly conflicts: string[];
  constructor(tenant: string, conflicts: string[]) {
    super(
      `Tenant "${tenant}": ${conflicts.join(', ')} differ(s) from the stored Questionnaire with the same url|version. ` +
        'Give the changed file in questionnaires/ a new version.'
    );
    this.conflicts = conflicts;
  }
}

export async function loadInstruments(db: Database | Queryable, tenant: string): Promise<LoadResult> {
  const run = async (q: Queryable): Promise<LoadResult> => {
    await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`instruments:${tenant}`]);
    const repo = Repository.forServer(db as Database, { reason: 'instruments install', tenant, fhirBase: '', lenient: false, defaultCount: 100, maxCount: 1000 }, q);
    const shipped = Object.values(INSTRUMENTS).map((d) => d.questionnaire);
    const bundle = await repo.searchParams('Questionnaire', [['url', shipped.map((s) => s.url as string).join(',')], ['_count', '1000']]);
    const stored = (bundle.entry ?? []).map((e) => e.resource as Questionnaire);
    const result: LoadResult = { tenant, created: [], unchanged: [] };
    const conflicts: string[] = [];
    for (const file of shipped) {
      const canonical = `${file.url}|${file.version}`;
      const existing = stored.find((s) => s.url === file.url && s.version === file.version);
      if (!existing) {
        await repo.createResource<Questionnaire>(structuredClone(file));
        result.created.push(canonical);
      } else if (canonicalJson(content(existing)) === canonicalJson(content(file))) {
        result.unchanged.push(canonical);
      } else {
        conflicts.push(canonical);
      }
    }
    if (conflicts.length) throw new InstrumentConflictError(tenant, conflicts);
    await repo.flush();
    return result;
  };
  return 'transaction' in db && typeof db.transaction === 'function' ? db.transaction(run) : run(db);
}

/** Loads the instruments into every tenant; at server start. A conflict stops the start. */
export async function loadInstrumentsForAllTenants(db: Database): Promise<void> {
  // Only where this release of the instruments has not been loaded (../releases.ts): a changed
  // file is a new release, so its conflict is still found in every tenant.
  const shipped = Object.values(INSTRUMENTS).map((d) => d.questionnaire);
  await installRelease(db, 'instruments', shipped, async (tenant) => {
    try {
      const r = await loadInstruments(db, tenant);
      if (r.created.length) log.info('loaded instruments', { tenant, created: r.created });
    } catch (err) {
      if (err instanceof InstrumentConflictError) log.error('instrument conflict', { tenant, conflicts: err.conflicts });
      throw err;
    }
  });
}

/** What the file defines: the stored copy minus what the server adds (id, meta, narrative). */
function content(q: Questionnaire): Omit<Questionnaire, 'id' | 'meta' | 'text'> {
  const { id: _id, meta: _meta, text: _text, ...rest } = q;
  return rest;
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

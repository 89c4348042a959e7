import {
  type Operation,
  type SearchRequest,
  type WithId,
  OperationOutcomeError,
  applyPatch,
  deepClone,
  fhirpathPatchTypedValue,
  formatSearchQuery,
  generateId,
  parseFhirPathPatchParameters,
  toTypedValue,
} from '@medplum/core';
import {
  type CreateResourceOptions,
  type DeleteResourceOptions,
  type ReadHistoryOptions,
  type TransactionOptions,
  type UpdateResourceOptions,
  FhirRepository,
  type RepositoryMode,
} from '@medplum/fhir-router';
import type { Bundle, Parameters, Reference, Resource } from '@medplum/fhirtypes';
import type { AccessPolicy } from '../access/policy.ts';
import type { Database, Queryable } from '../db/database.ts';
import { fail } from '../fhir/outcome.ts';
import { type HistoryPage, type HistoryQuery, historyBundle, readHistoryRows } from './history.ts';
import { type WriteHook, type WriteMethod, hooksFor } from './hooks.ts';
import { emptyRows } from './index-rows.ts';
import { indexResource } from './indexer.ts';
import { search as runSearch } from './search/index.ts';
import { validate } from './validate.ts';
import { type VersionWrite, writeVersions } from './write.ts';

export interface RepositoryContext {
  tenant: string;
  access: AccessPolicy;
  /** FHIR base URL for fullUrls and links. */
  fhirBase: string;
  lenient: boolean;
  defaultCount: number;
  maxCount: number;
  /** Write hooks (./hooks.ts); the server passes its full list, see server/src/write-hooks.ts. */
  hooks?: readonly WriteHook[];
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

const MAX_ATTEMPTS = 20;

interface CurrentRow {
  version: number;
  deleted: boolean;
  content: string;
}

/** Results of update-as-create, so the REST layer can answer 201 rather than 200. */
const createdByUpdate = new WeakSet<object>();
export function wasCreatedByUpdate(resource: object): boolean {
  return createdByUpdate.has(resource);
}

/**
 * Our FhirRepository over PostgreSQL (or PGlite). One instance serves one request with its
 * tenant and access policy; `withTransaction` hands out a child bound to one connection.
 *
 * Inside a transaction, creates are buffered and written in one statement when anything reads,
 * updates or commits: bundle ingest is then a few round trips, not one per resource.
 */
export class Repository extends FhirRepository {
  readonly ctx: RepositoryContext;
  private readonly db: Database;
  private readonly q: Queryable;
  private readonly inTransaction: boolean;
  private pending: VersionWrite[] = [];

  constructor(db: Database, ctx: RepositoryContext, tx?: Queryable) {
    super();
    this.db = db;
    this.ctx = ctx;
    this.q = tx ?? db;
    this.inTransaction = Boolean(tx);
  }

  setMode(_mode: RepositoryMode): void {
    // One database role serves reads and writes today; read replicas would be chosen here.
  }

  generateId(): string {
    return generateId();
  }

  async withTransaction<TResult>(callback: (txRepo: this) => Promise<TResult>, options?: TransactionOptions): Promise<TResult> {
    if (this.inTransaction) return callback(this);
    return this.db.transaction(
      async (tx) => {
        const child = new Repository(this.db, this.ctx, tx) as this;
        const result = await callback(child);
        await child.flush();
        return result;
      },
      { serializable: options?.serializable }
    );
  }

  /** Writes buffered creates. Called before anything that reads and at commit. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    await writeVersions(this.q, this.ctx.tenant, batch);
  }

  // --- create -------------------------------------------------------------------------------

  async createResource<T extends Resource>(resource: T, options?: CreateResourceOptions): Promise<WithId<T>> {
    this.ctx.access.assertCan(resource.resourceType, 'c');
    if (!this.inTransaction && this.needsTransaction(resource.resourceType)) {
      return this.withTransaction((tx) => tx.createResource(resource, options));
    }
    const id = options?.assignedId && resource.id ? resource.id : generateId();
    const candidate = await this.beforeWrite('create', { ...resource, id });
    const stored = this.prepare(candidate, 1);
    const write = this.versionWrite(stored, 'POST', false);
    if (this.inTransaction) {
      this.pending.push(write);
    } else {
      await writeVersions(this.q, this.ctx.tenant, [write]);
    }
    await this.afterWrite('create', stored.resourceType, stored.id, undefined, stored);
    return stored;
  }

  // --- read ---------------------------------------------------------------------------------

  async readResource<T extends Resource>(resourceType: string, id: string): Promise<WithId<T>> {
    await this.flush();
    this.ctx.access.assertCan(resourceType, 'r');
    const row = await this.currentRow(resourceType, id);
    if (!row) fail('not-found', `${resourceType}/${id} not found`);
    if (row.deleted) fail('gone', `${resourceType}/${id} was deleted`);
    const resource = JSON.parse(row.content) as WithId<T>;
    await this.assertVisible(resource);
    return resource;
  }

  async readReference<T extends Resource>(reference: Reference<T>): Promise<WithId<T>> {
    const [type, id] = (reference.reference ?? '').split('/');
    if (!type || !id) fail('invalid', `Invalid reference '${reference.reference ?? ''}'`);
    return this.readResource<T>(type, id);
  }

  async readReferences<T extends Resource>(references: readonly Reference<T>[]): Promise<(T | Error)[]> {
    return Promise.all(references.map((r) => this.readReference(r).catch((err: Error) => err)));
  }

  async readVersion<T extends Resource>(resourceType: string, id: string, vid: string): Promise<WithId<T>> {
    await this.flush();
    this.ctx.access.assertCan(resourceType, 'r');
    const version = Number(vid);
    if (!Number.isInteger(version) || version < 1) fail('not-found', `${resourceType}/${id}/_history/${vid} not found`);
    const { rows } = await this.q.query<{ content: string; deleted: boolean }>(
      'SELECT content, deleted FROM resource_history WHERE tenant = $1 AND type = $2 AND id = $3 AND version = $4',
      [this.ctx.tenant, resourceType, id, version]
    );
    if (!rows[0]) fail('not-found', `${resourceType}/${id}/_history/${vid} not found`);
    if (rows[0].deleted) fail('gone', `${resourceType}/${id}/_history/${vid} is a delete`);
    const resource = JSON.parse(rows[0].content) as WithId<T>;
    await this.assertVisible(resource);
    return resource;
  }

  async readHistory<T extends Resource>(resourceType: string, id: string, options?: ReadHistoryOptions): Promise<Bundle<WithId<T>>> {
    await this.flush();
    this.ctx.access.assertCan(resourceType, 'r');
    const exists = await this.currentRow(resourceType, id);
    if (!exists) fail('not-found', `${resourceType}/${id} not found`);
    const page = await readHistoryRows(this.q, this.ctx, { type: resourceType, id, count: options?.limit, offset: options?.offset });
    return historyBundle(this.ctx, page) as Bundle<WithId<T>>;
  }

  /** Type- and system-level history (instance history too, with _since and cursors). */
  async history(query: HistoryQuery): Promise<HistoryPage> {
    await this.flush();
    return readHistoryRows(this.q, this.ctx, query);
  }

  /**
   * Resources in a compartment: those whose (type, param) reference points at the owner.
   * One statement over idx_reference; `pairs` are the compartment's (resource type, param) links.
   */
  async compartmentResources(ownerType: string, ownerId: string, pairs: [string, string][], since?: string): Promise<Resource[]> {
    await this.flush();
    if (pairs.length === 0) return [];
    const params: unknown[] = [this.ctx.tenant, ownerType, ownerId, pairs.map((p) => p[0]), pairs.map((p) => p[1])];
    let sinceSql = '';
    if (since) {
      params.push(since);
      sinceSql = ' AND r.last_updated >= $6::timestamptz';
    }
    const { rows } = await this.q.query<{ content: string }>(
      `SELECT r.content FROM resource r
       WHERE r.tenant = $1 AND NOT r.deleted${sinceSql} AND (r.type, r.id) IN (
         SELECT x.rtype, x.rid FROM idx_reference x
         JOIN unnest($4::text[], $5::text[]) AS c(rtype, param) ON x.rtype = c.rtype AND x.param = c.param
         WHERE x.tenant = $1 AND x.target_type = $2 AND x.target_id = $3)
       ORDER BY r.type, r.id`,
      params
    );
    return rows.map((row) => JSON.parse(row.content) as Resource);
  }

  // --- update / patch / delete ----------------------------------------------------------------

  async updateResource<T extends Resource>(resource: T, options?: UpdateResourceOptions): Promise<WithId<T>> {
    const { resourceType, id } = resource;
    if (!id) fail('invalid', 'Resource id is required for update', `${resourceType}.id`);
    if (!ID.test(id)) fail('invalid', `Invalid resource id '${id}'`, `${resourceType}.id`);
    if (!this.inTransaction && this.needsTransaction(resourceType)) {
      return this.withTransaction((tx) => tx.updateResource(resource, options));
    }
    return this.modify(resourceType, id, options?.ifMatch, async (row) => {
      if (!row || row.deleted) {
        // Update as create with a client-assigned id (https://hl7.org/fhir/R4/http.html#upsert).
        this.ctx.access.assertCan(resourceType, 'c');
        const stored = this.prepare(await this.beforeWrite('create', resource), (row?.version ?? 0) + 1);
        createdByUpdate.add(stored);
        return this.versionWrite(stored, 'PUT', Boolean(row));
      }
      this.ctx.access.assertCan(resourceType, 'u');
      const before = JSON.parse(row.content) as Resource;
      await this.assertVisible(before);
      const next = await this.beforeWrite('update', resource, before);
      return this.versionWrite(this.prepare(next, row.version + 1), 'PUT', true, before);
    }) as Promise<WithId<T>>;
  }

  async patchResource<T extends Resource>(
    resourceType: T['resourceType'],
    id: string,
    patch: Operation[] | Parameters,
    options?: UpdateResourceOptions
  ): Promise<WithId<T>> {
    this.ctx.access.assertCan(resourceType, 'u');
    if (!this.inTransaction && this.needsTransaction(resourceType)) {
      return this.withTransaction((tx) => tx.patchResource(resourceType, id, patch, options));
    }
    return this.modify(resourceType, id, options?.ifMatch, async (row) => {
      if (!row) fail('not-found', `${resourceType}/${id} not found`);
      if (row.deleted) fail('gone', `${resourceType}/${id} was deleted`);
      const current = JSON.parse(row.content) as WithId<T>;
      await this.assertVisible(current);
      const patched = deepClone(current);
      if (Array.isArray(patch)) {
        const errors = applyPatch(patched, patch).filter(Boolean);
        if (errors.length) fail('unprocessable', `JSON Patch failed: ${errors.map((e) => e?.message).join('; ')}`);
      } else {
        try {
          fhirpathPatchTypedValue(toTypedValue(patched), parseFhirPathPatchParameters(patch));
        } catch (err) {
          fail('unprocessable', `FHIRPath Patch failed: ${(err as Error).message}`);
        }
      }
      if (patched.resourceType !== resourceType || patched.id !== id) {
        fail('invalid', 'A patch may not change resourceType or id', `${resourceType}.id`);
      }
      const next = await this.beforeWrite('patch', patched, current);
      return this.versionWrite(this.prepare(next, row.version + 1), 'PATCH', true, current);
    }) as Promise<WithId<T>>;
  }

  async deleteResource(resourceType: string, id: string, options?: DeleteResourceOptions): Promise<void> {
    this.ctx.access.assertCan(resourceType, 'd');
    if (!this.inTransaction && this.needsTransaction(resourceType)) {
      return this.withTransaction((tx) => tx.deleteResource(resourceType, id, options));
    }
    await this.modify(resourceType, id, options?.ifMatch, async (row) => {
      if (!row) fail('not-found', `${resourceType}/${id} not found`);
      if (row.deleted) return undefined; // Deleting a deleted resource changes nothing (R4 http.html#delete).
      const before = JSON.parse(row.content) as Resource;
      await this.assertVisible(before);
      for (const h of hooksFor(this.ctx.hooks, resourceType)) {
        await h.beforeWrite?.({ repo: this, method: 'delete', resourceType, id, before });
      }
      return {
        before,
        type: resourceType,
        id,
        version: row.version + 1,
        lastUpdated: new Date().toISOString(),
        deleted: true,
        method: 'DELETE',
        content: '',
        index: emptyRows(),
        exists: true,
      };
    });
  }

  /**
   * Read-modify-write without holding a lock: read the current row, build the next version, and
   * write it only if the row is still at the version read (one guarded statement). If another
   * writer got there first, read again and rebuild — unless the client pinned a version with
   * If-Match, which then fails with 412. Two concurrent updates therefore never lose a write.
   */
  private async modify(
    resourceType: string,
    id: string,
    ifMatch: string | undefined,
    build: (row: CurrentRow | undefined) => Promise<VersionWrite | undefined>
  ): Promise<WithId<Resource> | undefined> {
    await this.flush();
    for (let attempt = 0; ; attempt++) {
      const row = await this.currentRow(resourceType, id);
      if (ifMatch !== undefined && (!row || row.deleted || String(row.version) !== ifMatch)) {
        fail('precondition', `Version conflict: If-Match "${ifMatch}" does not match the current version "${row && !row.deleted ? row.version : 'none'}" of ${resourceType}/${id}`);
      }
      const write = await build(row);
      if (!write) return undefined;
      let written: boolean;
      try {
        written = row ? await writeVersions(this.q, this.ctx.tenant, [write], row.version) : await writeVersions(this.q, this.ctx.tenant, [write]);
      } catch (err) {
        // A concurrent create of the same client id won; outside a transaction, update it instead.
        if (!row && !this.inTransaction && (err as { outcome?: { id?: string } }).outcome?.id === 'conflict' && attempt < MAX_ATTEMPTS) continue;
        throw err;
      }
      if (written) {
        const method: WriteMethod = write.deleted ? 'delete' : write.method === 'PATCH' ? 'patch' : row && !row.deleted ? 'update' : 'create';
        await this.afterWrite(method, resourceType, id, write.before, write.resource);
        return write.resource as WithId<Resource> | undefined;
      }
      if (attempt >= MAX_ATTEMPTS) fail('conflict', `${resourceType}/${id} is being changed by many writers at once; retry`);
    }
  }

  // --- search -------------------------------------------------------------------------------

  async search<T extends Resource>(searchRequest: SearchRequest<T>): Promise<Bundle<WithId<T>>> {
    await this.flush();
    const params = [...new URLSearchParams(formatSearchQuery(searchRequest).replace(/^\?/, ''))];
    const type = searchRequest.resourceType === ('MultipleTypes' as string) ? undefined : searchRequest.resourceType;
    return (await this.searchParams(type, params)) as Bundle<WithId<T>>;
  }

  /** Search from raw query pairs: the HTTP layer's entry point (keeps composite and lenient handling intact). */
  async searchParams(resourceType: string | undefined, params: [string, string][]): Promise<Bundle> {
    await this.flush();
    return runSearch(this.q, this.ctx, resourceType, params);
  }

  async searchByReference<T extends Resource>(
    searchRequest: SearchRequest<T>,
    referenceField: string,
    references: string[]
  ): Promise<Record<string, WithId<T>[]>> {
    const result: Record<string, WithId<T>[]> = {};
    for (const ref of references) {
      const bundle = await this.search<T>({
        ...searchRequest,
        filters: [...(searchRequest.filters ?? []), { code: referenceField, operator: 'eq', value: ref }],
      });
      result[ref] = (bundle.entry ?? []).map((e) => e.resource as WithId<T>);
    }
    return result;
  }

  // --- helpers ------------------------------------------------------------------------------

  private async currentRow(resourceType: string, id: string): Promise<CurrentRow | undefined> {
    if (!ID.test(id)) return undefined;
    const { rows } = await this.q.query<CurrentRow>(
      `SELECT version, deleted, content FROM resource WHERE tenant = $1 AND type = $2 AND id = $3`,
      [this.ctx.tenant, resourceType, id],
      { prepare: true }
    );
    return rows[0];
  }

  /**
   * Granular (query-constrained) scopes decide per resource. Reads of a resource outside the
   * constraint answer 404 rather than 403 so that existence does not leak.
   */
  private async assertVisible(resource: Resource): Promise<void> {
    const c = this.ctx.access.readConstraint(resource.resourceType, 'r');
    if (c.kind === 'all') return;
    if (c.kind === 'deny') fail('forbidden', `The granted scopes do not allow reading ${resource.resourceType}`);
    const bundle = await runSearch(this.q, { ...this.ctx, permission: 'r' }, resource.resourceType, [
      ['_id', resource.id as string],
      ['_count', '1'],
      ['_total', 'none'],
    ]);
    if (!bundle.entry?.length) fail('not-found', `${resource.resourceType}/${resource.id} not found`);
  }

  private needsTransaction(resourceType: string): boolean {
    return hooksFor(this.ctx.hooks, resourceType).some((h) => h.afterWrite);
  }

  private async beforeWrite<T extends Resource>(method: WriteMethod, resource: T, before?: Resource): Promise<T> {
    let current = resource;
    for (const h of hooksFor(this.ctx.hooks, resource.resourceType)) {
      const replaced = await h.beforeWrite?.({ repo: this, method, resourceType: resource.resourceType, id: resource.id as string, before, after: current });
      if (replaced) {
        if (replaced.resourceType !== resource.resourceType || replaced.id !== resource.id) {
          throw new Error(`write hook ${h.name} changed the identity of ${resource.resourceType}/${resource.id}`);
        }
        current = replaced as T;
      }
    }
    return current;
  }

  private async afterWrite(method: WriteMethod, resourceType: string, id: string, before: Resource | undefined, after: Resource | undefined): Promise<void> {
    for (const h of hooksFor(this.ctx.hooks, resourceType)) {
      await h.afterWrite?.({ repo: this, method, resourceType, id, before, after });
    }
  }

  /** Validates and stamps meta; returns the exact resource that will be stored. */
  private prepare<T extends Resource>(resource: T, version: number): WithId<T> {
    if (resource.id !== undefined && !ID.test(resource.id)) {
      fail('invalid', `Invalid resource id '${resource.id}'`, `${resource.resourceType}.id`);
    }
    validate(resource);
    const meta = { ...resource.meta, versionId: String(version), lastUpdated: new Date().toISOString() };
    return { ...resource, meta } as WithId<T>;
  }

  private versionWrite<R extends Resource>(stored: WithId<R>, method: VersionWrite['method'], exists: boolean, before?: Resource): VersionWrite {
    return {
      before,
      type: stored.resourceType,
      id: stored.id,
      version: Number(stored.meta?.versionId),
      lastUpdated: stored.meta?.lastUpdated as string,
      deleted: false,
      method,
      content: JSON.stringify(stored),
      index: indexResource(stored, this.ctx.fhirBase),
      exists,
      resource: stored,
    };
  }
}

export function isOperationOutcomeError(err: unknown): err is OperationOutcomeError {
  return err instanceof OperationOutcomeError;
}

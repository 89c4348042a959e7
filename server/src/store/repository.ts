import { type Operation, type SearchRequest, type WithId, OperationOutcomeError, formatSearchQuery, generateId } from '@medplum/core';
import {
  type CreateResourceOptions,
  type DeleteResourceOptions,
  type ReadHistoryOptions,
  type TransactionOptions,
  type UpdateResourceOptions,
  FhirRepository,
  type RepositoryMode,
} from '@medplum/fhir-router';
import type { Bundle, OperationOutcome, Parameters, Reference, Resource, ResourceType } from '@medplum/fhirtypes';
import type { AccessContext } from '../access/context.ts';
import { type AccessPolicy, tenantAdminPolicy } from '../access/policy.ts';
import type { Permission } from '../access/scopes.ts';
import { type Database, type Queryable, type Statement, runBatch } from '../db/database.ts';
import { fail } from '../kernel/outcome.ts';
import { carryDecimals, hasDecimalText, parseJson, parseStored } from '../kernel/json.ts';
import { type CompartmentPageRequest, compartmentPage } from './compartment-page.ts';
import {
  type CheckedRow,
  ID,
  assertRowVisible,
  assertVisible,
  checkedRowStatement,
  precondition,
  readCheckedRow,
  readCurrentRow,
  refusal,
  within,
} from './current-row.ts';
import { asOutcome, guardQueries } from './database-errors.ts';
import { type HistoryPage, type HistoryQuery, historyBundle, readHistoryRows } from './history.ts';
import { AUDIT_TABLE, AUDIT_TYPE } from './audit-table.ts';
import { type WriteHook, type WriteMethod, hooksFor } from './hooks.ts';
import { emptyRows } from './index-rows.ts';
import { patched } from './patch.ts';
import { type SearchRequest as BatchedSearch, searchBatch as runSearchBatch } from './search/batch.ts';
import { search as runSearch } from './search/index.ts';
import { type ReadAhead, type TransactionWork, forgetAhead, keepAhead, keepPrefetched, statementKey, takeAhead } from './transaction-work.ts';
import { stamped, versionWrite } from './version.ts';
import { type VersionWrite, writeVersions } from './write.ts';

export type { ReadAhead } from './transaction-work.ts';

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
  /**
   * The resources written through this repository are built by the server's own code from input
   * already validated (a response's scores, a risk Task and its Flag): they skip the structural
   * validation that guards client input, which costs more than the rest of their write. Tests
   * validate what those builders produce (test/clinical/server-built.test.ts). Never set for a
   * repository that writes a client's resource.
   */
  serverBuilt?: boolean;
  /** Set by `asServer` and `forServer` only: why this repository acts tenant-wide (for hooks and logs). */
  serverWork?: string;
  /** The request's own resources, whose decimal texts copies made on the way have lost (decimals.ts). */
  decimalDonors?: readonly Resource[];
}

/** What `Repository.asServer` is asked for. */
export interface ServerWork {
  /** Why the server acts tenant-wide here, in a few words ("goal achievement", "note signature"). */
  reason: string;
  /** Everything written through it is built by the server's own code (see RepositoryContext). */
  serverBuilt?: boolean;
  /**
   * Another tenant: only from a repository that belongs to no tenant (a background loop's, such
   * as the risk escalation's), which has no caller; the identity is then the server's own.
   */
  tenant?: string;
}

const MAX_ATTEMPTS = 20;

/** Results of update-as-create, so the REST layer can answer 201 rather than 200. */
const createdByUpdate = new WeakSet<object>();
export function wasCreatedByUpdate(resource: object): boolean {
  return createdByUpdate.has(resource);
}

/** Search parameters whose answer depends on rows of other types than the searched one. */
const REACHING = ['_has', '_include', '_revinclude', '_type', '_list', '_filter', '_query'];

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
  /**
   * Buffered creates, shared with the repositories derived on this transaction for this tenant
   * (`derive`): a derived repository's read then writes what the caller buffered only when it
   * needs to, and everything left goes out in the transaction's final statement.
   */
  private buffer: { writes: VersionWrite[]; statements: Statement[] } = { writes: [], statements: [] };
  private sharesBuffer = false;
  private get pending(): VersionWrite[] {
    return this.buffer.writes;
  }
  private set pending(w: VersionWrite[]) {
    this.buffer.writes = w;
  }
  /** The open transaction's commit work, shared with every repository derived on it. */
  private txWork: TransactionWork = { beforeCommit: [], afterCommit: [] };

  constructor(db: Database, ctx: RepositoryContext, tx?: Queryable) {
    super();
    this.db = db;
    this.ctx = ctx;
    this.q = guardQueries(tx ?? db);
    this.inTransaction = Boolean(tx);
  }

  setMode(_mode: RepositoryMode): void {
    // One database role serves reads and writes today; read replicas would be chosen here.
  }

  generateId(): string {
    return generateId();
  }

  async withTransaction<TResult>(callback: (txRepo: this) => Promise<TResult>, options?: TransactionOptions & { lock?: string }): Promise<TResult> {
    if (this.inTransaction) return callback(this);
    let committed: (() => void)[] = [];
    const result = await this.db.transaction(
      async (tx) => {
        const child = new Repository(this.db, this.ctx, tx) as this;
        // A retried attempt starts over: only the attempt that commits runs its after-commit work.
        committed = child.txWork.afterCommit;
        const value = await callback(child);
        for (const fn of child.txWork.beforeCommit.splice(0)) await fn(child);
        await child.flush({ last: true });
        return value;
      },
      { serializable: options?.serializable, lock: options?.lock }
    ).catch((err: unknown) => {
      // BEGIN / COMMIT themselves fail outside the guarded queries (a serialization failure at commit).
      throw asOutcome(err);
    });
    for (const fn of committed) {
      try {
        fn();
      } catch {
        // After-commit work only wakes workers; what it signals is already durable.
      }
    }
    return result;
  }

  /** The request's resources, whose decimal texts the copies written from them should keep (decimals.ts). */
  keepDecimalsOf(resources: readonly Resource[]): void {
    // Most bundles hold no decimal whose text a number would lose: then there is nothing to match.
    if (resources.some(hasDecimalText)) this.ctx.decimalDonors = resources;
  }

  /** True on the repository of an open transaction (writes commit or roll back together). */
  get transactional(): boolean {
    return this.inTransaction;
  }

  /**
   * Runs `fn` once just before this transaction commits (after the last write, on its connection),
   * with the transaction's root repository, whose buffered creates are written right after: the
   * audit hook stores one AuditEvent per interaction this way. Registered on a derived repository,
   * it runs at the commit of the transaction that repository works in. Outside a transaction: false.
   */
  onBeforeCommit(fn: (root: Repository) => Promise<void>): boolean {
    if (!this.inTransaction) return false;
    this.txWork.beforeCommit.push(fn);
    return true;
  }

  /**
   * The open transaction, as an identity shared by every repository working in it (derived ones
   * included), for work gathered per transaction; undefined outside a transaction. A retried
   * attempt is a new transaction.
   */
  get transactionKey(): object | undefined {
    return this.inTransaction ? this.txWork : undefined;
  }

  /**
   * Runs `fn` (synchronously, must not throw) after this transaction has committed: wakes
   * background workers (subscription delivery) for work the transaction queued durably. Outside a
   * transaction: false. Never runs for a transaction that rolls back.
   */
  onAfterCommit(fn: () => void): boolean {
    if (!this.inTransaction) return false;
    this.txWork.afterCommit.push(fn);
    return true;
  }

  /**
   * The rows of `statement` when a write hook's `prefetch` sent it ahead in this transaction
   * (same SQL, same parameters); undefined otherwise: the hook then runs it itself.
   */
  prefetched<R>(statement: Statement): R[] | undefined {
    return this.txWork.prefetched?.get(statementKey(statement)) as R[] | undefined;
  }

  /**
   * Sends `ahead` now, in one round trip (with the transaction's BEGIN when it is the first), for
   * steps that will make those reads later in this transaction: a create's write hooks each make
   * a lookup of their own after the create (WriteHook.readAhead), one round trip each. A later
   * read by a repository of this transaction that is exactly one of these (the same statement; a
   * read by id by a repository that also reads tenant-wide) is answered from here, once, unless
   * a write of a type it reads came in between: then it reads again. Each statement of a batch has
   * its own snapshot, so a read answered from here is the read made a moment earlier in the same
   * transaction. Only reads this repository makes tenant-wide are sent; outside a transaction,
   * nothing is.
   */
  async readAhead(ahead: ReadAhead): Promise<void> {
    if (!this.inTransaction) return;
    const reads = (ahead.reads ?? []).filter(([type, id]) => ID.test(id) && this.tenantWide(type));
    const statements = [...reads.map(([type, id]) => ({ statement: checkedRowStatement(this.ctx, type, id, 'r'), types: [type] })), ...(ahead.statements ?? [])];
    if (statements.length === 0) return;
    // Buffered creates that these reads could find are written first, as the reads themselves would.
    const types = new Set(statements.flatMap((x) => x.types));
    if (this.pending.some((w) => types.has(w.type))) await this.flush();
    keepAhead(this.txWork, statements, await runBatch(this.q, statements.map((x) => x.statement)));
  }

  /** Whether this repository reads `resourceType` tenant-wide, with no access predicate. */
  private tenantWide(resourceType: string): boolean {
    return this.ctx.access.readConstraint(resourceType, 'r').kind === 'all';
  }

  /**
   * A repository for the server's own work where there is no caller: installing a tenant's
   * platform content, seeding the demo clinic, the background loops (subscription delivery, risk
   * escalation), the picker's read of a related person's links. Tenant-admin access of `tenant`
   * under the server's own identity (no client, no person); its writes go through the hooks it
   * is given and are audited like any others. With `tx` it works in that transaction. Together
   * with `asServer` (from a caller's repository) the only way to act tenant-wide.
   * `onBehalfOf`: the person whose action this work follows where they have no repository of their
   * own (break-glass notifies the supervisors): the decisions stay tenant-wide, the audit names them.
   */
  static forServer(
    db: Database,
    settings: Omit<RepositoryContext, 'access' | 'serverWork'> & { reason: string; onBehalfOf?: AccessContext },
    tx?: Queryable
  ): Repository {
    const { reason, onBehalfOf, ...ctx } = settings;
    const admin = tenantAdminPolicy(ctx.tenant);
    const access = onBehalfOf ? { ...admin, context: onBehalfOf } : admin;
    return new Repository(db, { ...ctx, access, serverWork: reason }, tx);
  }

  /**
   * A repository that sees what `policy` sees, on this one's connection, with no write hooks: what
   * a subscriber may be sent is checked this way (subscriptions/events.ts).
   */
  withPolicy(policy: AccessPolicy): Repository {
    return this.derive({ ...this.ctx, tenant: policy.tenant, access: policy, hooks: [], serverWork: undefined });
  }

  /**
   * A repository with another context on this one's connection and transaction, whose
   * after-commit work runs when this transaction commits. Its buffered creates are its own: call
   * `flush()` before the transaction ends. Private: other contexts come only from `asServer`
   * (tenant-wide, audited as the caller) and `withPolicy` (a narrower reader).
   */
  private derive(ctx: RepositoryContext): Repository {
    const child = new Repository(this.db, ctx, this.inTransaction ? this.q : undefined);
    child.txWork = this.txWork;
    if (this.inTransaction && ctx.tenant === this.ctx.tenant) {
      child.buffer = this.buffer;
      child.sharesBuffer = true;
    }
    return child;
  }

  /**
   * Tenant-wide access for the server's own follow-up work in a caller's
   * interaction (a Goal's achievementStatus after a score, a signature's Provenance and rendering,
   * a positive screen's risk Task and Flag). That work is the consequence of a write the caller
   * was allowed to make, so the returned repository decides with tenant-admin access of this
   * tenant, but keeps the caller's identity (`access.context`), connection, transaction and hooks:
   * its writes are audited like the caller's own, in the caller's AuditEvent, naming the caller.
   *
   * In this tenant the returned repository shares this one's buffered creates (its reads write
   * them first, as this one's would); acting in another tenant, this one's are written first.
   * `flush()` it before the transaction ends.
   */
  async asServer(work: ServerWork): Promise<Repository> {
    if (!(this.inTransaction && (work.tenant === undefined || work.tenant === this.ctx.tenant))) await this.flush();
    let access: AccessPolicy;
    if (work.tenant === undefined || work.tenant === this.ctx.tenant) {
      // Tenant-wide decisions, but the caller's identity: the audit trail names who caused the write.
      access = { ...tenantAdminPolicy(this.ctx.tenant), context: this.ctx.access.context };
    } else {
      // A background loop (no tenant, no caller) acting in one tenant: the server's own identity.
      if (this.ctx.tenant !== '') fail('server-error', 'A repository of one tenant cannot act in another');
      access = tenantAdminPolicy(work.tenant);
    }
    const tenant = work.tenant ?? this.ctx.tenant;
    return this.derive({ ...this.ctx, tenant, access, serverBuilt: work.serverBuilt, serverWork: work.reason });
  }

  /**
   * A derived repository's work is done: its buffered creates go out with the transaction's own
   * final statement when it shares the caller's buffer (`derive`), else now.
   */
  async settle(): Promise<void> {
    if (!this.sharesBuffer) await this.flush();
  }

  /** Writes buffered creates (and deferred statements). Called before anything that reads and at commit (`last`). */
  async flush(options?: { last?: boolean }): Promise<void> {
    if (this.pending.length === 0 && this.buffer.statements.length === 0) return;
    const batch = this.pending;
    const alongside = this.buffer.statements;
    this.pending = [];
    this.buffer.statements = [];
    await writeVersions(this.q, this.ctx.tenant, batch, undefined, { ...options, alongside });
  }

  /**
   * A statement of the server's own bookkeeping that nothing in this transaction reads back (a
   * new risk Task's timer row): inside a transaction it goes out with the next flush, in the same
   * round trip; outside one, now.
   */
  async deferStatement(statement: Statement): Promise<void> {
    if (this.inTransaction) this.buffer.statements.push(statement);
    else await this.q.query(statement.sql, statement.params);
  }

  // --- create -------------------------------------------------------------------------------

  async createResource<T extends Resource>(resource: T, options?: CreateResourceOptions & UpdateResourceOptions): Promise<WithId<T>> {
    this.ctx.access.assertCan(resource.resourceType, 'c');
    // Only a conditional update that matched nothing creates with If-Match options (FhirRepository
    // passes its options on): no version exists for the tag to name, so the precondition fails.
    if (options?.ifMatch !== undefined) {
      fail('precondition', `If-Match "${options.ifMatch}" names a version, but the criteria match no ${resource.resourceType}; nothing was created`);
    }
    if (!this.inTransaction && this.needsTransaction(resource.resourceType)) {
      return this.withTransaction((tx) => tx.createResource(resource, options));
    }
    const id = options?.assignedId && resource.id ? resource.id : generateId();
    const candidate = await this.beforeWrite('create', { ...resource, id });
    const stored = this.stamp(candidate, 1);
    if (this.inTransaction) await this.hooksReadAhead(candidate);
    const write = versionWrite(stored, 'POST', false, this.ctx.fhirBase);
    forgetAhead(this.txWork, [write.type]);
    if (this.inTransaction) {
      this.pending.push(write);
    } else {
      await writeVersions(this.q, this.ctx.tenant, [write]);
    }
    await this.assertWritten(stored.resourceType, stored.id, 'c');
    await this.afterWrite('create', stored.resourceType, stored.id, undefined, stored);
    return stored;
  }

  // --- read ---------------------------------------------------------------------------------

  async readResource<T extends Resource>(resourceType: string, id: string): Promise<WithId<T>> {
    // Only a buffered create of this type can be what is read.
    await this.flushFor([[resourceType, []]]);
    this.ctx.access.assertCan(resourceType, 'r');
    // One round trip: the row and whether the caller may see it (outside the caller's reach
    // answers as if it did not exist: existence must not leak).
    const ahead = this.txWork.ahead?.size && ID.test(id) && this.tenantWide(resourceType) ? (takeAhead(this.txWork, () => statementKey(checkedRowStatement(this.ctx, resourceType, id, 'r'))) as CheckedRow[] | undefined) : undefined;
    const row = ahead ? ahead[0] : await readCheckedRow(this.q, this.ctx, resourceType, id, 'r');
    if (!row?.visible) fail('not-found', `${resourceType}/${id} not found`);
    if (row.deleted) fail('gone', `${resourceType}/${id} was deleted`);
    return parseStored(row.content) as WithId<T>;
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
    // Only a buffered create of this type can be what is read.
    await this.flushFor([[resourceType, []]]);
    this.ctx.access.assertCan(resourceType, 'r');
    // One answer for a missing version, a missing resource and a resource outside the caller's
    // reach: the message must not tell which versions a hidden resource has, nor that it exists.
    const missing = (): never => fail('not-found', `${resourceType}/${id}/_history/${vid} not found`);
    const version = Number(vid);
    if (!Number.isInteger(version) || version < 1 || !ID.test(id)) missing();
    // A version is visible when its resource is (the same rule as history, ./history.ts).
    if (!(await within(this.q, this.ctx, resourceType, id, 'r'))) missing();
    // An AuditEvent's one version is its row in its own table (./audit-table.ts).
    const table = resourceType === AUDIT_TYPE ? AUDIT_TABLE : 'resource_history';
    const { rows } = await this.q.query<{ content: string; deleted: boolean }>(
      `SELECT content, deleted FROM ${table} WHERE tenant = $1 AND type = $2 AND id = $3 AND version = $4`,
      [this.ctx.tenant, resourceType, id, version]
    );
    if (!rows[0]) missing();
    if (rows[0].deleted) fail('gone', `${resourceType}/${id}/_history/${vid} is a delete`);
    return parseStored(rows[0].content) as WithId<T>;
  }

  /**
   * The current version of a resource that an operation changes on the caller's behalf while the
   * server makes the writes itself (Composition/$sign): the same checks as an update, in the same
   * order — the type's update permission (403), the resource visible (else 404, as if it did not
   * exist), within the caller's reach for update (403).
   */
  async readForUpdate<T extends Resource>(resourceType: string, id: string): Promise<WithId<T>> {
    await this.flush();
    this.ctx.access.assertCan(resourceType, 'u');
    const row = await readCheckedRow(this.q, this.ctx, resourceType, id, 'u');
    if (!row) fail('not-found', `${resourceType}/${id} not found`);
    await assertRowVisible(this.q, this.ctx, row, resourceType, id, 'u');
    if (row.deleted) fail('gone', `${resourceType}/${id} was deleted`);
    return parseJson(row.content) as WithId<T>;
  }

  async readHistory<T extends Resource>(resourceType: string, id: string, options?: ReadHistoryOptions): Promise<Bundle<WithId<T>>> {
    await this.flush();
    this.ctx.access.assertCan(resourceType, 'r');
    const exists = await readCurrentRow(this.q, this.ctx.tenant, resourceType, id);
    if (!exists) fail('not-found', `${resourceType}/${id} not found`);
    await assertVisible(this.q, this.ctx, resourceType, id);
    const page = await readHistoryRows(this.q, this.ctx, { type: resourceType, id, count: options?.limit, offset: options?.offset });
    return historyBundle(this.ctx, page) as Bundle<WithId<T>>;
  }

  /** Type- and system-level history (instance history too, with _since and cursors). */
  async history(query: HistoryQuery): Promise<HistoryPage> {
    await this.flush();
    return readHistoryRows(this.q, this.ctx, query);
  }

  /** One page of a compartment's resources that the caller may search (./compartment-page.ts). */
  async compartmentPage(ownerType: string, ownerId: string, pairs: [string, string][], page: CompartmentPageRequest): Promise<{ resources: Resource[]; more: boolean }> {
    await this.flush();
    return compartmentPage(this.q, this.ctx, [ownerType, ownerId], pairs, page);
  }

  // --- update / patch / delete ----------------------------------------------------------------

  async updateResource<T extends Resource>(resource: T, options?: UpdateResourceOptions): Promise<WithId<T>> {
    const { resourceType, id } = resource;
    if (!id) fail('invalid', 'Resource id is required for update', `${resourceType}.id`);
    if (!ID.test(id)) fail('invalid', `Invalid resource id '${id}'`, `${resourceType}.id`);
    if (!this.inTransaction && this.needsTransaction(resourceType)) {
      return this.withTransaction((tx) => tx.updateResource(resource, options));
    }
    const ifMatch = options?.ifMatch;
    const access = this.ctx.access;
    // Neither update nor create granted: one 403 for every id, so the answer says nothing about
    // whether the id exists (the message would otherwise name "update" or "create").
    if (!access.can(resourceType, 'c')) access.assertCan(resourceType, 'u');
    return this.modify(resourceType, id, 'u', async (row) => {
      if (!row || row.deleted) {
        // Nothing current to update (or only a deleted row the caller cannot see): a caller who
        // may not create, or who names a version, gets the answer for an id that never existed.
        const absent = !row?.visible;
        if (absent && (ifMatch !== undefined || !access.can(resourceType, 'c'))) fail('not-found', `${resourceType}/${id} not found`);
        // Update as create with a client-assigned id (https://hl7.org/fhir/R4/http.html#upsert).
        access.assertCan(resourceType, 'c');
        precondition(ifMatch, row, resourceType, id);
        const stored = this.stamp(await this.beforeWrite('create', resource), (row?.version ?? 0) + 1);
        createdByUpdate.add(stored);
        return versionWrite(stored, 'PUT', Boolean(row), this.ctx.fhirBase);
      }
      this.ctx.access.assertCan(resourceType, 'u');
      await assertRowVisible(this.q, this.ctx, row, resourceType, id, 'u');
      precondition(ifMatch, row, resourceType, id);
      const before = parseJson(row.content) as Resource;
      const next = await this.beforeWrite('update', resource, before);
      return versionWrite(this.stamp(next, row.version + 1), 'PUT', true, this.ctx.fhirBase, before);
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
    return this.modify(resourceType, id, 'u', async (row) => {
      if (!row) fail('not-found', `${resourceType}/${id} not found`);
      // Visibility before anything else about the row: a hidden deleted resource is a missing one.
      await assertRowVisible(this.q, this.ctx, row, resourceType, id, 'u');
      if (row.deleted) fail('gone', `${resourceType}/${id} was deleted`);
      precondition(options?.ifMatch, row, resourceType, id);
      const current = parseJson(row.content) as WithId<T>;
      const next = await this.beforeWrite('patch', patched(current, patch), current);
      return versionWrite(this.stamp(next, row.version + 1), 'PATCH', true, this.ctx.fhirBase, current);
    }) as Promise<WithId<T>>;
  }

  async deleteResource(resourceType: string, id: string, options?: DeleteResourceOptions): Promise<void> {
    this.ctx.access.assertCan(resourceType, 'd');
    if (!this.inTransaction && this.needsTransaction(resourceType)) {
      return this.withTransaction((tx) => tx.deleteResource(resourceType, id, options));
    }
    await this.modify(resourceType, id, 'd', async (row) => {
      if (!row) fail('not-found', `${resourceType}/${id} not found`);
      await assertRowVisible(this.q, this.ctx, row, resourceType, id, 'd');
      precondition(options?.ifMatch, row, resourceType, id);
      if (row.deleted) return undefined; // Deleting a deleted resource changes nothing (R4 http.html#delete).
      const before = parseJson(row.content) as Resource;
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

  // --- conditional create / update / patch / delete -----------------------------------------
  // The type's permission first, as for the plain interactions: a caller who may not write gets
  // 403 whether or not the search finds anything (the search itself sees only what they may read).
  // FhirRepository's logic then runs on the transaction's repository (`base.call(tx, …)`; calling
  // `tx.conditionalUpdate` would come back here).

  async conditionalCreate<T extends Resource>(
    resource: T,
    search: SearchRequest<T>,
    options?: CreateResourceOptions
  ): Promise<{ resource: WithId<T>; outcome: OperationOutcome }> {
    const base = FhirRepository.prototype.conditionalCreate as (this: Repository, ...args: [T, SearchRequest<T>, CreateResourceOptions?]) => Promise<{ resource: WithId<T>; outcome: OperationOutcome }>;
    return this.onCriteria(search, (tx) => base.call(tx, resource, search, options));
  }

  async conditionalUpdate<T extends Resource>(
    resource: T,
    search: SearchRequest,
    options?: CreateResourceOptions & UpdateResourceOptions
  ): Promise<{ resource: WithId<T>; outcome: OperationOutcome }> {
    if (!this.ctx.access.can(search.resourceType, 'c')) this.ctx.access.assertCan(search.resourceType, 'u');
    const base = FhirRepository.prototype.conditionalUpdate as (this: Repository, ...args: [T, SearchRequest, (CreateResourceOptions & UpdateResourceOptions)?]) => Promise<{ resource: WithId<T>; outcome: OperationOutcome }>;
    return this.onCriteria(search, (tx) => base.call(tx, resource, search, options));
  }

  async conditionalPatch(search: SearchRequest, patch: Operation[], options?: UpdateResourceOptions): Promise<WithId<Resource>> {
    this.ctx.access.assertCan(search.resourceType, 'u');
    return this.onCriteria(search, (tx) => FhirRepository.prototype.conditionalPatch.call(tx, search, patch, options));
  }

  /** As @medplum/fhir-router's, with If-Match: the one match is deleted only at that version (else 412). */
  async conditionalDelete(search: SearchRequest, options?: DeleteResourceOptions): Promise<void> {
    this.ctx.access.assertCan(search.resourceType, 'd');
    const ifMatch = options?.ifMatch;
    if (ifMatch === undefined) return this.onCriteria(search, (tx) => FhirRepository.prototype.conditionalDelete.call(tx, search));
    await this.onCriteria(search, async (tx) => {
      const matches = await tx.searchResources({ ...search, count: 2, offset: 0, sortRules: undefined });
      if (matches.length > 1) fail('multiple-matches', `The criteria match more than one ${search.resourceType}; nothing was deleted`);
      // Nothing to delete, nothing changed: as without If-Match (a lost update needs a write).
      if (matches.length === 0) return;
      await tx.deleteResource(search.resourceType, matches[0].id, { ifMatch });
    });
  }

  /**
   * A conditional interaction in a serializable transaction of its own, after any other on the same
   * criteria in this tenant has committed (Database.transaction `lock`): of twenty concurrent
   * `PUT Patient?identifier=X` for a new X, the first creates and the others then find it and
   * update it, instead of all reading "no match" and all but one failing. Criteria that differ but
   * match the same resources are still kept apart by the serializable isolation (and its retries).
   * Inside a transaction (a bundle) it simply runs there.
   */
  private onCriteria<R>(search: SearchRequest, run: (tx: Repository) => Promise<R>): Promise<R> {
    if (this.inTransaction) return run(this);
    const lock = `conditional\n${this.ctx.tenant}\n${search.resourceType}${formatSearchQuery({ ...search, count: undefined, offset: undefined, sortRules: undefined })}`;
    return this.withTransaction(run, { serializable: true, resourceTypes: [search.resourceType as ResourceType], lock });
  }

  /**
   * Read-modify-write without holding a lock: read the current row, build the next version, and
   * write it only if the row is still at the version read (one guarded statement). If another
   * writer got there first, read again and rebuild — unless the client pinned a version with
   * If-Match, which `build` then finds stale (412). Two concurrent updates therefore never lose a write.
   */
  private async modify(
    resourceType: string,
    id: string,
    permission: Permission,
    build: (row: CheckedRow | undefined) => Promise<VersionWrite | undefined>
  ): Promise<WithId<Resource> | undefined> {
    await this.flush();
    for (let attempt = 0; ; attempt++) {
      const row = await this.currentRowAndPrefetches(resourceType, id, permission);
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
        forgetAhead(this.txWork, [resourceType]);
        const method: WriteMethod = write.deleted ? 'delete' : write.method === 'PATCH' ? 'patch' : row && !row.deleted ? 'update' : 'create';
        if (!write.deleted) await this.assertWritten(resourceType, id, method === 'create' ? 'c' : 'u');
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
    await this.flushFor([[resourceType, params]]);
    return runSearch(this.q, this.ctx, resourceType, params);
  }

  /**
   * Several searches in one round trip (store/search/batch.ts), after `before` (such as a lock):
   * for server follow-up work that reads many independent things at once (a positive screen's
   * rule set, open Task, rota, flag and crisis resources). Each answers as `searchParams` would.
   */
  async searchBatch(requests: BatchedSearch[], before: Statement[] = []): Promise<Bundle[]> {
    await this.flushFor(requests);
    return runSearchBatch(this.q, this.ctx, requests, before);
  }

  /**
   * Buffered creates are written before a search that could find them: one of the searched type,
   * or any when the search reaches other types (chains, `_has`, includes) or all types. A search
   * of one type with its own parameters reads only that type's rows and index rows (the access
   * predicate too: store/search/access.ts), so the follow-up writes of a hook are not split into
   * one statement per read of unrelated configuration.
   */
  private async flushFor(requests: [string | undefined, [string, string][]][]): Promise<void> {
    if (this.pending.length === 0) return;
    const reaches = requests.some(([type, params]) => type === undefined || params.some(([k]) => k.includes('.') || REACHING.some((r) => k.startsWith(r))));
    if (reaches || this.pending.some((w) => requests.some(([t]) => t === w.type))) await this.flush();
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

  /**
   * A read-only aggregate statement over this tenant's index tables, for operations that report
   * on many resources at once (clinical/outcomes `$mbc-cohort`). The caller composes the access
   * decision into its SQL itself (`readConstraint` of every type it reads, compiled with
   * store/search/access.ts `compileConstraint`) and binds the tenant as `$1`. Inside
   * `withTransaction` it also carries `SET LOCAL` planner settings for the statement that follows.
   */
  async aggregate<T>(sql: string, params: unknown[]): Promise<T[]> {
    await this.flush();
    const { rows } = await this.q.query<T>(sql, params);
    return rows;
  }

  /**
   * As `aggregate`, for a statement that reads only resources of `types`: buffered creates are
   * written first only when one of them is of those types, so a write hook that looks something
   * up after each create (clinical/careplan/goal-achievement.ts) does not split the buffered
   * batch into one statement per resource.
   */
  async aggregateOver<T>(types: readonly string[], sql: string, params: unknown[]): Promise<T[]> {
    if (this.pending.some((w) => types.includes(w.type))) await this.flush();
    const ahead = takeAhead(this.txWork, () => statementKey({ sql, params }));
    if (ahead) return ahead as T[];
    const { rows } = await this.q.query<T>(sql, params);
    return rows;
  }

  // --- helpers ------------------------------------------------------------------------------

  /**
   * The current row with the caller's reach over it (./current-row.ts `readCheckedRow`), and in a
   * transaction the reads the write hooks ask to send ahead (WriteHook.prefetch) in the same round
   * trip: the hooks' beforeWrite then finds their rows.
   */
  private async currentRowAndPrefetches(resourceType: string, id: string, permission: Permission): Promise<CheckedRow | undefined> {
    const ahead = this.inTransaction && ID.test(id) ? hooksFor(this.ctx.hooks, resourceType).flatMap((h) => h.prefetch?.(this, resourceType) ?? []) : [];
    if (ahead.length === 0) return readCheckedRow(this.q, this.ctx, resourceType, id, permission);
    const [first, ...rest] = await runBatch(this.q, [checkedRowStatement(this.ctx, resourceType, id, permission), ...ahead]);
    keepPrefetched(this.txWork, ahead, rest);
    return first.rows[0] as unknown as CheckedRow | undefined;
  }

  /**
   * After a change, inside its transaction: the new version must still be within the caller's
   * reach (a user cannot create outside it, nor move a resource out of it or to another patient).
   * Failing rolls the whole change back.
   */
  private async assertWritten(resourceType: string, id: string, permission: Permission): Promise<void> {
    if (this.ctx.access.readConstraint(resourceType, permission).kind === 'all') return;
    await this.flush();
    if (!(await within(this.q, this.ctx, resourceType, id, permission))) {
      const why = await refusal(this.q, this.ctx, resourceType, id, permission);
      if (why) fail('forbidden', `The granted access does not allow this ${resourceType}: ${why.text}`, why.expression);
      fail('forbidden', `The granted access does not allow this ${resourceType}: it would be outside the caller's reach`);
    }
  }

  private needsTransaction(resourceType: string): boolean {
    // A write checked after the change (assertWritten) must be able to roll back.
    const a = this.ctx.access;
    if ((['c', 'u'] as const).some((p) => a.readConstraint(resourceType, p).kind !== 'all')) return true;
    return hooksFor(this.ctx.hooks, resourceType).some((h) => h.afterWrite);
  }

  /** The reads the write hooks will make after this create (WriteHook.readAhead), sent now tenant-wide, in one round trip. */
  private async hooksReadAhead(resource: Resource): Promise<void> {
    const hooks = hooksFor(this.ctx.hooks, resource.resourceType).filter((h) => h.readAhead);
    if (hooks.length === 0) return;
    const all: Required<ReadAhead> = { reads: [], statements: [] };
    for (const h of hooks) {
      const a = h.readAhead?.({ repo: this, method: 'create', resourceType: resource.resourceType, id: resource.id as string, after: resource });
      all.reads.push(...(a?.reads ?? []));
      all.statements.push(...(a?.statements ?? []));
    }
    if (all.reads.length + all.statements.length === 0) return;
    const server = await this.asServer({ reason: 'write hooks read ahead' });
    await server.readAhead(all);
  }

  private async beforeWrite<T extends Resource>(method: WriteMethod, resource: T, before?: Resource): Promise<T> {
    let current = resource;
    for (const h of hooksFor(this.ctx.hooks, resource.resourceType)) {
      const replaced = await h.beforeWrite?.({ repo: this, method, resourceType: resource.resourceType, id: resource.id as string, before, after: current });
      if (replaced) {
        if (replaced.resourceType !== resource.resourceType || replaced.id !== resource.id) {
          throw new Error(`write hook ${h.name} changed the identity of ${resource.resourceType}/${resource.id}`);
        }
        carryDecimals(current, replaced);
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

  /** The version that will be stored (./version.ts), validated unless the server built it. */
  private stamp<T extends Resource>(resource: T, version: number): WithId<T> {
    return stamped(resource, version, { serverBuilt: this.ctx.serverBuilt, decimalDonors: this.ctx.decimalDonors, donorsKey: this.transactionKey ?? this.ctx });
  }
}

export function isOperationOutcomeError(err: unknown): err is OperationOutcomeError {
  return err instanceof OperationOutcomeError;
}

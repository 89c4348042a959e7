import type { Resource } from '@medplum/fhirtypes';
import type { Statement } from '../db/database.ts';
import type { Repository } from './repository.ts';
import type { ReadAhead } from './transaction-work.ts';

/**
 * Write hooks: the places where the rest of the server takes part in a write without the store
 * knowing about it (DESIGN.md write path: "clinical hooks … AuditEvent … subscription outbox rows").
 * Hooks run inside the write's transaction: if any hook throws, nothing of the write is stored.
 *
 * - `beforeWrite` runs after access checks, before validation and storage. It may refuse the
 *   write (throw an OperationOutcomeError) or return a replacement resource (e.g. computed fields).
 * - `afterWrite` runs after the version is written, on the same connection; writes it makes
 *   through `event.repo` commit or roll back with the original.
 *
 * A repository wraps every write in a transaction when any hook with `afterWrite` applies to its
 * type, so "in the same transaction" holds for single REST writes as well as bundles.
 */
export type WriteMethod = 'create' | 'update' | 'patch' | 'delete';

export interface WriteEvent {
  repo: Repository;
  method: WriteMethod;
  resourceType: string;
  id: string;
  /** The current version before the write (undefined for a create). */
  before?: Resource;
  /** The resource being written (before storage in beforeWrite; as stored in afterWrite); undefined for a delete. */
  after?: Resource;
}

export interface WriteHook {
  /** Short name, for logs. */
  name: string;
  /** Resource types this hook applies to; '*' for all. */
  types: readonly string[] | '*';
  beforeWrite?(event: WriteEvent): Promise<Resource | void>;
  afterWrite?(event: WriteEvent): Promise<void>;
  /**
   * A read the hook's beforeWrite will make for an update, patch or delete in a transaction, asked
   * before the current row is read: it goes out in the same round trip as that read
   * (`Repository.modify`), and the hook finds its rows with `repo.prefetched(statement)` (the
   * same SQL and parameters). Undefined: nothing to read ahead.
   */
  prefetch?(repo: Repository, resourceType: string): Statement | undefined;
  /**
   * For a create in a transaction, once the resource passed validation (`event.after` as it will
   * be stored, without its meta): the tenant-wide reads this hook (or the server work it starts)
   * will make later in the transaction. Those of every hook go out together in one round trip
   * (`Repository.readAhead`), and the reads made later are answered from it. Undefined: none.
   */
  readAhead?(event: WriteEvent): ReadAhead | undefined;
}

export function hooksFor(hooks: readonly WriteHook[] | undefined, resourceType: string): WriteHook[] {
  if (!hooks?.length) return [];
  return hooks.filter((h) => h.types === '*' || h.types.includes(resourceType));
}

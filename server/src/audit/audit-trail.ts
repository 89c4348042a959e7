import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditEvent, Resource } from '@medplum/fhirtypes';
import type { Database } from '../db/database.ts';
import { log } from '../log.ts';
import { insertAuditEvents } from './audit-store.ts';
import { sealPending } from './hash-chain.ts';

/**
 * The audit trail of one database: buffers the AuditEvents of reads, searches, history and
 * operations and stores them in batches, and runs the sealer (./hash-chain.ts) after writes.
 *
 * Reads are audited after the response is computed, so a read costs the client no audit round
 * trip: events are buffered and flushed every FLUSH_MS or at MAX_BUFFER events, as one multi-row
 * INSERT per tenant. What a crash can lose: the events buffered and not yet flushed — at most
 * FLUSH_MS (~100 ms) or MAX_BUFFER events of this process's reads. Writes are not at risk: their
 * AuditEvents are stored in the write's own transaction (./write-hook.ts).
 * `close()` (called by Server.close) flushes what is buffered and seals.
 */
const FLUSH_MS = 100;
const MAX_BUFFER = 200;
const SEAL_DELAY_MS = 250;
/** A second seal pass after writes, for transactions that commit after the first one ran. */
const SEAL_RETRY_MS = 2000;

export class AuditTrail {
  private readonly db: Database;
  private buffer: { tenant: string; event: AuditEvent }[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private sealTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  private closed = false;
  private sealing: Promise<void> | undefined;
  private sealAgain = false;

  constructor(db: Database) {
    this.db = db;
  }

  /** Events buffered and not yet stored (for /metrics). */
  get depth(): number {
    return this.buffer.length;
  }

  /** Queues one event (never blocks the caller on the database). */
  record(tenant: string, event: AuditEvent): void {
    if (this.closed) return;
    this.buffer.push({ tenant, event });
    if (this.buffer.length >= MAX_BUFFER) {
      void this.flush();
    } else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => void this.flush(), FLUSH_MS);
      this.flushTimer.unref();
    }
  }

  /** Stores everything buffered now. */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    const byTenant = new Map<string, AuditEvent[]>();
    for (const { tenant, event } of batch) {
      const list = byTenant.get(tenant);
      if (list) list.push(event);
      else byTenant.set(tenant, [event]);
    }
    const p = (async () => {
      for (const [tenant, events] of byTenant) {
        try {
          await insertAuditEvents(this.db, tenant, events);
        } catch (err) {
          // No PHI: the events are not logged, only that they were lost.
          log.error('audit flush failed', { tenant, events: events.length, code: (err as { code?: string }).code });
        }
      }
      this.scheduleSeal();
    })();
    this.inFlight.add(p);
    await p.finally(() => this.inFlight.delete(p));
  }

  /** Asks for a seal soon (debounced), and once more later for late commits. */
  scheduleSeal(): void {
    if (this.closed) return;
    if (!this.sealTimer) {
      this.sealTimer = setTimeout(() => {
        this.sealTimer = undefined;
        void this.seal();
      }, SEAL_DELAY_MS);
      this.sealTimer.unref();
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.seal();
    }, SEAL_RETRY_MS);
    this.retryTimer.unref();
  }

  /**
   * One seal at a time in this process: a seal asked for while one runs is run once after it
   * (it may find rows committed meanwhile). Without this, seals that outlast SEAL_DELAY_MS under
   * load stacked up, each holding a pool connection while it waited for the tenant's lock.
   */
  async seal(): Promise<void> {
    if (this.sealing) {
      this.sealAgain = true;
      return this.sealing;
    }
    const run = async () => {
      do {
        this.sealAgain = false;
        try {
          await sealPending(this.db);
        } catch (err) {
          if (!this.closed) log.error('audit seal failed', { code: (err as { code?: string }).code });
        }
      } while (this.sealAgain);
    };
    this.sealing = run().finally(() => (this.sealing = undefined));
    return this.sealing;
  }

  /** Flushes, seals, and stops the timers; later events are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    await Promise.all([...this.inFlight]);
    this.closed = true;
    open.delete(this);
    for (const t of [this.flushTimer, this.sealTimer, this.retryTimer]) if (t) clearTimeout(t);
    await this.sealing;
    await sealPending(this.db).catch(() => undefined);
  }
}

const trails = new WeakMap<Database, AuditTrail>();
const open = new Set<AuditTrail>();

/**
 * For events written on a caller's transaction (no Database at hand): ask every open trail of this
 * process to seal soon, after that transaction has committed.
 */
export function scheduleSealEverywhere(): void {
  for (const t of open) t.scheduleSeal();
}

/**
 * The one trail of a database in this process. Closing the database, by whoever closes it
 * (Server.close, a CLI command, a test's teardown), first stores what the trail has buffered:
 * an orderly shutdown loses no AuditEvent.
 */
export function auditTrailFor(db: Database): AuditTrail {
  let t = trails.get(db);
  if (!t) {
    const trail = (t = new AuditTrail(db));
    trails.set(db, trail);
    open.add(trail);
    const close = db.close.bind(db);
    db.close = async () => {
      await trail.close();
      await close();
    };
  }
  return t;
}

/**
 * What the FHIR layer knows about the request being served, visible to the write hook that runs
 * deep inside the repository (client IP, the trail to seal, whether a write was audited there).
 */
export interface AuditRequestScope {
  trail: AuditTrail;
  ip?: string;
  /** Writes whose AuditEvent the write hook stored in the write's transaction. */
  writesAudited: number;
  /** The route's interaction and parsed body (set by ./fhir-audit.ts): tells a transaction bundle. */
  interaction?: string;
  body?: unknown;
  /**
   * Resources the answer named by id only (an id-only `$events` notification): they left as far as
   * their existence and id go, so a disclosure names them though the answer does not carry them.
   */
  disclosedByIdOnly?: Resource[];
}

export const auditRequestScope = new AsyncLocalStorage<AuditRequestScope>();

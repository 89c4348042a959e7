import type { Consent, Resource } from '@medplum/fhirtypes';
import { REVOCATION_CHANNEL, announceConsentChange, consentChangeId } from '../../access/disclosure.ts';
import { fail } from '../../kernel/outcome.ts';
import type { WriteEvent, WriteHook } from '../../store/hooks.ts';

/**
 * Consent writes (README.md):
 *  - a patient's own token may revoke one of their Consents, and do nothing else with Consents:
 *    an update whose only change is `status` → `inactive` (403 otherwise, saying so);
 *  - every committed Consent change drops the cached access policies of external recipients of
 *    the tenant (access/disclosure.ts), in this process after commit and in the others through a
 *    NOTIFY sent in the transaction (PostgreSQL delivers it at commit, never for a rollback).
 */
const REVOKE_ONLY = 'A patient may only revoke their own Consent: an update that changes status to "inactive" and nothing else';

export const consentHook: WriteHook = {
  name: 'consent',
  types: ['Consent'],

  async beforeWrite(event: WriteEvent) {
    const ctx = event.repo.ctx.access.context;
    if (!ctx.roles?.includes('patient') || !ctx.fhirUser) return undefined;
    if (event.method === 'create' || event.method === 'delete') fail('forbidden', REVOKE_ONLY);
    const before = event.before as Consent | undefined;
    const after = event.after as Consent | undefined;
    const self = /Patient\/[^/]+$/.exec(ctx.fhirUser)?.[0];
    if (!before || !after || !self || before.patient?.reference !== self) fail('forbidden', REVOKE_ONLY);
    if (after.status !== 'inactive') fail('forbidden', REVOKE_ONLY, 'Consent.status');
    if (canonical({ ...before, status: 'inactive' }) !== canonical(after)) fail('forbidden', REVOKE_ONLY);
    return undefined;
  },

  async afterWrite(event: WriteEvent) {
    const tenant = event.repo.ctx.tenant;
    event.repo.onAfterCommit(() => announceConsentChange(tenant));
    await event.repo.aggregateOver([], 'SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, JSON.stringify([consentChangeId(tenant)])]);
  },
};

/** The resource without what the server sets (id, meta), keys in order: equal content, equal text. */
function canonical(resource: Resource): string {
  const { meta: _meta, id: _id, ...rest } = resource as Resource & { meta?: unknown };
  return JSON.stringify(rest, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v
  );
}

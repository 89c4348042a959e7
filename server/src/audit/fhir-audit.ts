import type { FhirRouter, HttpMethod } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import type { AccessPolicy } from '../access/policy.ts';
import { log } from '../log.ts';
import { isDisclosure } from '../access/accounting.ts';
import { type RestEventInput, exportJobEntity, restAuditEvent } from './audit-event.ts';
import { type DisclosedFile, disclosedResources } from './disclosure.ts';
import type { AuditRequestScope, AuditTrail } from './audit-trail.ts';
import { addPatientsOf } from './patients.ts';

/**
 * The AuditEvent of one FHIR REST request (read, vread, search, history, operations, batch and
 * transaction, and every refused or failed request), recorded when the response has been sent
 * (`finish`), so it never delays the answer. Successful writes are audited by the write hook in
 * their own transaction instead (./write-hook.ts); this records a write only when the hook did not
 * (it failed, or changed nothing, e.g. deleting what was already deleted).
 *
 * A request that never authenticated (401, or refused before the token was read) has no tenant,
 * hence no tenant audit trail: it is logged as one line without PHI (method, interaction, status).
 */
export interface FhirAudit extends AuditRequestScope {
  interaction: string | undefined;
  params: Record<string, string>;
  /** Set by the HTTP layer once the token is verified. */
  access?: AccessPolicy;
  /** The parsed request body (form parameters of POST _search, the type of a Bundle). */
  body?: unknown;
  /** The resource answered (read result, search Bundle, …). */
  resource?: Resource;
  /**
   * A Bulk Data file sent to a requester whose export is a disclosure (fhir/bulk-export.ts): what
   * it carries, tallied when the job wrote it. Recorded as disclosed once the file was sent in full.
   */
  exported?: { job: string; file: string; disclosed: DisclosedFile };
}

const WRITES = new Set(['create', 'update', 'patch', 'delete']);
const VERSIONED = new Set(['read', 'vread', 'create', 'update', 'patch']);

export function beginFhirAudit(trail: AuditTrail, req: Request, res: Response, router: FhirRouter): FhirAudit {
  let route: ReturnType<FhirRouter['find']>;
  try {
    route = router.find(req.method as HttpMethod, req.path.replace(/^\/+/, ''));
  } catch {
    route = undefined;
  }
  const state: FhirAudit = {
    trail,
    ip: req.ip ?? req.socket.remoteAddress,
    writesAudited: 0,
    interaction: route?.data?.interaction,
    params: route?.params ?? {},
  };
  // The access log and metrics (http/access-log.ts) label the request with its interaction and tenant.
  res.locals.fhirAudit = state;
  // Also when the client goes away before its answer (its database work is cancelled, no
  // 'finish' comes): the attempt is an access like any other, recorded as status 499 (the
  // "client closed request" convention; no response was sent).
  let audited = false;
  const end = () => {
    if (audited) return;
    audited = true;
    try {
      finish(state, req, res.writableFinished ? res.statusCode : CLIENT_CLOSED);
    } catch (err) {
      log.error('audit of a FHIR request failed', { name: (err as Error)?.name });
    }
  };
  res.once('finish', end);
  res.once('close', end);
  return state;
}

const CLIENT_CLOSED = 499;

/** The interaction a request was, as audited: a batch whose Bundle is a transaction is `transaction`. */
export function interactionOf(state: Pick<FhirAudit, 'interaction' | 'body'>): string {
  const body = state.body as { resourceType?: string; type?: string } | undefined;
  const interaction = state.interaction ?? 'operation';
  return interaction === 'batch' && body?.resourceType === 'Bundle' && body.type === 'transaction' ? 'transaction' : interaction;
}

function finish(state: FhirAudit, req: Request, status: number): void {
  const interaction = interactionOf(state);
  const body = state.body as { resourceType?: string; type?: string } | undefined;
  if (!state.access) {
    log.info('FHIR request without an authenticated tenant: not audited per tenant', { method: req.method, interaction, status });
    return;
  }
  // Audited by the write hook in the write's transaction (a transaction bundle: one event for all).
  if ((WRITES.has(interaction) || interaction === 'transaction') && status < 400 && state.writesAudited > 0) return;

  const { resourceType, id, vid } = state.params;
  const ok = status < 400;
  const patients = new Set<string>();
  if (ok) addPatientsOf(state.resource, patients);
  // The resource touched, with the version read or written where there is one.
  const what: string[] = [];
  if (resourceType && id) {
    const returnsVersion = VERSIONED.has(interaction) && ok && state.resource?.resourceType === resourceType;
    const version = vid ?? (returnsVersion ? state.resource?.meta?.versionId : undefined);
    what.push(`${resourceType}/${id}${version ? `/_history/${version}` : ''}`);
  }
  // A disclosure outside the treating clinic (or under break-glass) names every resource that
  // left, for the accounting of disclosures (access/accounting.ts, ./disclosure.ts). Writes are
  // not disclosures: what a client sends is its own.
  let disclosed: RestEventInput['disclosed'];
  if (ok && !WRITES.has(interaction) && interaction !== 'transaction' && isDisclosure(state.access.context)) {
    // An operation on one patient (Patient/x/$mbc-summary) discloses that patient's data even
    // when its answer (Parameters) carries no resource naming them.
    if (resourceType === 'Patient' && id) patients.add(id);
    const byId = state.disclosedByIdOnly ?? [];
    for (const r of byId) addPatientsOf(r, patients);
    const found = disclosedResources(byId.length ? { resourceType: 'Bundle', type: 'collection', entry: [state.resource, ...byId].map((resource) => ({ resource })) } : state.resource);
    if (patients.size > 0) disclosed = found;
  }
  // A downloaded $export file: the job tallied what it carries while writing it (bulk/run.ts).
  // The job's requester decided (its access chose the rows); the downloader is the same client
  // and user (bulk/manifest.ts isRequester).
  const exported = ok && state.exported ? state.exported : undefined;
  if (exported) {
    for (const p of exported.disclosed.patients) patients.add(p);
    if (patients.size > 0) disclosed = { resources: exported.disclosed.resources, more: exported.disclosed.more };
  }
  let query: string | undefined;
  let queryDescription: string | undefined;
  const qs = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
  if (interaction.startsWith('search')) {
    const form = body && typeof body === 'object' && !Array.isArray(body) && !body.resourceType ? new URLSearchParams(body as Record<string, string>).toString() : '';
    query = [qs, form].filter(Boolean).join('&');
    queryDescription = `${resourceType ?? 'system'} search`;
  } else if (interaction === 'operation') {
    queryDescription = req.path.split('/').find((s) => s.startsWith('$'));
    query = qs;
  } else if (interaction.startsWith('history') && qs) {
    query = qs;
    queryDescription = `${interaction}`;
  }
  state.trail.record(
    state.access.tenant,
    restAuditEvent({
      tenant: state.access.tenant,
      context: state.access.context,
      ip: state.ip,
      author: WRITES.has(interaction),
      interaction,
      status,
      outcomeDesc: ok ? undefined : `HTTP ${status}`,
      what,
      query,
      queryDescription,
      patients,
      disclosed,
      entities: exported && disclosed ? [exportJobEntity(exported.job, exported.file)] : undefined,
    })
  );
}

import type { FhirRouter } from '@medplum/fhir-router';
import type { Group } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { isDisclosure } from '../access/accounting.ts';
import type { AccessPolicy } from '../access/policy.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import { type FhirAudit, beginFhirAudit } from '../audit/fhir-audit.ts';
import { readFile, removeJobFiles } from '../bulk/files.ts';
import { deleteJob, getJob, insertJob } from '../bulk/jobs.ts';
import { isRequester, manifestOf, progressText, statusUrl } from '../bulk/manifest.ts';
import { type ExportLevel, parametersToPairs, parseKickoff } from '../bulk/request.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { parseJson } from '../kernel/json.ts';
import { fail, informational } from '../kernel/outcome.ts';
import { Repository } from '../store/repository.ts';

/**
 * The HTTP side of FHIR Bulk Data Access 2.0 $export (https://hl7.org/fhir/uv/bulkdata/export.html),
 * beside the FHIR REST binding (./http.ts) because its answers are not FHIR resources: a 202 with
 * Content-Location, status polling with X-Progress and Retry-After, a JSON manifest, NDJSON files.
 *
 *   GET|POST [base]/$export, [base]/Patient/$export, [base]/Group/[id]/$export   kick-off
 *   GET    [base]/$export-status/[job]     202 while running, 200 + manifest when done
 *   DELETE [base]/$export-status/[job]     cancel: the job and its files are deleted (202)
 *   GET    [base]/$export-file/[job]/[file] one NDJSON file
 *
 * Status and files answer only the client (and user) that kicked the job off; anyone else gets
 * the same 404 as for a job that does not exist. Every request is audited like other FHIR
 * requests (audit/fhir-audit.ts: an `operation`, the operation named by its `$` path segment).
 */
export interface BulkHttpDeps {
  db: Database;
  config: Config;
  router: FhirRouter;
  trail: AuditTrail;
  authenticate: (authorization: string | undefined) => Promise<AccessPolicy>;
  /** Starts the job at once rather than at the worker's next poll. */
  wake(): void;
  sendError(req: Request, res: Response, err: unknown): void;
}

const KICKOFF = /^\/(?:(Patient)\/|Group\/([A-Za-z0-9\-.]{1,64})\/)?\$export$/;
const STATUS = /^\/\$export-status\/([0-9a-f-]{36})$/;
const FILE = /^\/\$export-file\/([0-9a-f-]{36})\/([A-Z][A-Za-z]+\.ndjson)$/;
/** Seconds a client is asked to wait between polls. */
const RETRY_AFTER = '2';

export function bulkExportRoutes(deps: BulkHttpDeps): express.RequestHandler {
  const fhirBase = `${deps.config.baseUrl}/fhir/R4`;
  return async (req: Request, res: Response, next: NextFunction) => {
    const kick = KICKOFF.exec(req.path);
    const status = STATUS.exec(req.path);
    const file = FILE.exec(req.path);
    if (!kick && !status && !file) return next();
    const audit = beginFhirAudit(deps.trail, req, res, deps.router);
    audit.interaction = 'operation';
    audit.params = kick?.[2] ? { resourceType: 'Group', id: kick[2] } : {};
    try {
      const access = await deps.authenticate(req.headers.authorization);
      audit.access = access;
      if (kick && (req.method === 'GET' || req.method === 'POST')) return await kickoff(req, res, access, kick[1] ? 'patient' : kick[2] ? 'group' : 'system', kick[2]);
      if (status && req.method === 'GET') return await poll(res, access, status[1]);
      if (status && req.method === 'DELETE') return await cancel(res, access, status[1]);
      if (file && req.method === 'GET') return await download(res, access, file[1], file[2], audit);
      res.setHeader('Allow', kick ? 'GET, POST' : status ? 'GET, DELETE' : 'GET');
      fail('method-not-allowed', `${req.method} is not supported here`);
    } catch (err) {
      deps.sendError(req, res, err);
    }
  };

  async function kickoff(req: Request, res: Response, access: AccessPolicy, level: ExportLevel, group: string | undefined): Promise<void> {
    // export.html#headers: Accept is application/fhir+json (for an OperationOutcome), Prefer respond-async.
    const accept = req.headers.accept ?? '';
    if (!accept.split(',').some((a) => ['application/fhir+json', 'application/json', '*/*'].includes(a.split(';')[0].trim()))) {
      fail('invalid', `$export needs 'Accept: application/fhir+json'`, 'Accept');
    }
    const prefer = [req.headers.prefer ?? []].flat().join(',');
    if (!/(^|[,;\s])respond-async([,;\s]|$)/.test(prefer)) fail('invalid', `$export is asynchronous: send 'Prefer: respond-async'`, 'Prefer');
    const lenient = /handling\s*=\s*"?lenient/.test(prefer);
    const qs = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
    let pairs = [...new URLSearchParams(qs)] as [string, string][];
    let patientRefs: string[] = [];
    if (req.method === 'POST') {
      const raw = req.body as Buffer | undefined;
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
      if (!Buffer.isBuffer(raw) || raw.length === 0 || !['application/fhir+json', 'application/json'].includes(type)) {
        fail('invalid', 'A POST $export takes a Parameters resource as application/fhir+json');
      }
      let body: unknown;
      try {
        body = parseJson(raw.toString('utf8'));
      } catch {
        fail('invalid', 'The body is not valid JSON');
      }
      const p = parametersToPairs(body);
      pairs = [...pairs, ...p.pairs];
      patientRefs = p.patientRefs;
    }
    const request = parseKickoff({ level, group, pairs, patientRefs, url: `${deps.config.baseUrl}${req.originalUrl}`, lenient, access, fhirBase });
    if (level === 'group' && group) {
      // Read under the caller's access: a Group it may not see answers 404 like a missing one.
      const repo = new Repository(deps.db, { tenant: access.tenant, access, fhirBase, lenient, defaultCount: deps.config.defaultCount, maxCount: deps.config.maxCount });
      const g = await repo.readResource<Group>('Group', group);
      const members = (g.member ?? []).filter((m) => !m.inactive).map((m) => /^(?:.*\/)?Patient\/([^/]+)$/.exec(m.entity.reference ?? '')?.[1]).filter((id): id is string => Boolean(id));
      request.patients = request.patients ? request.patients.filter((p) => members.includes(p)) : [...new Set(members)];
    }
    const id = randomUUID();
    // The same clock as meta.lastUpdated (store/repository.ts), which the job compares it with.
    await insertJob(deps.db, { tenant: access.tenant, id, requester: access.context, request, transactionTime: new Date().toISOString() });
    deps.wake();
    res.setHeader('Content-Location', statusUrl(fhirBase, id));
    res.status(202).type('application/fhir+json; charset=utf-8').send(JSON.stringify(informational(`Export ${id} accepted; poll ${statusUrl(fhirBase, id)}`)));
  }

  async function ownJob(access: AccessPolicy, id: string) {
    const job = await getJob(deps.db, access.tenant, id);
    if (!job || !isRequester(job, access.context)) fail('not-found', `Export ${id} not found`);
    return job;
  }

  async function poll(res: Response, access: AccessPolicy, id: string): Promise<void> {
    const job = await ownJob(access, id);
    if (job.status === 'accepted' || job.status === 'in-progress') {
      res.setHeader('X-Progress', progressText(job));
      res.setHeader('Retry-After', RETRY_AFTER);
      res.status(202).end();
      return;
    }
    if (job.status === 'failed') fail('server-error', job.error ?? 'The export failed');
    const expires = new Date(new Date(job.completed ?? job.transactionTime).getTime() + deps.config.exportRetentionMinutes * 60_000);
    res.setHeader('Expires', expires.toUTCString());
    res.status(200).type('application/json; charset=utf-8').send(JSON.stringify(manifestOf(job, fhirBase)));
  }

  async function cancel(res: Response, access: AccessPolicy, id: string): Promise<void> {
    await ownJob(access, id);
    // A running worker notices at its next page (saveProgress finds no row) and removes what it wrote after this.
    await deleteJob(deps.db, access.tenant, id);
    await removeJobFiles(deps.config.exportDir, access.tenant, id);
    res.status(202).type('application/fhir+json; charset=utf-8').send(JSON.stringify(informational(`Export ${id} cancelled; its files are deleted`)));
  }

  async function download(res: Response, access: AccessPolicy, id: string, name: string, audit: FhirAudit): Promise<void> {
    const job = await ownJob(access, id);
    const entry = job.status === 'completed' ? job.output.find((o) => o.file === name) : undefined;
    const found = entry ? await readFile(deps.config.exportDir, job.tenant, job.id, name) : undefined;
    if (!found) fail('not-found', `File ${name} of export ${id} not found`);
    // Accounting of disclosures (audit/README.md "Disclosures"): each download of a file by a
    // requester outside the treating clinic (or under break-glass) is a disclosure of what the
    // file carries; the REST audit of this request records it once the file was sent in full.
    if (isDisclosure(job.requester) && entry?.disclosed) audit.exported = { job: job.id, file: name, disclosed: entry.disclosed };
    res.status(200).setHeader('Content-Type', 'application/fhir+ndjson');
    res.setHeader('Content-Length', String(found.size));
    await new Promise<void>((resolve, reject) => {
      const s = found.stream();
      s.on('error', reject);
      res.on('close', () => {
        s.destroy();
        resolve();
      });
      s.pipe(res);
    });
  }
}

import { OperationOutcomeError } from '@medplum/core';
import type { Encounter, Patient } from '@medplum/fhirtypes';
import express, { type Request, type Response } from 'express';
import { fail, outcome, statusOf } from '../../kernel/outcome.ts';
import { bodyLimit } from '../../ingress/body-guard.ts';
import { log } from '../../log.ts';
import { Repository } from '../../store/repository.ts';
import { type OAuthClient, listClients } from '../clients.ts';
import { fhirBaseUrl } from '../endpoints.ts';
import type { AuthDeps } from '../index.ts';
import { createLaunchContext } from './index.ts';
import { auditEhrLaunch } from './launch-audit.ts';
import { type Launcher, launcherCaller } from './launcher-client.ts';

/**
 * The EHR side of SMART EHR launch (https://hl7.org/fhir/smart-app-launch/app-launch.html#launch-app-ehr-launch)
 * as a small JSON API for the EHR launcher app (apps/launcher), bearer-token protected:
 *
 *   GET  /auth/launch/apps  → { apps: [{ id, name }] }   the tenant's approved SMART apps with a launch URL
 *   POST /auth/launch       { app, patient, encounter? }
 *                           → 201 { launch, url, app, patient, encounter? }
 *                             url = the app's launch_uri?iss=<FHIR base>&launch=<id>
 *
 * Who may call: launcher-client.ts (a practitioner's token issued to the launcher app). The
 * patient and the encounter are read with that same token through the access layer, so a
 * patient the practitioner may not see answers exactly like one that does not exist (404);
 * the encounter must be the patient's. Every decision after authentication is an AuditEvent
 * (launch-audit.ts). Errors are OperationOutcomes (4xx) naming the field (`expression`).
 */
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const CLIENT_ID = /^[A-Za-z0-9\-._~]{1,128}$/;

function launchable(clients: OAuthClient[]): OAuthClient[] {
  return clients
    .filter((c) => c.kind === 'smart-app' && c.status === 'approved' && !c.disabled && c.launchUri)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** A refusal in the request body: 400 naming the field. */
function idField(body: Record<string, unknown>, name: string, pattern: RegExp, required: boolean): string | undefined {
  const v = body[name];
  if (v === undefined || v === null || v === '') {
    if (required) fail('invalid', `"${name}" is required`, name);
    return undefined;
  }
  if (typeof v !== 'string' || !pattern.test(v)) fail('invalid', `"${name}" must be an id`, name);
  return v;
}

function sendOutcome(req: Request, res: Response, err: unknown): void {
  const o =
    err instanceof OperationOutcomeError
      ? err.outcome
      : (log.error('ehr launch failed', { name: err instanceof Error ? err.name : typeof err, code: (err as { code?: unknown })?.code }),
        outcome('server-error', 'The launch could not be created'));
  const status = statusOf(o);
  if (status === 401) res.set('WWW-Authenticate', req.headers.authorization ? 'Bearer error="invalid_token"' : 'Bearer');
  res.status(status).type('application/fhir+json').send(JSON.stringify(o));
}

export function ehrLaunchApi(deps: AuthDeps): express.Router {
  const { db, config } = deps;
  const router = express.Router();
  const readJson = bodyLimit(16 * 1024, express.json({ limit: 16 * 1024, type: ['application/json', 'application/*+json'] }));

  const repository = (who: Launcher) =>
    new Repository(db, { tenant: who.policy.tenant, access: who.policy, fhirBase: fhirBaseUrl(config), lenient: false, defaultCount: config.defaultCount, maxCount: config.maxCount });

  router.get('/auth/launch/apps', (req, res) => {
    launcherCaller(deps, req)
      .then(async (who) => {
        const apps = launchable(await listClients(db, who.policy.tenant));
        res.json({ apps: apps.map((a) => ({ id: a.id, name: a.name })) });
      })
      .catch((err: unknown) => sendOutcome(req, res, err));
  });

  router.post('/auth/launch', (req, res) => {
    let who: Launcher | undefined;
    const attempt: { app?: string; patient?: string; encounter?: string } = {};
    const run = async () => {
      who = await launcherCaller(deps, req);
      if (!req.is('application/json')) fail('unsupported-media-type', 'Send the launch as application/json');
      await new Promise<void>((resolve, reject) => readJson(req, res, (e?: unknown) => (e ? reject(new OperationOutcomeError(outcome('invalid', 'The body is not valid JSON'))) : resolve())));
      const body = (req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? req.body : {}) as Record<string, unknown>;
      attempt.app = idField(body, 'app', CLIENT_ID, true);
      attempt.patient = idField(body, 'patient', ID, true);
      attempt.encounter = idField(body, 'encounter', ID, false);

      const app = launchable(await listClients(db, who.policy.tenant)).find((a) => a.id === attempt.app);
      if (!app) fail('not-found', `No app "${attempt.app}" to launch`, 'app');

      // Through the access layer with the practitioner's own token: hidden = missing.
      const repo = repository(who);
      const patientId = attempt.patient!;
      try {
        await repo.readResource<Patient>('Patient', patientId);
      } catch (err) {
        const status = err instanceof OperationOutcomeError ? statusOf(err.outcome) : 0;
        if (status === 404 || status === 410) fail('not-found', `Patient/${patientId} not found`, 'patient');
        throw err;
      }
      if (attempt.encounter) {
        let encounter: Encounter;
        try {
          encounter = await repo.readResource<Encounter>('Encounter', attempt.encounter);
        } catch (err) {
          const status = err instanceof OperationOutcomeError ? statusOf(err.outcome) : 0;
          if (status === 404 || status === 410) fail('not-found', `Encounter/${attempt.encounter} not found`, 'encounter');
          throw err;
        }
        const subject = encounter.subject?.reference ?? '';
        if (subject !== `Patient/${patientId}` && !subject.endsWith(`/Patient/${patientId}`)) {
          fail('invalid', 'The encounter is not one of this patient\u2019s encounters', 'encounter');
        }
      }

      const launch = await createLaunchContext(db, { tenant: who.policy.tenant, patient: patientId, encounter: attempt.encounter, createdBy: who.userId });
      const url = new URL(app.launchUri!);
      url.searchParams.set('iss', fhirBaseUrl(config));
      url.searchParams.set('launch', launch);
      await auditEhrLaunch(db, { policy: who.policy, ip: req.ip, app: app.id, patient: patientId, encounter: attempt.encounter, status: 201 });
      res.status(201).json({ launch, url: url.toString(), app: app.id, patient: patientId, ...(attempt.encounter ? { encounter: attempt.encounter } : {}) });
    };
    run().catch(async (err: unknown) => {
      if (who && err instanceof OperationOutcomeError) {
        // Refusals of an authenticated launcher are audited too (no PHI in the text: the status and code).
        const status = statusOf(err.outcome);
        await auditEhrLaunch(db, { policy: who.policy, ip: req.ip, ...attempt, status, refusal: err.outcome.issue?.[0]?.code }).catch(() => undefined);
      }
      sendOutcome(req, res, err);
    });
  });

  return router;
}

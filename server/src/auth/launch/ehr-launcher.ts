import express, { type Request, type Response } from 'express';
import { listClients } from '../clients.ts';
import { fhirBaseUrl } from '../endpoints.ts';
import { readPatient, searchPatients } from '../authorize/patients.ts';
import { type BrowserDeps, field, page, readForm, refuseCsrf, showMessage } from '../pages/common.ts';
import { sendPage } from '../pages/layout.ts';
import { ehrBody } from '../pages/views.ts';
import { checkCsrf, csrfToken, ensureCookie, loadSession } from '../session/index.ts';
import { findUserById, userKind } from '../users/index.ts';
import { createLaunchContext } from './index.ts';

/**
 * Our EHR simulator for SMART EHR launch (https://hl7.org/fhir/smart-app-launch/app-launch.html#launch-app-ehr-launch):
 * a signed-in practitioner picks a patient and one of the tenant's SMART apps that registered a
 * launch URL; the EHR creates a launch context and opens `launch_uri?iss=<FHIR base>&launch=<id>`.
 */
export function ehrRouter(deps: BrowserDeps): express.Router {
  const { db, config } = deps;
  const router = express.Router();

  async function practitioner(req: Request, res: Response) {
    const session = await loadSession(db, config, req);
    if (!session || session.stage !== 'active') {
      res.redirect(303, `/auth/login?tenant=${encodeURIComponent(session?.tenant ?? '')}`);
      return undefined;
    }
    const user = await findUserById(db, session.userId);
    if (!user || userKind(user) !== 'practitioner') {
      showMessage(res, 403, 'Staff only', 'Launching apps from the EHR is for clinic staff.');
      return undefined;
    }
    const apps = (await listClients(db, user.tenant)).filter((c) => c.kind === 'smart-app' && c.launchUri && c.status === 'approved' && !c.disabled);
    return { user, apps };
  }

  router.get(
    '/auth/ehr',
    page(async (req, res) => {
      const p = await practitioner(req, res);
      if (!p) return;
      const patients = await searchPatients(db, config, p.user.tenant, undefined, 50);
      sendPage(res, {
        page: 'ehr',
        title: 'Launch an app',
        formTargets: p.apps.map((a) => new URL(a.launchUri!).origin),
        body: ehrBody({ csrf: csrfToken(ensureCookie(req, res, config)), patients, apps: p.apps.map((a) => ({ id: a.id, name: a.name })) }),
      });
    })
  );

  router.post(
    '/auth/ehr',
    readForm,
    page(async (req, res) => {
      if (!checkCsrf(req)) return refuseCsrf(res);
      const p = await practitioner(req, res);
      if (!p) return;
      const app = p.apps.find((a) => a.id === field(req, 'app'));
      const patient = await readPatient(db, config, p.user.tenant, field(req, 'patient') ?? '');
      if (!app || !patient) return showMessage(res, 400, 'Cannot launch', 'Choose one of the listed patients and apps.');
      const launch = await createLaunchContext(db, { tenant: p.user.tenant, patient: patient.id, createdBy: p.user.id });
      const url = new URL(app.launchUri!);
      url.searchParams.set('iss', fhirBaseUrl(config));
      url.searchParams.set('launch', launch);
      res.redirect(303, url.toString());
    })
  );

  return router;
}

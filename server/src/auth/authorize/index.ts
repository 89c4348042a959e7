import express, { type Request, type Response } from 'express';
import { auditAuthEvent } from '../../audit/auth-events.ts';
import { findClient } from '../clients.ts';
import { fhirBaseUrl } from '../endpoints.ts';
import { type BrowserDeps, clientIp, field, page, readForm, refuseCsrf, requestIdOf, showMessage } from '../pages/common.ts';
import { sendPage } from '../pages/layout.ts';
import { scopeInWords } from '../pages/scope-words.ts';
import { consentBody, pickPatientBody } from '../pages/views.ts';
import { checkCsrf, csrfToken, ensureCookie, loadSession } from '../session/index.ts';
import { type AppUser, findUserById, userKind } from '../users/index.ts';
import { checkAud } from './check-aud.ts';
import { checkClient } from './check-client.ts';
import { checkLaunch } from './check-launch.ts';
import { checkPkce } from './check-pkce.ts';
import { checkRedirectUri } from './check-redirect-uri.ts';
import { checkResponseType } from './check-response-type.ts';
import { checkScope } from './check-scope.ts';
import { AccessDenied, AuthorizeError, ErrorPage, errorRedirect } from './errors.ts';
import { codeRedirect, issueCode } from './issue-code.ts';
import type { Role } from '../../access/context.ts';
import { purposeFromScope } from '../../access/purpose.ts';
import { type Picker, auditPickerListing, linkedPatients, readPatient, searchPatients } from './patients.ts';
import { readParameters } from './read-parameters.ts';
import { type PendingRequest, bindUser, deleteRequest, loadRequest, saveRequest, setPatient } from './request-store.ts';
import { type Grant, isRemembered, remember, resolveGrant } from './resolve-grant.ts';

/**
 * The SMART authorization endpoint (https://hl7.org/fhir/smart-app-launch/app-launch.html,
 * steps "Obtain authorization code"), by GET and by POST ("authorize-post").
 *
 * Request checks, in order (each a file here): read-parameters → check-client →
 * check-redirect-uri (errors so far: a page, never a redirect) → check-response-type →
 * check-pkce → check-aud → check-scope → check-launch (errors: a redirect with `error` and
 * `state`). The checked request is stored (request-store) and the browser continues at
 * /auth/authorize/continue: login and second factor if needed → resolve-grant (scopes for this
 * person, patient context: EHR launch, own record, or the picker) → consent (unless remembered
 * for this user, app, scopes and patient)
 * → issue-code → redirect with `code` and `state`.
 */
export function authorizeRouter(deps: BrowserDeps): express.Router {
  const { db, config } = deps;
  const router = express.Router();
  const fhirBase = fhirBaseUrl(config);

  async function authorize(req: Request, res: Response, raw: Record<string, unknown>): Promise<void> {
    let redirectUri: string;
    let tenant: string;
    let clientId: string;
    let params;
    try {
      params = readParameters(raw);
      const client = await checkClient(db, params);
      redirectUri = checkRedirectUri(client, params);
      tenant = client.tenant;
      clientId = client.id;
      checkResponseType(params);
      const codeChallenge = checkPkce(params);
      checkAud(params, fhirBase);
      const scopes = checkScope(client, params);
      const launch = await checkLaunch(db, tenant, params);
      const id = await saveRequest(db, { tenant, clientId, redirectUri, state: params.state, scopes, codeChallenge, nonce: params.nonce, launch });
      res.redirect(303, `/auth/authorize/continue?request=${id}`);
    } catch (err) {
      if (err instanceof ErrorPage) return showMessage(res, err.status, 'This sign-in request cannot be used', err.message);
      if (err instanceof AuthorizeError) return res.redirect(303, errorRedirect(redirectUri!, err, params?.state));
      throw err;
    }
  }

  router.get('/auth/authorize', page((req, res) => authorize(req, res, req.query as Record<string, unknown>)));
  router.post('/auth/authorize', readForm, page((req, res) => authorize(req, res, (req.body ?? {}) as Record<string, unknown>)));

  /** The request and the signed-in person continuing it; otherwise a page or the login. */
  async function take(req: Request, res: Response, requestId: string | undefined): Promise<{ pending: PendingRequest; user: AppUser; sessionId: string; authTime: number } | undefined> {
    const pending = await loadRequest(db, requestId);
    if (!pending) {
      showMessage(res, 400, 'Sign-in request expired', 'This sign-in request has expired or was already used. Go back to the app and start again.');
      return undefined;
    }
    const session = await loadSession(db, config, req);
    if (!session || session.tenant !== pending.tenant) {
      res.redirect(303, `/auth/login?request=${pending.id}`);
      return undefined;
    }
    if (session.stage !== 'active') {
      res.redirect(303, `/auth/${session.stage === 'mfa' ? 'second-factor' : 'totp/enrol'}?request=${pending.id}`);
      return undefined;
    }
    const user = await findUserById(db, session.userId);
    if (!user || user.disabled || !(await bindUser(db, pending, user.id))) {
      showMessage(res, 403, 'Not your sign-in request', 'This sign-in request was started by another person. Go back to the app and start again.');
      return undefined;
    }
    return { pending, user, sessionId: session.id, authTime: session.authTime };
  }

  /** Sends the browser back to the app with an error; the request ends. */
  async function refuse(res: Response, pending: PendingRequest, err: AuthorizeError): Promise<void> {
    await deleteRequest(db, pending.id);
    res.redirect(303, errorRedirect(pending.redirectUri, err, pending.state));
  }

  async function finish(req: Request, res: Response, t: NonNullable<Awaited<ReturnType<typeof take>>>, grant: Grant): Promise<void> {
    // Single use: only the browser that removes the pending request gets a code.
    if (!(await deleteRequest(db, t.pending.id))) return showMessage(res, 400, 'Sign-in request expired', 'This sign-in request was already used.');
    const launch = t.pending.launch;
    const code = await issueCode(db, {
      request: t.pending,
      user: t.user,
      scopes: grant.scopes,
      context: {
        ...(grant.patient ? { patient: grant.patient } : {}),
        ...(grant.encounter ? { encounter: grant.encounter } : {}),
        ...(launch?.fhirContext ? { fhirContext: launch.fhirContext } : {}),
        need_patient_banner: launch ? (launch.need_patient_banner ?? true) : true,
        smart_style_url: launch?.smart_style_url ?? `${config.baseUrl}/auth/smart-style.json`,
        fhirUser: t.user.fhirUser,
        roles: t.user.roles,
        userId: t.user.id,
        ...(t.pending.nonce !== undefined ? { nonce: t.pending.nonce } : {}),
        auth_time: t.authTime,
        sessionId: t.sessionId,
      },
    });
    void req;
    res.redirect(303, codeRedirect(t.pending.redirectUri, code, t.pending.state));
  }

  /** Everything after login: grant, picker, consent, code. `decision` comes from the consent form. */
  async function proceed(req: Request, res: Response, requestId: string | undefined, decision?: 'approve' | 'deny', query?: string): Promise<void> {
    const t = await take(req, res, requestId);
    if (!t) return;
    const grant = await resolveGrant(deps, t.pending, t.user);
    if (grant instanceof AuthorizeError) return refuse(res, t.pending, grant);
    const client = await findClient(db, t.pending.clientId);
    const appName = client?.name ?? t.pending.clientId;
    const formTargets = [new URL(t.pending.redirectUri).origin];
    const csrf = csrfToken(ensureCookie(req, res, config));
    if (grant.needsPick) {
      const kind = userKind(t.user);
      // Practitioners search among the patients their access reaches; related persons see their links.
      const listing =
        kind === 'practitioner'
          ? await searchPatients(db, config, pickerOf(t.pending.tenant, t.user, t.pending.scopes), query)
          : { patients: await linkedPatients(db, config, t.pending.tenant, t.user.fhirUser), more: false, query: [['link', t.user.fhirUser]] as [string, string][] };
      const who = { tenant: t.pending.tenant, userId: t.user.id, fhirUser: t.user.fhirUser, roles: t.user.roles, clientId: t.pending.clientId, ip: clientIp(req) };
      await auditPickerListing(db, who, listing.query, listing);
      return sendPage(res, {
        page: 'pick-patient',
        title: 'Choose a patient',
        formTargets,
        body: pickPatientBody({ csrf, request: t.pending.id, appName, ...listing, query, canSearch: kind === 'practitioner' }),
      });
    }
    const who = { tenant: t.pending.tenant, userId: t.user.id, fhirUser: t.user.fhirUser, clientId: t.pending.clientId, ip: clientIp(req) };
    if (decision === 'deny') {
      await auditAuthEvent(db, { ...who, action: 'consent', outcome: 'failure', detail: 'denied' });
      return refuse(res, t.pending, new AccessDenied('The user denied the request'));
    }
    if (decision === 'approve') {
      await auditAuthEvent(db, { ...who, action: 'consent', outcome: 'success', detail: `approved: ${grant.scopes.join(' ')}` });
      await remember(db, t.pending.tenant, t.user.id, t.pending.clientId, grant.scopes, grant.patient);
      return finish(req, res, t, grant);
    }
    if (await isRemembered(db, t.pending.tenant, t.user.id, t.pending.clientId, grant.scopes, grant.patient)) return finish(req, res, t, grant);
    const patient = grant.patient ? await readPatient(db, config, t.pending.tenant, grant.patient) : undefined;
    sendPage(res, {
      page: 'consent',
      title: `Allow ${appName}`,
      formTargets,
      body: consentBody({ csrf, request: t.pending.id, appName, scopes: grant.scopes.map(scopeInWords), patientName: patient?.name }),
    });
  }

  router.get(
    '/auth/authorize/continue',
    page((req, res) => proceed(req, res, requestIdOf(req.query.request), undefined, typeof req.query.q === 'string' ? req.query.q : undefined))
  );

  // The picker's search form sends GET here too (no JavaScript needed).
  router.get(
    '/auth/authorize/pick',
    page(async (req, res) => {
      const id = requestIdOf(req.query.request);
      res.redirect(303, `/auth/authorize/continue?request=${id ?? ''}${typeof req.query.q === 'string' ? `&q=${encodeURIComponent(req.query.q)}` : ''}`);
    })
  );

  router.post(
    '/auth/authorize/pick',
    readForm,
    page(async (req, res) => {
      if (!checkCsrf(req)) return refuseCsrf(res);
      const requestId = requestIdOf(field(req, 'request'));
      const t = await take(req, res, requestId);
      if (!t) return;
      const chosen = field(req, 'patient') ?? '';
      const kind = userKind(t.user);
      const allowed =
        kind === 'practitioner'
          ? (await readPatient(db, config, t.pending.tenant, chosen, pickerOf(t.pending.tenant, t.user, t.pending.scopes))) !== undefined
          : kind === 'related-person' && (await linkedPatients(db, config, t.pending.tenant, t.user.fhirUser)).some((p) => p.id === chosen);
      if (!allowed) return showMessage(res, 400, 'Patient not available', 'Choose one of the patients listed.');
      await setPatient(db, t.pending.id, chosen);
      res.redirect(303, `/auth/authorize/continue?request=${t.pending.id}`);
    })
  );

  router.post(
    '/auth/authorize/consent',
    readForm,
    page(async (req, res) => {
      if (!checkCsrf(req)) return refuseCsrf(res);
      const decision = field(req, 'decision');
      if (decision !== 'approve' && decision !== 'deny') return showMessage(res, 400, 'No decision', 'Choose Allow or Deny.');
      await proceed(req, res, requestIdOf(field(req, 'request')), decision);
    })
  );

  return router;
}

/** The practitioner choosing a patient, as the access decision point sees her (with the purpose of use her token will carry). */
function pickerOf(tenant: string, user: { id: string; fhirUser: string; roles: Role[] }, scopes: string[]): Picker {
  return { tenant, userId: user.id, fhirUser: user.fhirUser, roles: user.roles, purposeOfUse: purposeFromScope(scopes.join(' '), user.roles) };
}

import express, { type Request, type Response } from 'express';
import { auditAuthEvent } from '../../audit/auth-events.ts';
import { findClient } from '../clients.ts';
import { loadRequest } from '../authorize/request-store.ts';
import {
  type BrowserDeps,
  afterLogin,
  clientIp,
  field,
  page,
  readForm,
  refuseCsrf,
  requestIdOf,
  showMessage,
  withRequest,
} from '../pages/common.ts';
import { sendPage } from '../pages/layout.ts';
import { treats } from '../../access/purpose.ts';
import { enrolBody, homeBody, loginBody, messageBody, recoveryBody, recoveryCodesBody, secondFactorBody } from '../pages/views.ts';
import {
  type AppUser,
  LOCKOUT_MINUTES,
  claimTotpStep,
  clearFailures,
  findUserById,
  findUserByUsername,
  isLocked,
  recordFailure,
  setTotpSecret,
  totpSecretOf,
  userKind,
} from '../users/index.ts';
import { dummyHash, verifyPassword } from '../users/password.ts';
import { issueRecoveryCodes, useRecoveryCode } from '../users/recovery-codes.ts';
import { matchingStep, newTotpSecret, otpauthUri } from '../users/totp.ts';
import { RateLimit } from '../rate-limit.ts';
import { LOGIN_LIMIT_PER_IP, LOGIN_LIMIT_PER_USERNAME, LOGIN_WINDOW_MS } from './rate-limit.ts';
import {
  type Session,
  activateSession,
  checkCsrf,
  clearCookie,
  csrfToken,
  endSession,
  ensureCookie,
  loadSession,
  startSession,
} from './index.ts';

/**
 * Login (password), second factor (TOTP, RFC 6238, or a recovery code), TOTP enrolment, logout.
 * Practitioners MUST have a second factor: one without a TOTP enrols at first login. Five
 * consecutive failures (password or code) lock the account for 15 minutes; attempts are also
 * rate limited per IP and per username. Every outcome is an auth audit event.
 */
const BAD_LOGIN = 'The username or password is incorrect.';
const LOCKED = `This account is locked after too many failed attempts. Try again in ${LOCKOUT_MINUTES} minutes or ask your administrator.`;

export function loginRouter(deps: BrowserDeps): express.Router {
  const { db, config } = deps;
  const router = express.Router();
  const perIp = new RateLimit(db, 'login-ip', LOGIN_LIMIT_PER_IP, LOGIN_WINDOW_MS);
  const perUsername = new RateLimit(db, 'login-username', LOGIN_LIMIT_PER_USERNAME, LOGIN_WINDOW_MS);

  async function loginContext(requestId: string | undefined): Promise<{ tenant?: string; appName?: string; expired: boolean; formTargets?: string[] }> {
    if (!requestId) return { expired: false };
    const pending = await loadRequest(db, requestId);
    if (!pending) return { expired: true };
    const client = await findClient(db, pending.clientId);
    return { tenant: pending.tenant, appName: client?.name, expired: false, formTargets: [new URL(pending.redirectUri).origin] };
  }

  /**
   * Origins our forms may end up redirecting to: with an authorization request, the app's
   * redirect URI (a remembered consent sends the browser straight back after the last form).
   */
  async function targets(requestId: string | undefined): Promise<string[]> {
    return (await loginContext(requestId)).formTargets ?? [];
  }

  function showLogin(req: Request, res: Response, o: { status?: number; requestId?: string; tenant?: string; appName?: string; username?: string; error?: string; formTargets?: string[] }): void {
    const cookie = ensureCookie(req, res, config);
    sendPage(res, {
      page: 'login',
      formTargets: o.formTargets,
      title: 'Sign in',
      status: o.status,
      body: loginBody({ csrf: csrfToken(cookie), request: o.requestId, tenant: o.tenant, appName: o.appName, username: o.username, error: o.error }),
    });
  }

  router.get(
    '/auth/login',
    page(async (req, res) => {
      const requestId = requestIdOf(req.query.request);
      const ctx = await loginContext(requestId);
      if (ctx.expired) return showMessage(res, 400, 'Sign-in request expired', 'This sign-in request has expired. Go back to the app and start again.');
      const tenant = ctx.tenant ?? (typeof req.query.tenant === 'string' ? req.query.tenant : undefined);
      showLogin(req, res, { requestId, tenant, appName: ctx.appName, formTargets: ctx.formTargets });
    })
  );

  router.post(
    '/auth/login',
    readForm,
    page(async (req, res) => {
      if (!checkCsrf(req)) return refuseCsrf(res);
      const requestId = requestIdOf(field(req, 'request'));
      const ctx = await loginContext(requestId);
      if (ctx.expired) return showMessage(res, 400, 'Sign-in request expired', 'This sign-in request has expired. Go back to the app and start again.');
      const tenant = (ctx.tenant ?? field(req, 'tenant') ?? '').trim();
      const username = (field(req, 'username') ?? '').trim();
      const password = field(req, 'password') ?? '';
      const ip = clientIp(req);
      const again = (status: number, error: string) =>
        showLogin(req, res, { status, requestId, tenant: ctx.tenant ? undefined : tenant, appName: ctx.appName, username, error, formTargets: ctx.formTargets });
      if (!tenant || !username || !password) return again(400, 'Enter your clinic, username and password.');

      // A username that matches nobody is never recorded: people type their password into the
      // username field. Failures against an unknown name still show up by address and count.
      const wait = (await perIp.hit(ip)) || (await perUsername.hit(`${tenant}\0${username.toLowerCase()}`));
      if (wait > 0) {
        const known = await findUserByUsername(db, tenant, username);
        await auditAuthEvent(db, { tenant, action: 'login', outcome: 'failure', userId: known?.id, fhirUser: known?.fhirUser, ip, detail: 'rate limited' });
        res.set('Retry-After', String(wait));
        return again(429, 'Too many sign-in attempts. Wait a few minutes and try again.');
      }

      const user = await findUserByUsername(db, tenant, username);
      if (!user || user.disabled) {
        await verifyPassword(password, await dummyHash()); // same time as a real check: no user enumeration
        await auditAuthEvent(db, { tenant, action: 'login', outcome: 'failure', userId: user?.id, fhirUser: user?.fhirUser, ip, detail: user ? 'disabled' : 'unknown user' });
        return again(401, BAD_LOGIN);
      }
      const who = { tenant, userId: user.id, fhirUser: user.fhirUser, ip };
      // Only someone who knows the password learns that the account is locked: a wrong password
      // answers like an unknown username, locked or not, so failures cannot probe for usernames.
      const passwordOk = await verifyPassword(password, user.passwordHash);
      if (await isLocked(db, user)) {
        await auditAuthEvent(db, { ...who, action: 'login', outcome: 'failure', detail: passwordOk ? 'locked' : 'locked; wrong password' });
        return passwordOk ? again(403, LOCKED) : again(401, BAD_LOGIN);
      }
      if (!passwordOk) {
        const locked = await recordFailure(db, user);
        await auditAuthEvent(db, { ...who, action: 'login', outcome: 'failure', detail: 'wrong password' });
        if (locked) await auditAuthEvent(db, { ...who, action: 'lockout', outcome: 'success', detail: `${LOCKOUT_MINUTES} minutes` });
        return again(401, BAD_LOGIN);
      }

      const practitioner = userKind(user) === 'practitioner';
      if (user.totpEnrolled) {
        await startSession(db, config, req, res, { tenant, userId: user.id, stage: 'mfa' });
        await auditAuthEvent(db, { ...who, action: 'login', outcome: 'success', detail: 'password; second factor due' });
        return res.redirect(303, withRequest('/auth/second-factor', requestId));
      }
      if (practitioner) {
        await startSession(db, config, req, res, { tenant, userId: user.id, stage: 'enrol', pendingTotpSecret: newTotpSecret() });
        await auditAuthEvent(db, { ...who, action: 'login', outcome: 'success', detail: 'password; TOTP enrolment due' });
        return res.redirect(303, withRequest('/auth/totp/enrol', requestId));
      }
      await startSession(db, config, req, res, { tenant, userId: user.id, stage: 'active' });
      await clearFailures(db, user);
      await auditAuthEvent(db, { ...who, action: 'login', outcome: 'success', detail: 'password' });
      res.redirect(303, afterLogin(requestId));
    })
  );

  /** The session in the given stage and its user, or a redirect to the login page. */
  async function sessionIn(req: Request, res: Response, stage: Session['stage'], requestId: string | undefined): Promise<{ session: Session; user: AppUser } | undefined> {
    const session = await loadSession(db, config, req);
    const user = session && (await findUserById(db, session.userId));
    if (!session || !user || session.stage !== stage) {
      if (session && !user) await endSession(db, session.id);
      const where = !session || !user ? '/auth/login' : session.stage === 'mfa' ? '/auth/second-factor' : session.stage === 'enrol' ? '/auth/totp/enrol' : undefined;
      res.redirect(303, where ? withRequest(where, requestId) : afterLogin(requestId));
      return undefined;
    }
    return { session, user };
  }

  /** A wrong code: counts toward lockout; a lockout ends the half-open session. */
  async function codeFailure(req: Request, res: Response, s: { session: Session; user: AppUser }, requestId: string | undefined, show: (error: string) => void | Promise<void>, detail: string): Promise<void> {
    const who = { tenant: s.user.tenant, userId: s.user.id, fhirUser: s.user.fhirUser, ip: clientIp(req) };
    const locked = await recordFailure(db, s.user);
    await auditAuthEvent(db, { ...who, action: 'second-factor', outcome: 'failure', detail });
    if (locked) {
      await auditAuthEvent(db, { ...who, action: 'lockout', outcome: 'success', detail: `${LOCKOUT_MINUTES} minutes` });
      await endSession(db, s.session.id);
      clearCookie(res, config);
      return showMessage(res, 403, 'Account locked', LOCKED);
    }
    await show(detail === 'wrong recovery code' ? 'That recovery code is not valid or was used already.' : 'That code is not valid. Enter the current code from your authenticator app.');
    void requestId;
  }

  async function secondFactorDone(req: Request, res: Response, s: { session: Session; user: AppUser }, requestId: string | undefined, detail: string): Promise<void> {
    await activateSession(db, s.session.id);
    await clearFailures(db, s.user);
    await auditAuthEvent(db, { tenant: s.user.tenant, userId: s.user.id, fhirUser: s.user.fhirUser, ip: clientIp(req), action: 'second-factor', outcome: 'success', detail });
    res.redirect(303, afterLogin(requestId));
  }

  const showCode = (kind: 'second-factor' | 'recovery') => async (req: Request, res: Response, requestId: string | undefined, status?: number, error?: string) =>
    sendPage(res, {
      page: kind,
      formTargets: await targets(requestId),
      title: kind === 'second-factor' ? 'Verification code' : 'Recovery code',
      status,
      body: (kind === 'second-factor' ? secondFactorBody : recoveryBody)({ csrf: csrfToken(ensureCookie(req, res, config)), request: requestId, error }),
    });

  for (const kind of ['second-factor', 'recovery'] as const) {
    const show = showCode(kind);
    router.get(
      `/auth/${kind}`,
      page(async (req, res) => {
        const requestId = requestIdOf(req.query.request);
        if (await sessionIn(req, res, 'mfa', requestId)) await show(req, res, requestId);
      })
    );
    router.post(
      `/auth/${kind}`,
      readForm,
      page(async (req, res) => {
        if (!checkCsrf(req)) return refuseCsrf(res);
        const requestId = requestIdOf(field(req, 'request'));
        const s = await sessionIn(req, res, 'mfa', requestId);
        if (!s) return;
        if (await isLocked(db, s.user)) return showMessage(res, 403, 'Account locked', LOCKED);
        const code = (field(req, 'code') ?? '').trim();
        let ok: boolean;
        if (kind === 'second-factor') {
          const secret = await totpSecretOf(db, s.user);
          const step = secret === undefined ? undefined : matchingStep(secret, code.replace(/\s/g, ''), Date.now());
          // RFC 6238 §5.2: a code is accepted once; a used (or older) step is refused.
          ok = step !== undefined && (await claimTotpStep(db, s.user, step));
        } else {
          ok = await useRecoveryCode(db, s.user.tenant, s.user.id, code);
        }
        if (!ok) return codeFailure(req, res, s, requestId, (error) => show(req, res, requestId, 401, error), kind === 'second-factor' ? 'wrong TOTP code' : 'wrong recovery code');
        await secondFactorDone(req, res, s, requestId, kind === 'second-factor' ? 'TOTP' : 'recovery code');
      })
    );
  }

  const showEnrol = async (req: Request, res: Response, s: { session: Session; user: AppUser }, requestId: string | undefined, status?: number, error?: string) => {
    const secret = s.session.pendingTotpSecret ?? '';
    sendPage(res, {
      page: 'totp-enrol',
      formTargets: await targets(requestId),
      title: 'Set up your authenticator',
      status,
      body: enrolBody({ csrf: csrfToken(ensureCookie(req, res, config)), request: requestId, secret, uri: otpauthUri(secret, 'BH FHIR', `${s.user.username}@${s.user.tenant}`), error }),
    });
  };

  router.get(
    '/auth/totp/enrol',
    page(async (req, res) => {
      const requestId = requestIdOf(req.query.request);
      const s = await sessionIn(req, res, 'enrol', requestId);
      if (s) await showEnrol(req, res, s, requestId);
    })
  );

  router.post(
    '/auth/totp/enrol',
    readForm,
    page(async (req, res) => {
      if (!checkCsrf(req)) return refuseCsrf(res);
      const requestId = requestIdOf(field(req, 'request'));
      const s = await sessionIn(req, res, 'enrol', requestId);
      if (!s) return;
      const secret = s.session.pendingTotpSecret;
      const step = secret === undefined ? undefined : matchingStep(secret, (field(req, 'code') ?? '').replace(/\s/g, ''), Date.now());
      if (secret === undefined || step === undefined) {
        return codeFailure(req, res, s, requestId, (error) => showEnrol(req, res, s, requestId, 401, error), 'wrong TOTP code at enrolment');
      }
      await setTotpSecret(db, s.user, secret, step);
      const codes = await issueRecoveryCodes(db, s.user.tenant, s.user.id);
      await activateSession(db, s.session.id);
      await clearFailures(db, s.user);
      await auditAuthEvent(db, { tenant: s.user.tenant, userId: s.user.id, fhirUser: s.user.fhirUser, ip: clientIp(req), action: 'second-factor', outcome: 'success', detail: 'TOTP enrolled' });
      sendPage(res, {
        page: 'recovery-codes',
        formTargets: await targets(requestId),
        title: 'Recovery codes',
        body: recoveryCodesBody({ csrf: csrfToken(ensureCookie(req, res, config)), request: requestId, codes }),
      });
    })
  );

  router.post(
    '/auth/continue',
    readForm,
    page(async (req, res) => {
      if (!checkCsrf(req)) return refuseCsrf(res);
      res.redirect(303, afterLogin(requestIdOf(field(req, 'request'))));
    })
  );

  router.get(
    '/auth/',
    page(async (req, res) => {
      const s = await sessionIn(req, res, 'active', undefined);
      if (!s) return;
      sendPage(res, {
        page: 'home',
        title: 'Signed in',
        body: homeBody({ csrf: csrfToken(ensureCookie(req, res, config)), name: s.user.displayName ?? s.user.username, isPractitioner: userKind(s.user) === 'practitioner', canBreakGlass: userKind(s.user) === 'practitioner' && treats(s.user.roles) }),
      });
    })
  );

  // Logout is a POST with the CSRF token: a cross-site link or image cannot end a session.
  router.post(
    '/auth/logout',
    readForm,
    page(async (req, res) => {
      if (!checkCsrf(req)) return refuseCsrf(res);
      const session = await loadSession(db, config, req);
      if (session) {
        await endSession(db, session.id);
        const user = await findUserById(db, session.userId);
        await auditAuthEvent(db, { tenant: session.tenant, userId: session.userId, fhirUser: user?.fhirUser, ip: clientIp(req), action: 'logout', outcome: 'success' });
      }
      clearCookie(res, config);
      sendPage(res, { page: 'logged-out', title: 'Signed out', body: messageBody({ title: 'Signed out', message: 'You are signed out. You can close this window.' }) });
    })
  );

  return router;
}

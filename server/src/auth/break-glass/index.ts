import express, { type Request, type Response } from 'express';
import { breakGlassMinutes, breakGlassUntil, treats } from '../../access/purpose.ts';
import { systemClock } from '../../clock.ts';
import type { AuthDeps } from '../index.ts';
import { clientIp, field, page, readForm, refuseCsrf, showMessage } from '../pages/common.ts';
import { sendPage } from '../pages/layout.ts';
import { checkCsrf, csrfToken, ensureCookie, loadSession } from '../session/index.ts';
import { type AppUser, findUserById, userKind } from '../users/index.ts';
import { breakGlassBody, breakGlassStartedBody } from './page.ts';
import { startBreakGlass } from './start.ts';

/**
 * GET/POST /auth/break-glass: the page where a signed-in clinician, care manager or supervisor
 * starts emergency access (./start.ts). Anyone else gets 403; without a full sign-in, the login.
 * A reason of 10 to 1000 characters is required; a shorter or longer one changes nothing.
 */
const MIN_REASON = 10;
const MAX_REASON = 1000;

export function breakGlassRouter(deps: AuthDeps): express.Router {
  const { db, config } = deps;
  const clock = deps.clock ?? systemClock;
  const router = express.Router();

  async function signedIn(req: Request, res: Response): Promise<AppUser | undefined> {
    const session = await loadSession(db, config, req);
    const user = session?.stage === 'active' ? await findUserById(db, session.userId) : undefined;
    if (!session || !user || user.disabled || user.tenant !== session.tenant) {
      res.redirect(303, '/auth/login');
      return undefined;
    }
    if (userKind(user) !== 'practitioner' || !treats(user.roles)) {
      showMessage(res, 403, 'Not available', 'Emergency access is for clinicians, care managers and supervisors.');
      return undefined;
    }
    return user;
  }

  function form(req: Request, res: Response, o: { until?: Date; reason?: string; error?: string }, status = 200): void {
    sendPage(res, {
      page: 'break-glass',
      title: 'Emergency access',
      status,
      body: breakGlassBody({ csrf: csrfToken(ensureCookie(req, res, config)), minutes: breakGlassMinutes(), ...o }),
    });
  }

  router.get(
    '/auth/break-glass',
    page(async (req, res) => {
      const user = await signedIn(req, res);
      if (!user) return;
      form(req, res, { until: await breakGlassUntil(db, user.tenant, user.id, clock.now()) });
    })
  );

  router.post(
    '/auth/break-glass',
    readForm,
    page(async (req, res) => {
      if (!checkCsrf(req)) return refuseCsrf(res);
      const user = await signedIn(req, res);
      if (!user) return;
      const reason = (field(req, 'reason') ?? '').trim();
      if (reason.length < MIN_REASON || reason.length > MAX_REASON) {
        return form(req, res, { reason: reason.slice(0, MAX_REASON), error: `reason: state why you need emergency access, in ${MIN_REASON} to ${MAX_REASON} characters.` }, 400);
      }
      const { until, notified } = await startBreakGlass({ db, config, clock, hooks: deps.hooks }, user, reason, clientIp(req));
      sendPage(res, { page: 'break-glass-started', title: 'Emergency access is on', body: breakGlassStartedBody({ until, notified }) });
    })
  );

  return router;
}

import { OperationOutcomeError } from '@medplum/core';
import express, { type Request, type Response } from 'express';
import type { AccessPolicy } from '../../access/policy.ts';
import { type AuthAction, auditAuthEvent } from '../../audit/auth-events.ts';
import { fail, outcome, statusOf } from '../../kernel/outcome.ts';
import { bodyLimit } from '../../ingress/body-guard.ts';
import { log } from '../../log.ts';
import { type AuthDeps, authenticate } from '../index.ts';
import { type AccountView, type AdminActor, disableUser, enableUser, setUserRoles } from './account-admin.ts';

/**
 * The tenant admin's account API (the same operations as the CLI's `user disable|enable|set-roles`,
 * through account-admin.ts), bearer-token protected like POST /auth/clients/{id}/approve:
 *
 *   POST /auth/users/{username}/disable                     → 200 { username, fhirUser, roles, disabled }
 *   POST /auth/users/{username}/enable                      → 200 …
 *   PUT  /auth/users/{username}/roles  { "roles": [ … ] }   → 200 …
 *
 * Who may call: a person's token carrying the tenant-admin role; it acts on its own tenant only
 * (another tenant's account answers like an unknown one, 404). Errors are OperationOutcomes:
 * 401 without a valid token, 403 without the role, 404 unknown user, 400 naming a bad field.
 * Every decision after authentication is an AuditEvent (successes by account-admin.ts, refusals here).
 */
const ACTIONS: Record<string, AuthAction> = { disable: 'user-disabled', enable: 'user-enabled', roles: 'user-roles-changed' };
const MAX_BODY = 16 * 1024;

export function accountAdminApi(deps: AuthDeps): express.Router {
  const router = express.Router();
  const readJson = bodyLimit(MAX_BODY, express.json({ limit: MAX_BODY, type: ['application/json', 'application/*+json'] }));

  const handle =
    (name: 'disable' | 'enable' | 'roles', act: (req: Request, tenant: string, username: string, actor: AdminActor) => Promise<AccountView>) =>
    async (req: Request, res: Response): Promise<void> => {
      res.set('Cache-Control', 'no-store');
      let policy: AccessPolicy | undefined;
      try {
        policy = await authenticate(deps, req.get('authorization'));
        const c = policy.context;
        if (!c.userId || !(c.roles ?? []).includes('tenant-admin')) fail('forbidden', 'Changing user accounts needs the tenant-admin role');
        const actor: AdminActor = { userId: c.userId, fhirUser: c.fhirUser, roles: c.roles, clientId: c.clientId, ip: req.ip, via: 'api' };
        res.status(200).json(await act(req, policy.tenant, String(req.params.username), actor));
      } catch (err) {
        const o =
          err instanceof OperationOutcomeError
            ? err.outcome
            : (log.error('account admin failed', { name: err instanceof Error ? err.name : typeof err, code: (err as { code?: unknown })?.code }),
              outcome('server-error', 'The account could not be changed'));
        const status = statusOf(o);
        if (policy) await auditRefusal(deps, policy, req, ACTIONS[name], status).catch(() => undefined);
        if (status === 401) res.set('WWW-Authenticate', req.headers.authorization ? 'Bearer error="invalid_token"' : 'Bearer');
        res.status(status).type('application/fhir+json').send(JSON.stringify(o));
      }
    };

  router.post('/auth/users/:username/disable', handle('disable', (_req, tenant, username, actor) => disableUser(deps.db, tenant, username, actor)));
  router.post('/auth/users/:username/enable', handle('enable', (_req, tenant, username, actor) => enableUser(deps.db, tenant, username, actor)));
  router.put(
    '/auth/users/:username/roles',
    (req, res, next) =>
      readJson(req, res, (parseError?: unknown) => {
        if (parseError) req.body = undefined;
        next();
      }),
    handle('roles', async (req, tenant, username, actor) => {
      const body = req.is('application/json') || req.is('application/*+json') ? (req.body as { roles?: unknown } | undefined) : undefined;
      if (!body || typeof body !== 'object') fail('invalid', 'The body must be JSON: {"roles": ["clinician", …]}');
      const roles = body.roles;
      if (!Array.isArray(roles) || roles.length === 0 || !roles.every((r) => typeof r === 'string')) {
        fail('invalid', '"roles" must be a non-empty array of role codes', 'roles');
      }
      return setUserRoles(deps.db, tenant, username, roles as string[], actor);
    })
  );
  return router;
}

/** A refused request by an authenticated caller: who tried what, and the status it got. No body content is recorded. */
async function auditRefusal(deps: AuthDeps, policy: AccessPolicy, req: Request, action: AuthAction, status: number): Promise<void> {
  const c = policy.context;
  await auditAuthEvent(deps.db, {
    tenant: policy.tenant,
    action,
    outcome: 'failure',
    userId: c.userId,
    fhirUser: c.fhirUser,
    clientId: c.clientId,
    ip: req.ip,
    detail: `HTTP ${status}`,
  });
}

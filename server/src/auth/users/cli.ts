import type { Role } from '../../access/context.ts';
import { ADMIN_CLI_CLIENT, type AuthAction, auditAuthEvent } from '../../audit/auth-events.ts';
import type { Database } from '../../db/database.ts';
import { fail } from '../../kernel/outcome.ts';
import { type AppUser, createUser, listUsers, resetMfa, unlockUser } from './index.ts';
import { disableUser, enableUser, setUserRoles } from './account-admin.ts';
import { isTotpSecret, totpNow } from './totp.ts';

/**
 * The `user …` and `totp` commands of the admin CLI (server/src/cli/run.ts delegates here).
 * Usage errors are thrown as `fail('invalid', …)`, which the CLI reports with exit code 1.
 */
export const USER_USAGE = `  user create --tenant T --username U --password P --role clinician[,supervisor] --fhir-user Practitioner/x [--totp-secret S] [--display-name N]
      Creates a login. Roles: clinician, supervisor, care-manager, front-desk, tenant-admin, privacy-officer
      (with Practitioner/x), patient (Patient/y) or related-person (RelatedPerson/z).
      Practitioners without --totp-secret enrol a TOTP at their first login.
  user list --tenant T
  user unlock --tenant T --username U
      Clears a lockout (5 failed attempts lock an account for 15 minutes).
  user reset-mfa --tenant T --username U
      Forgets the TOTP secret and recovery codes; a practitioner enrols again at the next login.
  user disable --tenant T --username U
      Offboards: sign-in refused, sessions ended, every token of the user revoked at once on every
      server process (refresh gives invalid_grant). Audited.
  user enable --tenant T --username U
      Allows sign-in again (revoked tokens stay revoked). Audited.
  user set-roles --tenant T --username U --role clinician[,supervisor]
      Replaces the roles. The user's access tokens are revoked at once; a refresh issues tokens
      with the new roles. Audited.
  totp --secret S
      Prints the current RFC 6238 code of a base32 secret (for the demo logins). No database needed.`;

export const USER_COMMANDS = ['user create', 'user list', 'user unlock', 'user reset-mfa', 'user disable', 'user enable', 'user set-roles', 'totp'];

export interface UserCommandValues {
  tenant?: string;
  username?: string;
  password?: string;
  role?: string;
  'fhir-user'?: string;
  'totp-secret'?: string;
  'display-name'?: string;
  secret?: string;
}

const need = (v: UserCommandValues, name: keyof UserCommandValues): string => {
  const value = v[name];
  if (typeof value !== 'string' || value.trim() === '') fail('invalid', `--${name} is required`);
  return value;
};

/** An admin action on a user is an AuditEvent of the user's tenant, as the same action over HTTP would be. */
async function audit(db: Database, action: AuthAction, user: AppUser, detail?: string): Promise<void> {
  await auditAuthEvent(db, { tenant: user.tenant, action, outcome: 'success', clientId: ADMIN_CLI_CLIENT, subject: { userId: user.id, fhirUser: user.fhirUser }, detail });
}

export async function runUserCommand(command: string, v: UserCommandValues, database: () => Promise<Database>, out: (line: string) => void): Promise<number> {
  switch (command) {
    case 'totp': {
      const secret = need(v, 'secret');
      if (!isTotpSecret(secret)) fail('invalid', '--secret must be a base32 TOTP secret');
      out(totpNow(secret));
      return 0;
    }
    case 'user create': {
      const db = await database();
      const user = await createUser(db, {
        tenant: need(v, 'tenant'),
        username: need(v, 'username'),
        password: need(v, 'password'),
        roles: need(v, 'role').split(',').map((r) => r.trim()) as Role[],
        fhirUser: need(v, 'fhir-user'),
        displayName: v['display-name'],
        totpSecret: v['totp-secret'],
      });
      await audit(db, 'user-created', user, `roles ${user.roles.join(',')}`);
      out(`Created user ${user.username} (${user.roles.join(', ')}, ${user.fhirUser}) in tenant ${user.tenant}; id ${user.id}`);
      return 0;
    }
    case 'user list': {
      const users = await listUsers(await database(), need(v, 'tenant'));
      if (users.length === 0) out('(none)');
      for (const u of users) {
        const locked = u.lockedUntil && u.lockedUntil > new Date() ? ' LOCKED' : '';
        out(`${u.username}  ${u.roles.join(',')}  ${u.fhirUser}  ${u.totpEnrolled ? 'totp' : 'no-totp'}${locked}${u.disabled ? ' disabled' : ''}`);
      }
      return 0;
    }
    case 'user unlock': {
      const db = await database();
      await audit(db, 'user-unlocked', await unlockUser(db, need(v, 'tenant'), need(v, 'username')));
      out(`Unlocked ${v.username}`);
      return 0;
    }
    case 'user reset-mfa': {
      const db = await database();
      await audit(db, 'mfa-reset', await resetMfa(db, need(v, 'tenant'), need(v, 'username')));
      out(`Reset the second factor of ${v.username}; they enrol again at their next login`);
      return 0;
    }
    case 'user disable': {
      const u = await disableUser(await database(), need(v, 'tenant'), need(v, 'username'), { via: 'cli' });
      out(`Disabled ${u.username}; their sessions and tokens are revoked`);
      return 0;
    }
    case 'user enable': {
      const u = await enableUser(await database(), need(v, 'tenant'), need(v, 'username'), { via: 'cli' });
      out(`Enabled ${u.username}; they may sign in again`);
      return 0;
    }
    case 'user set-roles': {
      const roles = need(v, 'role').split(',').map((r) => r.trim()).filter(Boolean);
      const u = await setUserRoles(await database(), need(v, 'tenant'), need(v, 'username'), roles, { via: 'cli' });
      out(`${u.username} now has roles ${u.roles.join(', ')}; their access tokens are revoked, a refresh gets the new roles`);
      return 0;
    }
    default:
      fail('invalid', `Unknown command "${command}"`);
  }
}

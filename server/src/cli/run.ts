import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { OperationOutcomeError } from '@medplum/core';
import { ADMIN_CLI_CLIENT, type AuthEvent, auditAuthEvent } from '../audit/auth-events.ts';
import { verifyChain } from '../audit/hash-chain.ts';
import { findClient, listClients, registerBackendClient, setClientPurposes } from '../auth/clients.ts';
import { type AuthMethod, approveClient, registerSmartApp } from '../auth/clients/smart-app.ts';
import { rotateSigningKeys } from '../auth/keys.ts';
import type { Database } from '../db/database.ts';
import { sealSecrets } from '../db/secret-columns.ts';
import { formatSecretKey, newSecretKey } from '../db/secret-keys.ts';
import { createTenant, listTenants } from '../tenant/tenants.ts';
import { MACHINE_PURPOSES } from '../access/purpose.ts';
import { generateClientKey, requestToken } from './backend-key.ts';
import { USER_COMMANDS, USER_USAGE, runUserCommand } from '../auth/users/cli.ts';

/**
 * The admin CLI (`npm run cli -- <command>`): tenants and backend-service clients.
 * Arguments are checked before the database is opened, so a typo costs nothing.
 * Exit codes: 0 done, 1 the operation was refused (exists, not found, invalid key), 2 bad usage.
 */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Opens the database the way the server does; called at most once, only when a command needs it. */
  openDb(): Promise<Database>;
}

export const USAGE = `Usage: npm run cli -- <command>

  tenant create <id> [--name NAME]
  tenant list
  client register --tenant T --name NAME (--jwks-file FILE | --jwks-url URL) [--scope "system/*.read"] [--id ID]
        [--organization Organization/ID] [--purposes TREAT,HPAYMT,...]
      Registers a SMART Backend Services client (private_key_jwt, RS384/ES384) and prints its client id.
      --jwks-file     a JWK Set ({"keys": [...]}) or a single JWK, public keys only
      --jwks-url      where the client publishes its JWK Set (a jku header must equal it exactly)
      --scope         space-separated system/ scopes the client is pre-authorized for (default "system/*.read")
      --organization  the organization receiving what the client reads (required with --purposes)
      --purposes      comma-separated purposes of use it may ask for with the scope purpose/<CODE>:
                      ${Object.keys(MACHINE_PURPOSES).join(', ')} (default none)
  client purposes --id ID [--organization Organization/ID] [--purposes CODES]
      Replaces a backend client's organization and purposes (none given: none). Tokens it holds
      for a purpose or organization no longer registered are refused (403) from then on.
  client register --app --tenant T --name NAME --redirect-uri URI [--redirect-uri URI ...]
        --auth-method none|client_secret_basic|private_key_jwt [--jwks-file FILE | --jwks-url URL]
        --scope "launch/patient openid fhirUser patient/*.rs" [--launch-uri URI] [--id ID]
      Registers a SMART App Launch app and prints its client id; for client_secret_basic also
      the client secret, shown this once (only its scrypt hash is kept).
  client approve --id ID
      Approves a client registered dynamically (RFC 7591, POST /auth/register); until then it
      cannot get tokens.
  client list --tenant T
  client keygen --out FILE
      Makes an ES384 key pair: writes the private JWK to FILE (mode 600) and prints the public
      JWK Set, ready for "client register --jwks-file". No database needed.
  token --client ID --key FILE [--url http://localhost:8080] [--scope "system/*.read"]
      Signs a client assertion with the private JWK in FILE, asks the server's token endpoint
      for an access token and prints it. No database needed.
  audit verify --tenant T
      Walks the tenant's AuditEvent hash chain and reports the first broken link (exit 1), or
      the number of links checked and the head hash to keep elsewhere (exit 0).
  keys rotate
      Adds a new access-token (ES256), id_token (RS256) and note-signature (ES256) signing key;
      each server process signs with them from its next start. Token keys superseded more than
      2 hours ago are retired (no longer published); younger ones stay published until the tokens
      they signed have expired. Note keys stay published for good: signed notes keep verifying.
  secrets keygen
      Prints a new server key entry (id:base64) for SECRET_KEYS or SECRET_KEYS_FILE. No database needed.
  secrets reencrypt
      Re-encrypts every stored secret (signing private keys, TOTP secrets) under the current
      (first) server key; afterwards older keys can be removed from SECRET_KEYS / the key file.

${USER_USAGE}

The database is DATABASE_URL (PostgreSQL) when set, else PGlite in DATA_DIR (default ./data).
PGlite is single-process: stop the server before running the CLI against the same DATA_DIR.`;

class UsageError extends Error {}

/** --purposes "TREAT, HPAYMT" → ['TREAT', 'HPAYMT'] (codes are checked by auth/clients.ts). */
function purposeList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

const OPTIONS = {
  name: { type: 'string' },
  tenant: { type: 'string' },
  'jwks-file': { type: 'string' },
  'jwks-url': { type: 'string' },
  scope: { type: 'string' },
  id: { type: 'string' },
  out: { type: 'string' },
  client: { type: 'string' },
  key: { type: 'string' },
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  app: { type: 'boolean' },
  'redirect-uri': { type: 'string', multiple: true },
  'auth-method': { type: 'string' },
  'launch-uri': { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  role: { type: 'string' },
  'fhir-user': { type: 'string' },
  'totp-secret': { type: 'string' },
  'display-name': { type: 'string' },
  secret: { type: 'string' },
  organization: { type: 'string' },
  purposes: { type: 'string' },
} as const;

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let db: Database | undefined;
  const database = async () => (db ??= await io.openDb());
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { values: v, positionals: p } = parsed;
    if (v.help) {
      io.out(USAGE);
      return 0;
    }
    if (p.length === 0) {
      io.err(USAGE);
      return 2;
    }
    const command = `${p[0]} ${p[1] ?? ''}`.trim();
    const allow = (...names: (keyof typeof OPTIONS)[]) => {
      for (const k of Object.keys(v)) {
        if (k !== 'help' && !names.includes(k as keyof typeof OPTIONS)) throw new UsageError(`--${k} is not an option of "${command}"`);
      }
    };
    const positionals = (n: number) => {
      if (p.length !== n) throw new UsageError(`"${command}" takes ${n - 2 === 0 ? 'no' : n - 2} argument${n - 2 === 1 ? '' : 's'}`);
    };
    const need = (name: keyof typeof OPTIONS): string => {
      const value = v[name];
      if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} is required for "${command}"`);
      return value;
    };

    /** Admin actions are AuditEvents like the same actions over HTTP; the agent is the admin CLI. */
    const audited = async (e: Omit<AuthEvent, 'outcome' | 'clientId'> & { clientId?: string }) =>
      auditAuthEvent(await database(), { clientId: ADMIN_CLI_CLIENT, ...e, outcome: 'success' });

    switch (command) {
      case 'tenant create': {
        allow('name');
        if (p.length < 3) throw new UsageError('tenant create needs a tenant id');
        positionals(3);
        const t = await createTenant(await database(), { id: p[2], name: v.name });
        await audited({ tenant: t.id, action: 'tenant-created', subject: { display: t.id } });
        io.out(`Created tenant ${t.id} (${t.name})`);
        return 0;
      }
      case 'tenant list': {
        allow();
        positionals(2);
        const tenants = await listTenants(await database());
        io.out(table(['ID', 'NAME', 'CREATED'], tenants.map((t) => [t.id, t.name, t.createdAt])));
        return 0;
      }
      case 'client register': {
        if (v.app) {
          allow('app', 'tenant', 'name', 'jwks-file', 'jwks-url', 'scope', 'id', 'redirect-uri', 'auth-method', 'launch-uri');
          positionals(2);
          const tenant = need('tenant');
          const name = need('name');
          const redirectUris = v['redirect-uri'] ?? [];
          if (redirectUris.length === 0) throw new UsageError('--redirect-uri is required for "client register --app"');
          const authMethod = need('auth-method') as AuthMethod;
          if (!['none', 'client_secret_basic', 'private_key_jwt'].includes(authMethod)) {
            throw new UsageError('--auth-method must be none, client_secret_basic or private_key_jwt');
          }
          let registered: { clientId: string; clientSecret?: string };
          try {
            registered = await registerSmartApp(await database(), {
              tenant,
              name,
              id: v.id,
              redirectUris,
              authMethod,
              jwks: v['jwks-file'] === undefined ? undefined : readJwksFile(v['jwks-file']),
              jwksUri: v['jwks-url'],
              scope: need('scope'),
              launchUri: v['launch-uri'],
            });
          } catch (e) {
            if (e instanceof OperationOutcomeError || e instanceof UsageError) throw e;
            throw new CliFailure((e as Error).message);
          }
          await audited({ tenant, action: 'client-registered', clientId: registered.clientId, detail: 'registered with the admin CLI' });
          io.err(`Registered SMART app "${name}" (${authMethod}) for tenant ${tenant}; client id:`);
          io.out(registered.clientId);
          if (registered.clientSecret) {
            io.err('Client secret (shown once; only its hash is stored):');
            io.out(registered.clientSecret);
          }
          return 0;
        }
        allow('tenant', 'name', 'jwks-file', 'jwks-url', 'scope', 'id', 'organization', 'purposes');
        positionals(2);
        const tenant = need('tenant');
        const name = need('name');
        if ((v['jwks-file'] === undefined) === (v['jwks-url'] === undefined)) {
          throw new UsageError('Give exactly one of --jwks-file or --jwks-url');
        }
        const jwks = v['jwks-file'] === undefined ? undefined : readJwksFile(v['jwks-file']);
        const { clientId } = await registerBackendClient(await database(), {
          tenant,
          name,
          jwks,
          jwksUri: v['jwks-url'],
          scope: v.scope ?? 'system/*.read',
          id: v.id,
          organization: v.organization,
          purposes: purposeList(v.purposes),
        });
        await audited({ tenant, action: 'client-registered', clientId, detail: 'registered with the admin CLI' });
        io.err(`Registered backend client "${name}" for tenant ${tenant}; client id:`);
        io.out(clientId);
        return 0;
      }
      case 'client list': {
        allow('tenant');
        positionals(2);
        const tenant = need('tenant');
        const clients = await listClients(await database(), tenant);
        io.out(
          table(
            ['CLIENT ID', 'NAME', 'KIND', 'KEYS', 'SCOPE', 'ORGANIZATION', 'PURPOSES', 'STATUS'],
            clients.map((c) => [
              c.id,
              c.name,
              c.kind,
              c.jwksUri ?? `inline (${c.jwks?.keys.length ?? 0} key${c.jwks?.keys.length === 1 ? '' : 's'})`,
              c.scope,
              c.organization ?? '-',
              c.purposes.length ? c.purposes.join(',') : '-',
              c.disabled ? 'disabled' : c.status === 'pending' ? 'pending' : 'enabled',
            ])
          )
        );
        return 0;
      }
      case 'client purposes': {
        allow('id', 'organization', 'purposes');
        positionals(2);
        const id = need('id');
        const db = await database();
        const client = await findClient(db, id);
        if (!client || !(await setClientPurposes(db, id, { organization: v.organization, purposes: purposeList(v.purposes) }))) {
          throw new CliFailure(`Backend client "${id}" does not exist`);
        }
        const detail = `purposes ${purposeList(v.purposes).join(',') || 'none'} for ${v.organization ?? 'no organization'}`;
        await audited({ tenant: client.tenant, action: 'client-registered', clientId: id, detail: `registration changed with the admin CLI: ${detail}` });
        io.out(`Client ${id}: ${detail}`);
        return 0;
      }
      case 'client approve': {
        allow('id');
        positionals(2);
        const id = need('id');
        if (!(await approveClient(await database(), id))) throw new CliFailure(`Client "${id}" does not exist`);
        io.out(`Approved client ${id}`);
        return 0;
      }
      case 'keys rotate': {
        allow();
        positionals(2);
        const { added, retired } = await rotateSigningKeys(await database());
        // The keys sign every tenant's tokens, so every tenant's log records the rotation.
        for (const t of await listTenants(await database())) {
          await audited({ tenant: t.id, action: 'keys-rotated', subject: { display: `added ${added.join(', ')}${retired.length ? `; retired ${retired.join(', ')}` : ''}` } });
        }
        io.out(`Added signing keys ${added.join(', ')}${retired.length ? `; retired ${retired.join(', ')}` : ''}`);
        return 0;
      }
      case 'secrets keygen': {
        allow();
        positionals(2);
        io.out(formatSecretKey(newSecretKey()));
        return 0;
      }
      case 'secrets reencrypt': {
        allow();
        positionals(2);
        const changed = await sealSecrets(await database(), { rekey: true });
        io.out(`Re-encrypted under the current server key: ${Object.entries(changed).map(([col, n]) => `${col} ${n}`).join(', ')}`);
        return 0;
      }
      case 'client keygen': {
        allow('out');
        positionals(2);
        const { publicJwks } = await generateClientKey(need('out'));
        io.err(`Wrote the private key to ${v.out}; the public JWK Set follows:`);
        io.out(JSON.stringify(publicJwks, null, 2));
        return 0;
      }
      case 'token': {
        allow('client', 'key', 'url', 'scope');
        if (p.length !== 1) throw new UsageError('"token" takes no arguments');
        let privateJwk;
        try {
          privateJwk = JSON.parse(readFileSync(need('key'), 'utf8'));
        } catch (e) {
          throw new CliFailure(`Cannot read --key ${v.key}: ${(e as NodeJS.ErrnoException).code ?? 'not a JSON JWK'}`);
        }
        const { status, body } = await requestToken({
          baseUrl: v.url ?? process.env.BASE_URL ?? 'http://localhost:8080',
          clientId: need('client'),
          key: { jwk: privateJwk },
          scope: v.scope ?? 'system/*.read',
        });
        if (status !== 200 || typeof body.access_token !== 'string') {
          throw new CliFailure(`The token endpoint answered ${status}: ${String(body.error ?? '')} ${String(body.error_description ?? '')}`.trim());
        }
        io.err(`scope: ${String(body.scope)}; expires in ${String(body.expires_in)} s`);
        io.out(body.access_token);
        return 0;
      }
      case 'audit verify': {
        allow('tenant');
        positionals(2);
        const tenant = need('tenant');
        const report = await verifyChain(await database(), tenant);
        if (report.broken) {
          io.out(`BROKEN at link ${report.broken.pos} (AuditEvent/${report.broken.id}): ${report.broken.reason}`);
          io.err(`${report.checked} links verified before it; ${report.unsealed} not yet sealed`);
          return 1;
        }
        io.out(`OK: ${report.checked} links verified; ${report.unsealed} not yet sealed; head ${report.head ?? '(empty chain)'}`);
        return 0;
      }
      default:
        if (USER_COMMANDS.includes(command)) {
          allow('tenant', 'username', 'password', 'role', 'fhir-user', 'totp-secret', 'display-name', 'secret');
          return await runUserCommand(command, v, database, (line) => io.out(line));
        }
        throw new UsageError(`Unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`Error: ${e.message}\nRun "npm run cli -- --help" for usage.`);
      return 2;
    }
    if (e instanceof OperationOutcomeError) {
      io.err(`Error: ${e.outcome.issue?.[0]?.diagnostics ?? e.message}`);
      return 1;
    }
    if (e instanceof CliFailure) {
      io.err(`Error: ${e.message}`);
      return 1;
    }
    io.err(`Error: ${(e as Error)?.message ?? String(e)}`);
    return 1;
  } finally {
    await db?.close();
  }
}

class CliFailure extends Error {}

/** A JWK Set, or a single public JWK that we wrap into one. */
function readJwksFile(path: string): object {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliFailure(`Cannot read --jwks-file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliFailure(`--jwks-file ${path} is not JSON`);
  }
  if (typeof value === 'object' && value !== null && 'kty' in value) return { keys: [value] };
  if (typeof value !== 'object' || value === null) throw new CliFailure(`--jwks-file ${path} must hold a JWK Set or a JWK`);
  return value;
}

function table(header: string[], rows: string[][]): string {
  if (rows.length === 0) return '(none)';
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}

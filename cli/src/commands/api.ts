import type { Command } from 'commander';
import type { Scope } from '@ct/api';
import { UserError, withTransaction } from '@ct/lib';
import { withDatabase } from './context';

const SCOPES = ['read', 'write', 'admin'];
const CLI_ACTOR = { actor: `cli:${process.env.USER ?? 'operator'}`.slice(0, 200), actorType: 'system' as const };

/** The password, from a hidden prompt on a terminal or from the first line of stdin otherwise. */
async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  }
  const ask = (prompt: string) =>
    new Promise<string>((resolve, reject) => {
      process.stderr.write(prompt);
      const stdin = process.stdin;
      stdin.setRawMode(true);
      stdin.resume();
      let value = '';
      const onData = (buf: Buffer) => {
        for (const ch of buf.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.setRawMode(false);
            stdin.pause();
            stdin.off('data', onData);
            process.stderr.write('\n');
            return resolve(value);
          }
          if (ch === '\u0003') {
            stdin.setRawMode(false);
            return reject(new UserError('cancelled'));
          }
          if (ch === '\u007f') value = value.slice(0, -1);
          else value += ch;
        }
      };
      stdin.on('data', onData);
    });
  const first = await ask('Password: ');
  const again = await ask('Repeat password: ');
  if (first !== again) throw new UserError('the two passwords differ');
  return first;
}

export function registerApiCommands(program: Command): void {
  const apikey = program.command('apikey').description('API keys of the platform API');
  apikey
    .command('create')
    .description('create an API key and print it once (only its hash is stored)')
    .requiredOption('--name <name>', 'what the key is for, e.g. grafana or ci')
    .option('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`, 'read')
    .action(async (opts: { name: string; scopes: string }) => {
      const scopes = opts.scopes
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = scopes.filter((s) => !SCOPES.includes(s));
      if (scopes.length === 0 || bad.length)
        throw new UserError(`--scopes must list some of ${SCOPES.join(', ')}${bad.length ? `; unknown: ${bad.join(', ')}` : ''}`);
      if (opts.name.trim().length === 0 || opts.name.length > 100) throw new UserError('--name must be 1-100 characters');
      const { createApiKey } = await import('@ct/api');
      await withDatabase(async (pool) => {
        const key = await withTransaction(pool, (tx) =>
          createApiKey(tx, { name: opts.name.trim(), scopes: scopes as Scope[], owner: CLI_ACTOR.actor }, CLI_ACTOR),
        );
        process.stderr.write(`created API key ${key.name} (${key.prefix}…) with scopes ${key.scopes.join(',')}; it is shown this once:\n`);
        process.stdout.write(`${key.key}\n`);
      });
    });

  const user = program.command('user').description('admin users of the platform API');
  user
    .command('create')
    .description('create an admin user; the password is read from a prompt, or from stdin when piped')
    .requiredOption('--email <email>', 'login email')
    .action(async (opts: { email: string }) => {
      const email = opts.email.trim().toLowerCase();
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) || email.length > 320)
        throw new UserError(`--email is not an email address: ${opts.email}`);
      const password = await readPassword();
      const { createAdminUser, hashPassword, passwordProblem } = await import('@ct/api');
      const problem = passwordProblem(password);
      if (problem) throw new UserError(`password ${problem}`);
      const passwordHash = await hashPassword(password);
      await withDatabase(async (pool) => {
        const created = await withTransaction(pool, (tx) => createAdminUser(tx, { email, passwordHash }, CLI_ACTOR)).catch(
          (err: { code?: string }) => {
            throw err.code === '23505' ? new UserError(`an admin user with email ${email} already exists`) : err;
          },
        );
        process.stdout.write(`created admin user ${created.email} (${created.id})\n`);
      });
    });

  registerOperatorCommands(program);
}

/** A refusal of the shared operation (an unknown user or key) as the CLI's own error. */
function asUserError(err: unknown): never {
  const e = err as { status?: number; message?: string };
  if (e.status && e.status < 500) throw new UserError(e.message ?? 'refused');
  throw err;
}

const when = (d: Date | null) => (d ? d.toISOString() : '-');

/** Operator commands on admin users and API keys: what once needed hand-written SQL. Each is audited. */
function registerOperatorCommands(program: Command): void {
  const user = program.commands.find((c) => c.name() === 'user')!;
  user
    .command('list')
    .description('list admin users: state, last login, live sessions')
    .action(async () => {
      const { listAdminUsers } = await import('@ct/api');
      await withDatabase(async (pool) => {
        for (const u of await listAdminUsers(pool))
          process.stdout.write(
            `${u.id}  ${u.email}  ${u.disabledAt ? 'disabled' : 'enabled'}  last login ${when(u.lastLoginAt)}  sessions ${u.activeSessions}\n`,
          );
      });
    });
  for (const [action, what] of [
    ['disable', 'disable an admin user: no login, and every session ends'],
    ['enable', 'enable a disabled admin user again'],
    ['revoke-sessions', 'end every session of an admin user (refresh and access tokens)'],
  ] as const) {
    user
      .command(`${action} <user>`)
      .description(`${what}; <user> is an email or id`)
      .action(async (ref: string) => {
        const { changeAdminUser } = await import('@ct/api');
        await withDatabase(async (pool) => {
          const out = await withTransaction(pool, (tx) => changeAdminUser(tx, ref, action, CLI_ACTOR)).catch(asUserError);
          process.stdout.write(
            `${out.user.email}: ${action}${out.changed ? '' : ' (nothing to change)'}; sessions ended: ${out.sessionsEnded}\n`,
          );
        });
      });
  }
  user
    .command('reset-password <user>')
    .description('set a new password and end every session; read from a prompt (or stdin when piped), or --generate one printed once')
    .option('--generate', 'generate a password and print it once on stdout')
    .action(async (ref: string, opts: { generate?: boolean }) => {
      const { generatePassword, hashPassword, passwordProblem, resetAdminPassword } = await import('@ct/api');
      const password = opts.generate ? generatePassword() : await readPassword();
      const problem = passwordProblem(password);
      if (problem) throw new UserError(`password ${problem}`);
      const hash = await hashPassword(password);
      await withDatabase(async (pool) => {
        const out = await withTransaction(pool, (tx) =>
          resetAdminPassword(tx, ref, hash, { ...CLI_ACTOR, generated: Boolean(opts.generate) }),
        ).catch(asUserError);
        process.stderr.write(`password of ${out.user.email} reset; sessions ended: ${out.sessionsEnded}\n`);
        if (opts.generate) {
          process.stderr.write('the new password is shown this once:\n');
          process.stdout.write(`${password}\n`);
        }
      });
    });

  const apikey = program.commands.find((c) => c.name() === 'apikey')!;
  apikey
    .command('list')
    .description('list API keys (prefixes and scopes, never the keys)')
    .option('--all', 'include revoked keys')
    .action(async (opts: { all?: boolean }) => {
      const { listApiKeys } = await import('@ct/api');
      await withDatabase(async (pool) => {
        for (const k of await listApiKeys(pool, Boolean(opts.all)))
          process.stdout.write(
            `${k.id}  ${k.prefix}…  ${k.name}  ${k.scopes.join(',')}  owner ${k.owner}  last used ${when(k.lastUsedAt)}` +
              `${k.revokedAt ? `  revoked ${when(k.revokedAt)}` : ''}\n`,
          );
      });
    });
  apikey
    .command('revoke <key>')
    .description('revoke an API key, by id or prefix (repeating it changes nothing)')
    .action(async (ref: string) => {
      const { revokeApiKey } = await import('@ct/api');
      await withDatabase(async (pool) => {
        const out = await withTransaction(pool, (tx) => revokeApiKey(tx, ref.replace(/…$/, ''), CLI_ACTOR)).catch(asUserError);
        process.stdout.write(`API key ${out.prefix}… ${out.alreadyRevoked ? 'was already revoked' : 'revoked'}\n`);
      });
    });
}

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
}

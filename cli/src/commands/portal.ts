import type { Command } from 'commander';
import { durationSeconds, keyringFromConfig, loadConfig, UserError } from '@ct/lib';
import { withDatabase } from './context';

const CLI_ACTOR = { actor: `cli:${process.env.USER ?? 'operator'}`.slice(0, 200), actorType: 'system' as const };

/** A duration such as 15m, 24h or a number of seconds, as every setting of the platform reads one. */
function grace(v: string): number {
  const parsed = durationSeconds.safeParse(v);
  if (!parsed.success) throw new UserError(`--grace must be a duration like 30s, 15m, 24h or 7d, got ${v}`);
  return parsed.data;
}

export function registerPortalCommands(program: Command): void {
  const portal = program.command('portal').description("the client portal's credentials");
  portal
    .command('token')
    .description(
      "issue a new portal token for a client and print it once: the Bearer token of its Grafana organisation's " +
        'datasource at the tenant proxy and the password of its database role. The previous token ends now, or after --grace.',
    )
    .argument('<client>', "the client's slug")
    .option('--grace <duration>', 'how long the previous token keeps working (e.g. 15m, 1h; at most 30d)', grace, 0)
    .action(async (slug: string, opts: { grace: number }) => {
      const keyring = keyringFromConfig(loadConfig(['secrets']));
      const { issuePortalToken } = await import('@ct/client-portal');
      await withDatabase(async (pool) => {
        const issued = await issuePortalToken(pool, keyring, slug, { graceSeconds: opts.grace, actor: CLI_ACTOR });
        const previous = issued.previousExpiresAt
          ? `; the previous token ${opts.grace > 0 ? `works until ${issued.previousExpiresAt.toISOString()}` : 'no longer works'}`
          : '';
        process.stderr.write(
          `issued portal token version ${issued.version} for ${slug}${previous}. It is shown this once; ` +
            "run `ct grafana sync` to put it in the client organisation's datasource:\n",
        );
        process.stdout.write(`${issued.token}\n`);
      });
    });
}

import type { Command } from 'commander';
import { UserError } from '@ct/lib';
import { withDatabase } from './context';

/** Whole seconds from the command line, bounds checked by the seed itself. */
function seconds(v: string): number {
  if (!/^\d+$/.test(v)) throw new UserError(`--stuck-seconds must be a whole number of seconds, got ${v}`);
  return Number(v);
}

export function registerDemoCommands(program: Command): void {
  const demo = program.command('demo').description('the demo data set, to see the admin portal alive');
  demo
    .command('seed')
    .description(
      'load demo clients, plans, subscriptions, invoices, n8n workflows and their executions, and 30 days of signed ' +
        'webhook events, through the platform API (started in-process) and n8n',
    )
    .option('--force', 'seed even when the database has clients that are not demo clients')
    .option('--if-empty', 'do nothing when the database has any client (what npm start uses)')
    .option('--stuck-seconds <n>', 'how long the one stuck n8n execution keeps running (default: 7200, two hours)', seconds)
    .option('--tag <tag>', 'suffix for the workflow names and webhook paths, to seed several databases against one n8n')
    .action(async (opts: { force?: boolean; ifEmpty?: boolean; stuckSeconds?: number; tag?: string }) => {
      // Required when the command runs, not imported: the seed loads the platform API (express).
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { seedDemo, demoDepsFromEnv, formatDemoSummary } = require('../demo') as typeof import('../demo');
      const deps = demoDepsFromEnv();
      await withDatabase(async (pool) => {
        const summary = await seedDemo({
          ...deps,
          databaseUrl: undefined,
          pool,
          force: opts.force,
          ifEmpty: opts.ifEmpty,
          stuckSeconds: opts.stuckSeconds,
          tag: opts.tag,
          actor: `cli:${process.env.USER ?? 'operator'}`.slice(0, 200),
          progress: (line) => process.stderr.write(`${line}…\n`),
        });
        process.stdout.write(formatDemoSummary(summary));
      });
    });
}

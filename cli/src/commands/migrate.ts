import type { Command } from 'commander';
import { applyDashboardReader, DASHBOARD_READER_ROLE, loadConfig, migrate, type DashboardReaderPassword } from '@ct/lib';
import { withDatabase } from './context';

const PASSWORD_LINE: Record<DashboardReaderPassword, string> = {
  set: `password of ${DASHBOARD_READER_ROLE} set from DASHBOARD_DB_PASSWORD`,
  unchanged: `password of ${DASHBOARD_READER_ROLE} already matches DASHBOARD_DB_PASSWORD`,
  'not-configured': `DASHBOARD_DB_PASSWORD is not set: the password of ${DASHBOARD_READER_ROLE} was left as it is`,
};

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description(
      `apply pending database migrations (DATABASE_URL), then ${DASHBOARD_READER_ROLE}'s grants and password (DASHBOARD_DB_PASSWORD)`,
    )
    .action(async () => {
      // Checked together and before anything changes: a weak password stops the run, not half of it.
      const { DASHBOARD_DB_PASSWORD: password } = loadConfig(['database', 'dashboard']);
      await withDatabase(async (pool) => {
        let reader: DashboardReaderPassword = 'not-configured';
        const result = await migrate(pool, {
          log: (line) => process.stdout.write(`${line}\n`),
          afterApply: async (client) => {
            reader = await applyDashboardReader(client, { password });
          },
        });
        if (result.applied.length === 0) {
          process.stdout.write(`database is up to date (${result.alreadyApplied} migrations applied); nothing to do\n`);
        } else {
          process.stdout.write(`applied ${result.applied.length} migration(s)\n`);
        }
        process.stdout.write(`${PASSWORD_LINE[reader]}\n`);
      });
    });
}

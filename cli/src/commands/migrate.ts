import type { Command } from 'commander';
import { migrate } from '@ct/lib';
import { withDatabase } from './context';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (DATABASE_URL)')
    .action(async () => {
      await withDatabase(async (pool) => {
        const result = await migrate(pool, { log: (line) => process.stdout.write(`${line}\n`) });
        if (result.applied.length === 0) {
          process.stdout.write(`database is up to date (${result.alreadyApplied} migrations applied); nothing to do\n`);
        } else {
          process.stdout.write(`applied ${result.applied.length} migration(s)\n`);
        }
      });
    });
}

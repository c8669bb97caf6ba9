import type { Command } from 'commander';
import {
  APP_ROLE,
  applyAppRole,
  applyDashboardReader,
  assertReachable,
  createPool,
  DASHBOARD_READER_ROLE,
  loadMigrateConfig,
  migrate,
  type AppRoleResult,
  type RolePassword,
} from '@ct/lib';

const passwordLine = (role: string, variable: string, outcome: RolePassword): string =>
  ({
    set: `password of ${role} set from ${variable}`,
    unchanged: `password of ${role} already matches ${variable}`,
    'not-configured': `${variable} is not set: the password of ${role} was left as it is`,
  })[outcome];

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description(
      `apply pending database migrations as the owner (DATABASE_OWNER_URL, else DATABASE_URL), then the grants and passwords ` +
        `of ${APP_ROLE} (APP_DB_PASSWORD) and ${DASHBOARD_READER_ROLE} (DASHBOARD_DB_PASSWORD)`,
    )
    .action(async () => {
      const cfg = loadMigrateConfig();
      const url = cfg.ownerUrl;
      const pool = createPool({ url, max: 1, connectTimeoutSeconds: cfg.DATABASE_CONNECT_TIMEOUT, applicationName: 'ct-migrate' });
      try {
        await assertReachable(pool, url);
        let reader: RolePassword = 'not-configured';
        let app: AppRoleResult = { password: 'not-configured', missing: [] };
        const result = await migrate(pool, {
          log: (line) => process.stdout.write(`${line}\n`),
          afterApply: async (client) => {
            // The reader's grants first: they take EXECUTE on the platform's functions from PUBLIC
            // (a database restored without privileges has it back), which ct_app_grants() needs
            // gone before it can make ct_app's rights exactly what app_role_grants lists.
            reader = await applyDashboardReader(client, { password: cfg.DASHBOARD_DB_PASSWORD });
            app = await applyAppRole(client, { password: cfg.APP_DB_PASSWORD });
          },
        });
        if (result.applied.length === 0) {
          process.stdout.write(`database is up to date (${result.alreadyApplied} migrations applied); nothing to do\n`);
        } else {
          process.stdout.write(`applied ${result.applied.length} migration(s)\n`);
        }
        for (const name of app.missing) process.stdout.write(`warning: app_role_grants names ${name}, which this database does not have\n`);
        process.stdout.write(`${passwordLine(APP_ROLE, 'APP_DB_PASSWORD', app.password)}\n`);
        process.stdout.write(`${passwordLine(DASHBOARD_READER_ROLE, 'DASHBOARD_DB_PASSWORD', reader)}\n`);
      } finally {
        await pool.end();
      }
    });
}

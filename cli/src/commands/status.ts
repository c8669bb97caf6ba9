import type { Command } from 'commander';
import { readMigrations, verifyAuditChain } from '@ct/lib';
import { withDatabase } from './context';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('report the health of the platform database: reachability, migrations, audit chain')
    .action(async () => {
      await withDatabase(async (pool) => {
        const files = await readMigrations();
        const { rows } = await pool
          .query<{ n: string }>('SELECT count(*)::text AS n FROM schema_migrations')
          .catch(() => ({ rows: [{ n: '0' }] }));
        const applied = Number(rows[0]?.n ?? 0);
        const chain = await verifyAuditChain(pool).catch(() => null);
        process.stdout.write(
          [
            'database: reachable',
            `migrations: ${applied}/${files.length} applied${applied < files.length ? ' (run ct migrate)' : ''}`,
            `audit chain: ${chain ? (chain.ok ? `valid (${chain.rowsChecked} rows)` : `BROKEN at row ${chain.firstBadId}`) : 'not initialised'}`,
          ].join('\n') + '\n',
        );
      });
    });
}

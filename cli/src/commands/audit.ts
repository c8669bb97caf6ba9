import type { Command } from 'commander';
import { UserError, verifyAuditChain } from '@ct/lib';
import { withDatabase } from './context';

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the append-only audit log');
  audit
    .command('verify')
    .description('walk the hash chain; exit 1 naming the first bad row if anything was altered or removed')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withDatabase(async (pool) => {
        const result = await verifyAuditChain(pool);
        if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        if (!result.ok) {
          throw new UserError(
            `audit chain broken at row ${result.firstBadId}: ${result.reason} (${result.rowsChecked} rows verified before it)`,
          );
        }
        if (!opts.json) process.stdout.write(`audit chain valid: ${result.rowsChecked} rows verified\n`);
      });
    });
}

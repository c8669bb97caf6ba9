import type { Command } from 'commander';
import { durationSeconds, UserError } from '@ct/lib';
import { withDatabase } from './context';

/**
 * ct maintenance start --for 1h --reason "…" [--tiers call,text,email] / ct maintenance end:
 * silences the tiers in every Alertmanager of ALERTMANAGER_URLS and records the window (audited).
 */
export function registerMaintenanceCommands(program: Command): void {
  const maintenance = program.command('maintenance').description('routine maintenance windows: silence the agreed tiers, audited');
  maintenance
    .command('start')
    .description('open a window: silence the tiers in every Alertmanager (ALERTMANAGER_URLS) until it ends')
    .requiredOption('--for <duration>', 'how long, e.g. 1h (1m to 24h)')
    .requiredOption('--reason <text>', 'why, for the audit log and the silences')
    .option('--tiers <list>', 'tiers to silence (call,text,email,dashboard)', 'call,text,email')
    .option('--actor <name>', 'who, for the audit log', process.env.USER ?? 'operator')
    .action(async (opts: { for: string; reason: string; tiers: string; actor: string }) => {
      const { alertmanagerUrls, startMaintenance, MAINTENANCE_TIERS } = await import('@ct/alerting');
      const parsed = durationSeconds.safeParse(opts.for);
      if (!parsed.success) throw new UserError(`--for: "${opts.for}" must be a duration like 30m or 1h`);
      const tiers = opts.tiers.split(',').map((t) => t.trim());
      const unknown = tiers.filter((t) => !(MAINTENANCE_TIERS as readonly string[]).includes(t));
      if (unknown.length > 0) throw new UserError(`--tiers: unknown tier ${unknown.join(', ')} (call, text, email, dashboard)`);
      const alertmanagers = alertmanagerUrls(process.env.ALERTMANAGER_URLS);
      await withDatabase(async (pool) => {
        const w = await startMaintenance({
          pool,
          alertmanagers,
          durationSeconds: parsed.data,
          reason: opts.reason,
          actor: opts.actor,
          tiers: tiers as (typeof MAINTENANCE_TIERS)[number][],
        });
        process.stdout.write(
          `maintenance until ${w.until.toISOString()}: ${w.tiers.join(', ')} silenced in ${w.silences.length} Alertmanager(s) (audit row ${w.auditId})\n`,
        );
      });
    });
  maintenance
    .command('end')
    .description('close the open window: expire its silences')
    .option('--actor <name>', 'who, for the audit log', process.env.USER ?? 'operator')
    .action(async (opts: { actor: string }) => {
      const { endMaintenance } = await import('@ct/alerting');
      await withDatabase(async (pool) => {
        const w = await endMaintenance({ pool, actor: opts.actor });
        process.stdout.write(`maintenance ended: ${w.silences.length} silence(s) expired\n`);
      });
    });
}

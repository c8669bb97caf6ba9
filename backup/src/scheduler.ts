import cron, { type ScheduledTask } from 'node-cron';
import { assertReachable, createLogger, poolFromConfig, errorMessage, loadConfig, N8nClient } from '@ct/lib';
import { verifyAuditChainAnchored } from './anchors';
import { retentionOptions, schedulerSchema } from './config';
import { startDatabaseBackup } from './database';
import { startRestoreDrill } from './drill';
import { checkBackupInventory } from './inventory';
import { startN8nBackup } from './n8n';
import { serveBackupRequests } from './requests';
import { applyRetention } from './retention';
import { createBucket } from './storage';

export interface ScheduledJob {
  name: 'database-backup' | 'n8n-backup' | 'restore-drill' | 'retention' | 'audit-verify' | 'backup-inventory';
  schedule: string;
  run(): Promise<unknown>;
}

/**
 * `ct serve scheduler`: the platform's periodic jobs on node-cron. A job never overlaps itself, and
 * the backup kinds also take their advisory lock, so a second scheduler (or a manual run) cannot
 * start the same kind twice.
 */
export async function startScheduler(_opts: { port?: number } = {}): Promise<{ stop(): Promise<void>; jobs: ScheduledJob[] }> {
  const cfg = loadConfig(['database', 'logging', 'n8n'], schedulerSchema);
  const log = createLogger({ level: cfg.LOG_LEVEL, format: cfg.LOG_FORMAT, name: 'scheduler' });
  const pool = poolFromConfig(cfg, { applicationName: 'ct-scheduler', max: 5 });
  try {
    await assertReachable(pool, cfg.DATABASE_URL);
  } catch (err) {
    await pool.end();
    throw err;
  }
  const bucket = createBucket(cfg);
  const n8n = new N8nClient({ url: cfg.N8N_URL, apiKey: cfg.N8N_API_KEY, timeoutSeconds: cfg.N8N_TIMEOUT });
  const deps = { pool, log, actor: 'scheduler', config: cfg, bucket };
  const finished = async (p: ReturnType<typeof startDatabaseBackup>) => {
    const started = await p;
    return started.done;
  };
  const jobs: ScheduledJob[] = [
    { name: 'database-backup', schedule: cfg.SCHEDULE_DATABASE_BACKUP, run: () => finished(startDatabaseBackup(deps)) },
    { name: 'n8n-backup', schedule: cfg.SCHEDULE_N8N_BACKUP, run: () => finished(startN8nBackup({ ...deps, n8n, n8nUrl: cfg.N8N_URL })) },
    { name: 'restore-drill', schedule: cfg.SCHEDULE_RESTORE_DRILL, run: () => finished(startRestoreDrill(deps)) },
    {
      name: 'retention',
      schedule: cfg.SCHEDULE_RETENTION,
      run: () => applyRetention({ bucket, ...retentionOptions(cfg), pool, actor: 'scheduler', log }),
    },
    { name: 'audit-verify', schedule: cfg.SCHEDULE_AUDIT_VERIFY, run: () => verifyAuditChainAnchored({ pool, bucket, log }) },
    {
      name: 'backup-inventory',
      schedule: cfg.SCHEDULE_BACKUP_INVENTORY,
      run: () => checkBackupInventory({ bucket, pool, retentionDays: cfg.BACKUP_RETENTION_DAYS, log, actor: 'scheduler' }),
    },
  ];
  const tasks: ScheduledTask[] = jobs.map((job) =>
    cron.schedule(
      job.schedule,
      async () => {
        const t0 = Date.now();
        try {
          const result = await job.run();
          const failed = (result as { status?: string } | undefined)?.status === 'failed';
          log[failed ? 'error' : 'info'](
            { job: job.name, seconds: (Date.now() - t0) / 1000, result },
            `${job.name} ${failed ? 'failed' : 'done'}`,
          );
        } catch (err) {
          log.error({ job: job.name, err: errorMessage(err) }, `${job.name} failed`);
        }
      },
      { name: job.name, noOverlap: true, timezone: cfg.SCHEDULE_TIMEZONE },
    ),
  );
  // "Force a backup" from the API, which holds no backup keys: it records a request, this starts it.
  const requests = await serveBackupRequests({ pool, log, start: (requester) => startDatabaseBackup({ ...deps, ...requester }) });
  log.info({ jobs: jobs.map((j) => `${j.name}=${j.schedule}`) }, 'scheduler started');
  return {
    jobs,
    async stop() {
      await Promise.all(tasks.map((t) => t.destroy()));
      await requests.stop();
      await pool.end();
    },
  };
}

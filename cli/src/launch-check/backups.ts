import { createTask } from 'node-cron';
import type { Pool } from '@ct/lib';
import { fail, pass, warn, type Outcome } from './types';

/** Backups tested: a successful database backup within its schedule, a successful restore drill within 7 days. */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The latest time at or before `before` that the cron expression fires (minute precision), within `lookBackDays`. */
export function previousFire(expression: string, timezone: string, before: Date, lookBackDays = 62): Date | null {
  const task = createTask(expression, () => undefined, { timezone });
  try {
    let t = Math.floor(before.getTime() / MINUTE) * MINUTE;
    const stop = t - lookBackDays * DAY;
    for (; t >= stop; t -= MINUTE) if (task.match(new Date(t))) return new Date(t);
    return null;
  } finally {
    void task.destroy();
  }
}

const ago = (ms: number) =>
  ms < 2 * HOUR ? `${Math.round(ms / MINUTE)} min` : ms < 2 * DAY ? `${(ms / HOUR).toFixed(1)} h` : `${(ms / DAY).toFixed(1)} days`;

interface LastRuns {
  succeeded: { started_at: Date; finished_at: Date; object_key: string | null } | undefined;
  latest: { started_at: Date; status: string; error: string | null } | undefined;
}

/** The database has no backup_runs table: not migrated (or not the platform's database). */
export class NotMigrated extends Error {}

async function lastRuns(pool: Pick<Pool, 'query'>, kind: string): Promise<LastRuns> {
  try {
    return await queryRuns(pool, kind);
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') throw new NotMigrated('backup_runs');
    throw err;
  }
}

async function queryRuns(pool: Pick<Pool, 'query'>, kind: string): Promise<LastRuns> {
  const succeeded = await pool.query<{ started_at: Date; finished_at: Date; object_key: string | null }>(
    `SELECT started_at, finished_at, object_key FROM backup_runs WHERE kind = $1 AND status = 'succeeded' ORDER BY started_at DESC LIMIT 1`,
    [kind],
  );
  const latest = await pool.query<{ started_at: Date; status: string; error: string | null }>(
    `SELECT started_at, status, error FROM backup_runs WHERE kind = $1 ORDER BY started_at DESC LIMIT 1`,
    [kind],
  );
  return { succeeded: succeeded.rows[0], latest: latest.rows[0] };
}

/** A failed run after the last success, as a detail line. */
function lastFailure(runs: LastRuns): string[] | undefined {
  const l = runs.latest;
  if (!l || l.status !== 'failed') return undefined;
  return [`the latest run (${l.started_at.toISOString()}) failed: ${l.error ?? 'no error recorded'}`];
}

export interface BackupScheduleOptions {
  pool: Pick<Pool, 'query'>;
  /** SCHEDULE_DATABASE_BACKUP and SCHEDULE_TIMEZONE. */
  schedule: string;
  timezone: string;
  now?: Date;
  /** How long a scheduled run may take before its absence counts (default 1 h). */
  graceMs?: number;
}

/**
 * The newest successful database backup started at or after the latest scheduled time that is
 * at least `grace` old: a run may be going now, but the one before it must have succeeded.
 */
export async function checkBackupWithinSchedule(o: BackupScheduleOptions): Promise<Outcome> {
  const now = o.now ?? new Date();
  const graceMs = o.graceMs ?? HOUR;
  const runs = await lastRuns(o.pool, 'database');
  const due = previousFire(o.schedule, o.timezone, new Date(now.getTime() - graceMs));
  const schedule = `"${o.schedule}" (${o.timezone})`;
  const fix =
    'make sure the scheduler runs (docker compose ps scheduler; ct serve scheduler), then take one now with ct backup run and read its error if it fails (docs/backup.md)';
  if (!runs.succeeded) return fail(`no successful database backup recorded (schedule ${schedule})`, fix, lastFailure(runs));
  const last = runs.succeeded;
  // The scheduler starts a run on the minute; a minute of slack covers clocks.
  if (due && last.started_at.getTime() < due.getTime() - MINUTE) {
    return fail(
      `last successful database backup ${ago(now.getTime() - last.started_at.getTime())} ago (${last.started_at.toISOString()}); the schedule ${schedule} ran one at ${due.toISOString()}`,
      fix,
      lastFailure(runs),
    );
  }
  const within = `last successful database backup ${ago(now.getTime() - last.started_at.getTime())} ago, within the schedule ${schedule}`;
  const failedSince = lastFailure(runs);
  if (failedSince) return warn(`${within}, but a later run failed`, fix, failedSince);
  return pass(within);
}

export async function checkRestoreDrill(o: { pool: Pick<Pool, 'query'>; now?: Date; maxAgeDays?: number }): Promise<Outcome> {
  const now = o.now ?? new Date();
  const maxAgeDays = o.maxAgeDays ?? 7;
  const runs = await lastRuns(o.pool, 'drill');
  const fix =
    'run a drill now with ct backup drill (it restores the latest backup into a scratch database and checks it) and let the scheduler run it weekly (SCHEDULE_RESTORE_DRILL)';
  if (!runs.succeeded) return fail('no successful restore drill recorded', fix, lastFailure(runs));
  const age = now.getTime() - runs.succeeded.finished_at.getTime();
  if (age > maxAgeDays * DAY) {
    return fail(
      `last successful restore drill ${ago(age)} ago (${runs.succeeded.finished_at.toISOString()}), more than ${maxAgeDays} days`,
      fix,
      lastFailure(runs),
    );
  }
  return pass(`last successful restore drill ${ago(age)} ago`);
}

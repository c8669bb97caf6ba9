import { validate as validateCron } from 'node-cron';
import { z } from 'zod';
import { keyId, loadConfig, logLevel, postgresUrl, previousKeys } from '@ct/lib';
import type { RetentionOptions } from './retention';

/**
 * Settings of the backup module. S3 and the master keys are needed by every command; the database
 * (where runs are recorded) by everything but a restore onto a fresh server.
 */

const cron = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((v) => validateCron(v), 'must be a cron expression such as "0 */6 * * *"');

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const storageSchema = z.object({
  /** Endpoint of an S3-compatible service; unset means AWS S3 itself. */
  S3_ENDPOINT: z.string().url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name'),
  /** Unset: the SDK's default credential chain (instance role, ~/.aws, ...). */
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.default(false),
  /** Prefix of every object this module writes, e.g. `prod/`; empty means the bucket root. */
  BACKUP_PREFIX: z
    .string()
    .default('')
    .refine((v) => v === '' || /^[A-Za-z0-9._\-/]+\/$/.test(v), 'must end with / and use A-Z a-z 0-9 . _ - /'),
  /** Master key that wraps each backup's random data key (at least 32 characters). */
  BACKUP_MASTER_KEY: z.string().min(32, 'must be at least 32 characters'),
  BACKUP_MASTER_KEY_ID: keyId.default('k1'),
  /** Earlier master keys still needed to restore older backups: `id:key,id:key`. */
  BACKUP_PREVIOUS_MASTER_KEYS: previousKeys,
  /**
   * How far the local clock, S3's clock and a backup's name may disagree (seconds): retention
   * refuses to run beyond it, and a backup named later than S3's clock by more is never `latest`.
   */
  BACKUP_MAX_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
  /** Folder of pg_dump, pg_restore (PostgreSQL client binaries); unset means $PATH. */
  PG_BIN_DIR: z.string().optional(),
});

export const backupSchema = storageSchema.extend({
  /** The database to dump; defaults to DATABASE_URL (where runs are recorded). */
  BACKUP_DATABASE_URL: postgresUrl.optional(),
  BACKUP_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** The newest complete backups of each kind that retention never deletes, whatever their age. */
  BACKUP_RETENTION_KEEP_DATABASE: z.coerce.number().int().min(1).max(10_000).default(4),
  BACKUP_RETENTION_KEEP_N8N: z.coerce.number().int().min(1).max(10_000).default(2),
  /** The largest share (0–1] of a kind's backups one retention pass may delete; the rest wait. */
  BACKUP_RETENTION_MAX_DELETE_SHARE: z.coerce.number().gt(0).max(1).default(0.25),
  /** zstd level of the dump stream (1 is the measured sweet spot, see docs/benchmarks.md). */
  BACKUP_ZSTD_LEVEL: z.coerce.number().int().min(1).max(19).default(1),
  /**
   * Size of one multipart part and how many upload at once: memory is about their product. S3
   * allows 10,000 parts, so the part size also caps one object (49 GiB of compressed dump at 5).
   */
  BACKUP_PART_SIZE_MB: z.coerce.number().int().min(5).max(512).default(5),
  BACKUP_UPLOAD_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(2),
  /** The drill fails, restoring nothing, when the latest database backup is older than this (S3's time). */
  BACKUP_DRILL_MAX_AGE_HOURS: z.coerce
    .number()
    .gt(0)
    .max(24 * 366)
    .default(24),
  /**
   * A path on the database server's data filesystem, as this process sees it, where the drill reads
   * the free space; unset: the server's data_directory when it is visible here (same host).
   */
  BACKUP_DRILL_DATA_DIR: z.string().min(1).optional(),
  /** Space the drill leaves free on that filesystem beyond about twice the database's size. */
  BACKUP_DRILL_MIN_FREE_MB: z.coerce.number().int().min(0).default(1024),
  /** How long a failed run keeps trying to abort its incomplete multipart upload. */
  BACKUP_ABORT_RETRY_SECONDS: z.coerce.number().min(0).max(3600).default(60),
});

export const schedulerSchema = backupSchema.extend({
  SCHEDULE_DATABASE_BACKUP: cron('0 */6 * * *'),
  SCHEDULE_N8N_BACKUP: cron('30 2 * * *'),
  SCHEDULE_RESTORE_DRILL: cron('0 4 * * 0'),
  SCHEDULE_RETENTION: cron('0 5 * * *'),
  SCHEDULE_AUDIT_VERIFY: cron('0 * * * *'),
  SCHEDULE_BACKUP_INVENTORY: cron('20 * * * *'),
  SCHEDULE_TIMEZONE: z.string().min(1).default('UTC'),
});

/** For restores: the platform database is optional (it may be the thing being restored). */
export const restoreSchema = storageSchema.extend({
  DATABASE_URL: postgresUrl.optional(),
  LOG_LEVEL: logLevel.default('info'),
});

export type StorageConfig = z.infer<typeof storageSchema>;
export type BackupConfig = z.infer<typeof backupSchema>;
export type SchedulerConfig = z.infer<typeof schedulerSchema>;

export function loadBackupConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(['database', 'logging'], backupSchema, env);
}

/** The retention settings of a configuration, as applyRetention takes them. */
export function retentionOptions(
  cfg: BackupConfig,
): Pick<RetentionOptions, 'retentionDays' | 'keep' | 'maxDeleteShare' | 'maxClockSkewSeconds'> {
  return {
    retentionDays: cfg.BACKUP_RETENTION_DAYS,
    keep: { database: cfg.BACKUP_RETENTION_KEEP_DATABASE, n8n: cfg.BACKUP_RETENTION_KEEP_N8N },
    maxDeleteShare: cfg.BACKUP_RETENTION_MAX_DELETE_SHARE,
    maxClockSkewSeconds: cfg.BACKUP_MAX_CLOCK_SKEW_SECONDS,
  };
}

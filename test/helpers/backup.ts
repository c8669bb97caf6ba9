import { CopyObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from 'pg';
import { backupSchema, createBucket, type BackupConfig, type Bucket } from '@ct/backup';
import type { S3Service } from '../bench/services';
import { benchEnv } from './db';

export const TEST_MASTER_KEY = 'bench-only-backup-master-key-0123456789abcdef';

/**
 * Backup settings for one suite: the bench's S3 (or a private one) under a prefix of its own, so
 * suites never see each other's backups.
 */
export function backupConfig(databaseUrl: string, overrides: Record<string, string> = {}): BackupConfig & { DATABASE_URL: string } {
  const env = {
    S3_ENDPOINT: benchEnv('S3_ENDPOINT'),
    S3_BUCKET: benchEnv('S3_BUCKET'),
    S3_REGION: 'us-east-1',
    S3_ACCESS_KEY_ID: benchEnv('S3_ACCESS_KEY_ID'),
    S3_SECRET_ACCESS_KEY: benchEnv('S3_SECRET_ACCESS_KEY'),
    S3_FORCE_PATH_STYLE: 'true',
    BACKUP_PREFIX: `test-${randomBytes(4).toString('hex')}/`,
    BACKUP_MASTER_KEY: TEST_MASTER_KEY,
    BACKUP_MASTER_KEY_ID: 'k1',
    BACKUP_ABORT_RETRY_SECONDS: '30',
    PG_BIN_DIR: benchEnv('PG_BIN_DIR'),
    // The drill's free-space check reads the data directory's filesystem: the services' role may not
    // ask the server where it is (as in production, where the compose file sets it).
    ...(process.env.CT_BENCH_DIR ? { BACKUP_DRILL_DATA_DIR: path.join(process.env.CT_BENCH_DIR, 'postgres', 'data') } : {}),
    ...overrides,
  };
  return { ...backupSchema.parse(env), DATABASE_URL: databaseUrl };
}

/**
 * The environment of a `ct backup …` child process for one suite: this process's (the bench's S3
 * and tools), with a prefix and master key of the suite's own (backupConfig) and its database.
 */
export function backupCliEnv(databaseUrl: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const cfg = backupConfig(databaseUrl);
  return {
    ...process.env,
    DATABASE_URL: databaseUrl,
    BACKUP_PREFIX: cfg.BACKUP_PREFIX,
    BACKUP_MASTER_KEY: cfg.BACKUP_MASTER_KEY,
    BACKUP_MASTER_KEY_ID: cfg.BACKUP_MASTER_KEY_ID,
    ...(cfg.BACKUP_DRILL_DATA_DIR ? { BACKUP_DRILL_DATA_DIR: cfg.BACKUP_DRILL_DATA_DIR } : {}),
    S3_FORCE_PATH_STYLE: 'true',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export function bucketOf(cfg: BackupConfig): Bucket {
  return createBucket(cfg);
}

/** md5 of every row of every table (sorted), by "schema.table": equal maps mean equal data. */
export async function tableChecksums(pool: Pool): Promise<Record<string, string>> {
  const { rows } = await pool.query<{ s: string; t: string }>(
    `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
     WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
  );
  const out: Record<string, string> = {};
  for (const r of rows) {
    const { rows: c } = await pool.query<{ sum: string; n: string }>(
      `SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS sum, count(*)::text AS n FROM "${r.s}"."${r.t}" x`,
    );
    out[`${r.s}.${r.t}`] = `${c[0]!.n}:${c[0]!.sum}`;
  }
  return out;
}

/** Whether this process has a child process named `name` (read from /proc). */
export async function hasChild(name: string): Promise<boolean> {
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // "pid (comm) state ppid …"
    const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (m && m[1] === name && Number(m[2]) === process.pid) return true;
  }
  return false;
}

/**
 * Holds the first `command` (an SDK command name) sent through `bucket` until `until` resolves:
 * the run's S3 side answers late, after whatever the test does meanwhile. Resolves `held` when
 * the command arrives.
 */
export function holdBack(bucket: Bucket, command: string, until: () => Promise<unknown>): { held: Promise<void> } {
  let arrived!: () => void;
  const held = new Promise<void>((r) => (arrived = r));
  let done = false;
  bucket.s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === command && !done) {
        done = true;
        arrived();
        await until();
      }
      return next(args);
    },
    { step: 'initialize', name: `holdBack${command}` },
  );
  return { held };
}

/** Copies an object within the bucket, as anyone holding the bucket's write credentials can. */
export async function copyObject(b: Bucket, from: string, to: string): Promise<void> {
  await b.s3.send(new CopyObjectCommand({ Bucket: b.bucket, Key: to, CopySource: `${b.bucket}/${from}`, MetadataDirective: 'COPY' }));
}

/**
 * Sets the LastModified that a bench s3rver reports for `key` (the mtime of the file its
 * filesystem store keeps the object in: <data>/<bucket>/<key dirs>/<name>._S3rver_object), so
 * retention can be tested on backups that S3 itself considers old.
 */
export async function setLastModified(s3: S3Service, key: string, at: Date): Promise<void> {
  const parts = key.split('/');
  const file = path.join(path.dirname(s3.logFile), 'data', s3.bucket, ...parts.slice(0, -1), `${parts.at(-1)!}._S3rver_object`);
  await utimes(file, at, at);
}

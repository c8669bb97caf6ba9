import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { createPool, errorMessage, verifyAuditChain, type Logger, type PoolClient } from '@ct/lib';
import type { BackupConfig } from './config';
import { keyringFrom, type Keyring } from './envelope';
import { isFutureDated, listBackups, resolveBackup, type ListedBackup, type Manifest } from './manifest';
import { connect, databaseUrlFor, rowCounts } from './pgtools';
import { formatBytes } from './progress';
import { restoreDatabase } from './restore';
import { RunFailure, startRun, type RunnerDeps, type StartedRun } from './runs';
import { createBucket, getJson, s3Clock, stamp, type Bucket } from './storage';

export interface DrillDeps extends RunnerDeps {
  config: BackupConfig & { DATABASE_URL: string };
  bucket?: Bucket;
  /** Which backup to drill; the latest by default. */
  ref?: string;
  /**
   * Also drill one older backup, in rotation (default true): a master key id reused with new key
   * material, or an old backup gone bad, shows up within weeks instead of at the restore that needs it.
   */
  drillOlder?: boolean;
}

const HOUR = 3_600_000;

/** What one restore into a scratch database found. */
interface DrillResult {
  details: Record<string, unknown>;
  failure: string | null;
}

/**
 * The restore drill: checks that the latest database backup is recent and that the server has room
 * for it, restores it into a scratch database on the platform's server, compares every table's row
 * count with the manifest, verifies the audit chain of the restored rows, records how long the
 * restore took, and drops the scratch database. Then does the same with one older backup, chosen
 * in rotation (the drill's run count over the older backups, oldest first), so over the weeks
 * every age of backup is drilled.
 */
export function startRestoreDrill(deps: DrillDeps): Promise<StartedRun> {
  return startRun(deps, 'drill', async ({ client, run }) => {
    const cfg = deps.config;
    const bucket = deps.bucket ?? createBucket(cfg);
    const keyring = keyringFrom(cfg);
    const details: Record<string, unknown> = {};
    const fail = (message: string, objectKey?: string): never => {
      throw new RunFailure(message, { objectKey, details });
    };
    try {
      const clock = await s3Clock(bucket);
      const all = await listBackups(bucket, 'database');
      const ref = deps.ref ?? 'latest';
      const latest = await resolveBackup(bucket, 'database', ref, { maxSkewSeconds: cfg.BACKUP_MAX_CLOCK_SKEW_SECONDS, log: deps.log });
      details.backupKey = latest.backup.key;
      const ageHours = (clock.s3.getTime() - latest.backup.lastModified.getTime()) / HOUR;
      details.backupAgeHours = Math.round(ageHours * 10) / 10;
      if (ref === 'latest' && ageHours > cfg.BACKUP_DRILL_MAX_AGE_HOURS) {
        fail(
          `the latest database backup, ${latest.backup.key}, was stored ${ageHours.toFixed(1)} h ago (S3's time), more than ` +
            `BACKUP_DRILL_MAX_AGE_HOURS (${cfg.BACKUP_DRILL_MAX_AGE_HOURS} h): backups are not being made. Nothing was restored`,
          latest.backup.key,
        );
      }
      const disk = await diskFor(client, cfg);
      await checkDisk(disk, latest.manifest, cfg, latest.backup.key, fail);

      const first = await drillOne(client, deps, bucket, keyring, latest);
      Object.assign(details, first.details);
      if (first.failure) fail(first.failure, latest.backup.key);

      if (deps.drillOlder !== false) {
        const older = await chooseOlder(deps, bucket, all, latest.backup.key, clock.s3, run.id);
        if (!older) {
          details.older = { skipped: 'no older authenticated database backup in the bucket' };
        } else {
          await checkDisk(disk, older.manifest, cfg, older.backup.key, fail);
          const second = await drillOne(client, deps, bucket, keyring, older);
          details.older = second.details;
          if (second.failure)
            fail(`the older backup drilled in rotation, ${older.backup.key}, failed: ${second.failure}`, older.backup.key);
        }
      }
      return { objectKey: latest.backup.key, bytes: latest.manifest.sizes.ciphertextBytes, details };
    } catch (err) {
      if (err instanceof RunFailure) throw err;
      throw new RunFailure(errorMessage(err), { details });
    }
  });
}

/**
 * The older backup to drill this time: complete, authenticated (legacy manifests are passed
 * over) and not future-dated, other than the latest; the n-th from the oldest, n being the number
 * of drills before this one, so successive drills walk through every age of backup.
 */
async function chooseOlder(
  deps: DrillDeps,
  bucket: Bucket,
  all: ListedBackup[],
  latestKey: string,
  s3Now: Date,
  runId: string,
): Promise<{ backup: ListedBackup; manifest: Manifest } | null> {
  const candidates = all.filter((b) => b.key !== latestKey && !isFutureDated(b, s3Now, deps.config.BACKUP_MAX_CLOCK_SKEW_SECONDS));
  if (candidates.length === 0) return null;
  const { rows } = await deps.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM backup_runs WHERE kind = 'drill' AND id <> $1`, [
    runId,
  ]);
  const start = rows[0]!.n % candidates.length;
  for (let i = 0; i < candidates.length; i++) {
    const backup = candidates[(start + i) % candidates.length]!;
    const manifest = await getJson<Manifest>(bucket, backup.manifestKey);
    if (manifest.auth) return { backup, manifest };
  }
  return null;
}

/** The filesystem the scratch database lands on, as this process sees it. */
async function diskFor(client: PoolClient, cfg: BackupConfig): Promise<string> {
  if (cfg.BACKUP_DRILL_DATA_DIR) return cfg.BACKUP_DRILL_DATA_DIR;
  const dataDir = await client
    .query<{ data_directory: string }>('SHOW data_directory')
    .then((r) => r.rows[0]!.data_directory)
    .catch(() => null);
  if (dataDir && existsSync(dataDir)) return dataDir;
  throw new RunFailure(
    `cannot check the free disk space before the drill: ${dataDir ? `the server's data directory ${dataDir} is not visible here` : "the server's data directory cannot be read (needs pg_read_all_settings)"}; ` +
      "set BACKUP_DRILL_DATA_DIR to a path on the database server's data filesystem (e.g. its volume mounted read-only). Nothing was restored",
  );
}

/** Refuses to restore unless the disk keeps BACKUP_DRILL_MIN_FREE_MB free after about twice the database's size. */
async function checkDisk(
  path: string,
  manifest: Manifest,
  cfg: BackupConfig,
  key: string,
  fail: (message: string, objectKey?: string) => never,
): Promise<void> {
  let free: number;
  try {
    const s = await statfs(path);
    free = s.bavail * s.bsize;
  } catch (err) {
    return fail(`cannot check the free disk space on ${path} before the drill: ${errorMessage(err)}. Nothing was restored`, key);
  }
  // The restored tables and indexes take about the database's size, and as much WAL is written meanwhile.
  const size = manifest.database?.sizeBytes ?? manifest.sizes.dumpBytes ?? manifest.sizes.plaintextBytes;
  const needed = 2 * size + cfg.BACKUP_DRILL_MIN_FREE_MB * 1024 * 1024;
  if (free < needed) {
    fail(
      `not enough free disk for the drill of ${key}: ${formatBytes(free)} free on ${path}, the restore needs about ` +
        `${formatBytes(needed)} (twice the database's ${formatBytes(size)}, and BACKUP_DRILL_MIN_FREE_MB ${cfg.BACKUP_DRILL_MIN_FREE_MB} MB left over). Nothing was restored`,
      key,
    );
  }
}

/** Restores one backup into a scratch database, checks it and drops it; never throws for what it finds. */
async function drillOne(
  client: PoolClient,
  deps: { config: DrillDeps['config']; log?: Logger },
  bucket: Bucket,
  keyring: Keyring,
  resolved: { backup: ListedBackup; manifest: Manifest },
): Promise<DrillResult> {
  const cfg = deps.config;
  const scratch = `ct_drill_${stamp(new Date()).toLowerCase()}_${randomBytes(3).toString('hex')}`;
  const scratchUrl = databaseUrlFor(cfg.DATABASE_URL, scratch);
  const details: Record<string, unknown> = { scratchDatabase: scratch, backupKey: resolved.backup.key };
  await client.query(`CREATE DATABASE "${scratch}"`);
  try {
    const restored = await restoreDatabase({
      bucket,
      keyring,
      ref: resolved.backup.key,
      resolved,
      target: scratchUrl,
      pgBinDir: cfg.PG_BIN_DIR,
      log: deps.log,
    });
    Object.assign(details, {
      backupRunId: restored.manifest.runId,
      keyId: restored.manifest.encryption.keyId,
      verifySeconds: restored.verifySeconds,
      restoreSeconds: restored.restoreSeconds,
      totalRestoreSeconds: restored.verifySeconds + restored.restoreSeconds,
    });
    const db = await connect(scratchUrl, 'the drill database');
    let counts: Record<string, number>;
    try {
      counts = await rowCounts(db);
    } finally {
      await db.end().catch(() => undefined);
    }
    const expected = restored.manifest.database?.rowCounts ?? {};
    const mismatches = Object.keys({ ...expected, ...counts })
      .filter((t) => expected[t] !== counts[t])
      .map((t) => ({ table: t, manifest: expected[t] ?? null, restored: counts[t] ?? null }));
    details.tables = Object.keys(counts).length;
    details.rows = Object.values(counts).reduce((a, b) => a + b, 0);
    details.mismatches = mismatches;
    const pool = createPool({ url: scratchUrl, max: 1, applicationName: 'ct-drill' });
    try {
      details.auditChain = await verifyAuditChain(pool);
    } finally {
      await pool.end();
    }
    const chain = details.auditChain as { ok: boolean; reason: string | null; firstBadId: string | null };
    if (mismatches.length > 0) {
      return {
        details,
        failure:
          `row counts differ from the manifest in ${mismatches.length} table(s), first ${mismatches[0]!.table}: ` +
          `${mismatches[0]!.manifest} in the manifest, ${mismatches[0]!.restored} restored`,
      };
    }
    if (!chain.ok) return { details, failure: `the restored audit chain does not verify at row ${chain.firstBadId}: ${chain.reason}` };
    return { details, failure: null };
  } catch (err) {
    return { details, failure: errorMessage(err) };
  } finally {
    await client.query(`DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`).catch((err) => {
      deps.log?.error({ db: scratch, err: errorMessage(err) }, 'could not drop the drill database');
    });
  }
}

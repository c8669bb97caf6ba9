import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool, type Pool } from '@ct/lib';
import { backupConfig, bucketOf } from '../../test/helpers/backup';
import { appUrlOf, createTestDatabase, migrateAsOwner, type TestDatabase } from '../../test/helpers/db';
import { startPostgres, startS3, type PostgresService, type S3Service } from '../../test/bench/services';
import { startDatabaseBackup, type BackupProgress } from './database';
import { keyringFrom } from './envelope';
import { resolveBackup } from './manifest';
import { verifyBackup } from './restore';
import { consecutiveFailures, listRuns, CONSECUTIVE_FAILURES_SQL } from './runs';
import { kindPrefix, listIncompleteUploads, listKeys } from './storage';

/**
 * ~30 MB of poorly compressible rows: several 5 MB parts once compressed and encrypted. The backup
 * dumps as ct_app, which reads only what app_role_grants lists: the table gets its row there, as a
 * migration adding a table does.
 */
async function bulk(pool: Pool): Promise<void> {
  await pool.query(
    `CREATE TABLE bulk AS SELECT g AS id, md5(g::text) || md5((g * 31)::text) || md5((g * 17)::text) AS payload
     FROM generate_series(1, 300000) g`,
  );
  await pool.query(`INSERT INTO app_role_grants VALUES ('relation', 'public.bulk', '{SELECT}', 'pg_dump reads the test payload')`);
  await pool.query('CALL ct_app_grants()');
}

describe('backup faults (private S3 and Postgres that the tests stop)', () => {
  let dir: string;
  let s3: S3Service;
  let db: TestDatabase;
  let cfg: ReturnType<typeof backupConfig>;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-backup-faults-'));
    s3 = await startS3(dir, { name: 's3-faults' });
    db = await createTestDatabase({ prefix: 'faults' });
    await bulk(db.pool);
    cfg = backupConfig(db.url, { S3_ENDPOINT: s3.endpoint, S3_BUCKET: s3.bucket, BACKUP_PART_SIZE_MB: '5' });
  }, 120_000);
  afterAll(async () => {
    await db.drop();
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('S3 stopped mid-upload: failed run with the reason, multipart upload aborted, earlier backup intact; twice = 2 consecutive failures', async () => {
    const bucket = bucketOf(cfg);
    const earlier = await (await startDatabaseBackup({ pool: db.appPool, config: cfg })).done;
    expect(earlier.status).toBe('succeeded');
    expect(earlier.bytes).toBeGreaterThan(12 * 1024 * 1024);

    for (const attempt of [1, 2]) {
      let halted: Promise<void> | null = null;
      const onProgress = (p: BackupProgress) => {
        // Once the multipart upload is under way (more than one part handed over), pull the plug.
        if (!halted && p.encryptedBytes > 6 * 1024 * 1024) {
          halted = s3.halt().then(async () => {
            // S3 comes back while the failed run is still trying to abort its upload.
            await new Promise((r) => setTimeout(r, 3000));
            await s3.start();
          });
        }
      };
      const run = await (await startDatabaseBackup({ pool: db.appPool, config: cfg, onProgress })).done;
      await halted;
      expect(halted).not.toBeNull();
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/upload to s3:\/\/.* failed: (connection refused|the S3 endpoint closed the connection)/);
      expect(await listIncompleteUploads(bucket, kindPrefix(bucket, 'database'))).toEqual([]);
      const keys = (await listKeys(bucket, kindPrefix(bucket, 'database'))).map((k) => k.key);
      expect(keys).toEqual([earlier.objectKey, `${earlier.objectKey}.manifest.json`]);
      expect(await consecutiveFailures(db.pool, 'database')).toBe(attempt);
    }
    // The exporter's query, as documented, agrees.
    expect((await db.pool.query(CONSECUTIVE_FAILURES_SQL, ['database'])).rows[0].n).toBe(2);
    // The earlier backup still verifies end to end.
    const { backup, manifest } = await resolveBackup(bucket, 'database', 'latest');
    expect(backup.key).toBe(earlier.objectKey);
    await verifyBackup(bucket, keyringFrom(cfg), backup, manifest);
    // A success resets the count.
    expect((await (await startDatabaseBackup({ pool: db.appPool, config: cfg })).done).status).toBe('succeeded');
    expect(await consecutiveFailures(db.pool, 'database')).toBe(0);
  }, 180_000);

  it('S3 unreachable when the run starts: failed run naming S3, and the dump it had started is stopped', async () => {
    await s3.halt();
    try {
      const run = await (await startDatabaseBackup({ pool: db.appPool, config: { ...cfg, BACKUP_ABORT_RETRY_SECONDS: 0 } })).done;
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/ECONNREFUSED|connection refused/);
      expect(run.objectKey).toBeNull();
      // pg_dump starts before the object is named (it reads the catalog meanwhile): it must not
      // outlive the failed run. Its session ends once the killed process's socket is closed.
      const dumpSessions = async () =>
        Number(
          (
            await db.pool.query(
              `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'pg_dump' AND datname = current_database()`,
            )
          ).rows[0].n,
        );
      const deadline = Date.now() + 5000;
      while ((await dumpSessions()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await dumpSessions()).toBe(0);
    } finally {
      await s3.start();
    }
  }, 60_000);

  describe('pg_dump failing', () => {
    let pg: PostgresService;
    let pgPool: Pool;
    beforeAll(async () => {
      pg = await startPostgres(dir, { database: 'ct' });
      pgPool = createPool({ url: pg.url, max: 3 });
      await migrateAsOwner(pgPool);
      await bulk(pgPool);
    }, 120_000);
    afterAll(async () => {
      await pgPool.end().catch(() => undefined);
      await pg.stop();
    });

    it('the database going down mid-dump: failed run naming pg_dump, no object and no upload left behind', async () => {
      // Runs are recorded in the bench database; the dump reads the private server we stop.
      const local = backupConfig(db.url, {
        S3_ENDPOINT: s3.endpoint,
        S3_BUCKET: s3.bucket,
        BACKUP_DATABASE_URL: appUrlOf(pg.url),
        BACKUP_PART_SIZE_MB: '5',
      });
      const bucket = bucketOf(local);
      let halted = false;
      const onProgress = (p: BackupProgress) => {
        if (!halted && p.encryptedBytes > 256 * 1024) {
          halted = true;
          // Synchronous: pg_dump blocks on its full pipe meanwhile, so it cannot finish first.
          void pgPool.end().catch(() => undefined);
          void pg.halt();
        }
      };
      const run = await (await startDatabaseBackup({ pool: db.appPool, config: local, onProgress })).done;
      expect(halted).toBe(true);
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(
        /^pg_dump failed: .*(terminating connection due to administrator command|the server terminated abnormally)/,
      );
      expect(run.objectKey).toBeNull();
      expect(await listKeys(bucket, local.BACKUP_PREFIX)).toEqual([]);
      expect(await listIncompleteUploads(bucket, local.BACKUP_PREFIX)).toEqual([]);
      const recorded = await listRuns(db.pool, { kind: 'database', limit: 1 });
      expect(recorded[0]).toMatchObject({ id: run.id, status: 'failed' });
      const audit = await db.pool.query(`SELECT outcome FROM audit_logs WHERE action = 'backup.database' AND target_id = $1`, [run.id]);
      expect(audit.rows).toEqual([{ outcome: 'failure' }]);
    }, 120_000);
  });
});

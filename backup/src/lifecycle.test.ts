import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import type { Logger } from '@ct/lib';
import { backupConfig, bucketOf, hasChild, holdBack } from '../../test/helpers/backup';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db';
import { startDatabaseBackup } from './database';
import { keyringFrom } from './envelope';
import { restoreDatabase } from './restore';
import { getRun } from './runs';

/** A logger that keeps the messages of warnings and errors. */
function recordingLogger(): { log: Logger; said: string[] } {
  const said: string[] = [];
  const keep = (_obj: unknown, msg?: string) => void said.push(msg ?? String(_obj));
  const log = { warn: keep, error: keep, info: () => undefined, debug: () => undefined } as unknown as Logger;
  return { log, said };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a run survives what happens around it (real Postgres, s3rver)', () => {
  let db: TestDatabase;
  const others: TestDatabase[] = [];

  beforeAll(async () => {
    db = await createTestDatabase({ prefix: 'lifecycle' });
  });
  afterAll(async () => {
    await Promise.all(others.map((d) => d.drop()));
    await db.drop();
  });

  it("losing the lock's connection mid-run neither crashes the process nor loses the run", async () => {
    const cfg = backupConfig(db.url);
    const bucket = bucketOf(cfg);
    const { log, said } = recordingLogger();
    // While the run waits for S3, the session holding the kind's advisory lock is killed.
    holdBack(bucket, 'ListMultipartUploadsCommand', async () => {
      const { rows } = await db.pool.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      expect(rows).toHaveLength(1);
      await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await sleep(200);
    });
    const run = await (await startDatabaseBackup({ pool: db.appPool, config: cfg, bucket, log })).done;
    expect(run).toMatchObject({ status: 'succeeded', error: null });
    expect(said).toContainEqual(expect.stringMatching(/lost the database run's lock connection/));
    // The lock went with the session: the next run takes it.
    const next = await (await startDatabaseBackup({ pool: db.appPool, config: cfg })).done;
    expect(next.status).toBe('succeeded');
  });

  it("a finished run leaves no listener on the pool's clients", async () => {
    const cfg = backupConfig(db.url);
    for (let i = 0; i < 3; i++)
      expect((await (await startDatabaseBackup({ pool: db.appPool, config: cfg })).done).status).toBe('succeeded');
    // Check out every client the pool has: pg-pool removes its own idle listener on checkout.
    const clients = await Promise.all(Array.from({ length: db.pool.totalCount }, () => db.pool.connect()));
    try {
      expect(clients.map((c) => c.listenerCount('error'))).toEqual(clients.map(() => 0));
    } finally {
      clients.forEach((c) => c.release());
    }
  });

  it('recording the end of a run failing still settles it, naming both the backup and the failure', async () => {
    const cfg = backupConfig(db.url);
    await db.pool.query(`CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'backup_runs is read-only for this test'; END $$`);
    await db.pool.query('CREATE TRIGGER refuse_update BEFORE UPDATE ON backup_runs FOR EACH ROW EXECUTE FUNCTION refuse_update()');
    let run;
    try {
      run = await (await startDatabaseBackup({ pool: db.appPool, config: cfg })).done;
    } finally {
      await db.pool.query('DROP TRIGGER refuse_update ON backup_runs; DROP FUNCTION refuse_update()');
    }
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(
      /^the backup was stored as .*\.dump\.enc, but recording the end of the run failed: backup_runs is read-only for this test$/,
    );
    expect((await getRun(db.pool, run.id))!.status).toBe('running');
    // The next run closes the row it left and runs normally.
    const next = await (await startDatabaseBackup({ pool: db.appPool, config: cfg })).done;
    expect(next.status).toBe('succeeded');
    expect((await getRun(db.pool, run.id))!.error).toMatch(/^abandoned/);
  });

  it("a server's idle-in-transaction timeout does not end the snapshot the dump reads", async () => {
    const strict = await createTestDatabase({ prefix: 'idletimeout' });
    others.push(strict);
    await strict.pool.query(`ALTER DATABASE "${strict.name}" SET idle_in_transaction_session_timeout = '300ms'`);
    const cfg = backupConfig(strict.url);
    const bucket = bucketOf(cfg);
    const { log, said } = recordingLogger();
    // The snapshot's session sits idle in its transaction while S3 answers late.
    holdBack(bucket, 'ListMultipartUploadsCommand', () => sleep(1500));
    const run = await (await startDatabaseBackup({ pool: strict.pool, config: cfg, bucket, log })).done;
    expect(run).toMatchObject({ status: 'succeeded', error: null });
    expect(said).toEqual([]);
  });

  it('an object gone from the bucket is refused at restore, and the zstd started to check it is stopped', async () => {
    const cfg = backupConfig(db.url);
    const bucket = bucketOf(cfg);
    const run = await (await startDatabaseBackup({ pool: db.appPool, config: cfg })).done;
    await bucket.s3.send(new DeleteObjectCommand({ Bucket: bucket.bucket, Key: run.objectKey! }));
    const target = await createTestDatabase({ migrate: false, prefix: 'gonerestore' });
    others.push(target);
    await expect(
      restoreDatabase({ bucket, keyring: keyringFrom(cfg), ref: run.id, target: target.ownerUrl, pgBinDir: cfg.PG_BIN_DIR }),
    ).rejects.toThrow(/^no such object in s3:\/\/.*\.dump\.enc$/);
    for (let i = 0; i < 50 && (await hasChild('zstd')); i++) await sleep(20);
    expect(await hasChild('zstd')).toBe(false);
  });
});

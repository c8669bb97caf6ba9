import { backupConfig } from '../../test/helpers/backup';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db';
import { startDatabaseBackup } from './database';
import { startRestoreDrill } from './drill';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the restore drill (real Postgres, s3rver)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase({ prefix: 'drill' });
    await db.pool.query(`INSERT INTO clients (slug, name) VALUES ('pizza-shop', 'Pizza Shop'), ('plumber', 'Plumber')`);
  });
  afterAll(async () => {
    await db.drop();
  });

  const backup = async (cfg: ReturnType<typeof backupConfig>, hoursAgo = 0) => {
    const run = await (
      await startDatabaseBackup({ pool: db.appPool, config: cfg, now: () => new Date(Date.now() - hoursAgo * 3_600_000) })
    ).done;
    expect(run.status).toBe('succeeded');
    return run.objectKey!;
  };
  const drillCount = async () =>
    (await db.pool.query(`SELECT count(*)::int AS n FROM backup_runs WHERE kind = 'drill'`)).rows[0].n as number;

  it('also drills an older backup, so a key id reused with new key material is caught', async () => {
    const cfg = backupConfig(db.url);
    const older = await backup(cfg, 48);
    // The master key is replaced under the same id: new backups restore, older ones no longer can.
    const reused = { ...cfg, BACKUP_MASTER_KEY: 'another-master-key-under-the-same-id-0123456789' };
    const latest = await backup(reused);
    const run = await (await startRestoreDrill({ pool: db.appPool, config: reused })).done;
    expect(run.status).toBe('failed');
    expect(run.error).toBe(
      `the older backup drilled in rotation, ${older}, failed: the manifest of ${older} does not authenticate with master key "k1": ` +
        'the manifest was modified, or this is the wrong master key (the key under that id changed since the backup was made)',
    );
    // The latest one was drilled first, and passed.
    expect(run.details).toMatchObject({ backupKey: latest, mismatches: [], auditChain: { ok: true } });
    expect(run.details.older).toMatchObject({ backupKey: older });
    // With the right keys (the old material kept as a previous key under another id is not
    // enough: the id is the same), the operator's fix is a new id for the new material.
    const fixed = { ...reused, BACKUP_MASTER_KEY_ID: 'k2', BACKUP_PREVIOUS_MASTER_KEYS: { k1: cfg.BACKUP_MASTER_KEY } };
    const after = await backup(fixed);
    const ok = await (await startRestoreDrill({ pool: db.appPool, config: fixed })).done;
    expect(ok.details.backupKey).toBe(after);
    // The rotation now lands on one of the two older backups: the one made under the replaced key fails, the other passes.
    const drilled = (ok.details.older as { backupKey: string }).backupKey;
    expect([older, latest]).toContain(drilled);
    expect(ok.status).toBe(drilled === older ? 'succeeded' : 'failed');
  });

  it('walks through the older backups in rotation, one per drill', async () => {
    const cfg = backupConfig(db.url);
    const keys = [await backup(cfg, 72), await backup(cfg, 48), await backup(cfg, 24)];
    const latest = await backup(cfg);
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const before = await drillCount();
      const run = await (await startRestoreDrill({ pool: db.appPool, config: cfg })).done;
      expect(run.error).toBeNull();
      expect(run.details.backupKey).toBe(latest);
      const older = (run.details.older as { backupKey: string; mismatches: unknown[]; auditChain: { ok: boolean } }).backupKey;
      // The n-th drill takes the n-th older backup, oldest first.
      expect(older).toBe(keys[before % 3]);
      expect(run.details.older).toMatchObject({ mismatches: [], auditChain: { ok: true }, restoreSeconds: expect.any(Number) });
      seen.push(older);
    }
    expect(seen.sort()).toEqual([...keys].sort());
  });

  it('a bucket with one backup drills it alone and says so', async () => {
    const cfg = backupConfig(db.url);
    await backup(cfg);
    const run = await (await startRestoreDrill({ pool: db.appPool, config: cfg })).done;
    expect(run.status).toBe('succeeded');
    expect(run.details.older).toEqual({ skipped: 'no older authenticated database backup in the bucket' });
  });

  it('checks the free disk space before restoring anything', async () => {
    const base = backupConfig(db.url);
    const key = await backup(base);
    const short = { ...base, BACKUP_DRILL_MIN_FREE_MB: 1024 * 1024 * 1024 };
    const run = await (await startRestoreDrill({ pool: db.appPool, config: short })).done;
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(
      new RegExp(
        `^not enough free disk for the drill of ${key.replace(/\./g, '\\.')}: .* free on /.*, the restore needs about .* \\(twice the database's .*, and BACKUP_DRILL_MIN_FREE_MB 1073741824 MB left over\\)\\. Nothing was restored$`,
      ),
    );
    expect(run.details.scratchDatabase).toBeUndefined();
    const nowhere = { ...base, BACKUP_DRILL_DATA_DIR: '/no/such/volume' };
    const run2 = await (await startRestoreDrill({ pool: db.appPool, config: nowhere })).done;
    expect(run2.error).toMatch(/^cannot check the free disk space on \/no\/such\/volume before the drill: .*ENOENT.*Nothing was restored$/);
    expect(run2.details.scratchDatabase).toBeUndefined();
  });

  it("refuses a latest backup older than BACKUP_DRILL_MAX_AGE_HOURS, by S3's time", async () => {
    const cfg = backupConfig(db.url);
    const key = await backup(cfg);
    await sleep(3500);
    const run = await (await startRestoreDrill({ pool: db.appPool, config: { ...cfg, BACKUP_DRILL_MAX_AGE_HOURS: 0.0005 } })).done;
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(
      new RegExp(
        `^the latest database backup, ${key.replace(/\./g, '\\.')}, was stored [\\d.]+ h ago \\(S3's time\\), more than BACKUP_DRILL_MAX_AGE_HOURS \\(0\\.0005 h\\): backups are not being made\\. Nothing was restored$`,
      ),
    );
    expect(run.details.scratchDatabase).toBeUndefined();
  });
});

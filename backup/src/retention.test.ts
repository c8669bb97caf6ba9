import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { backupConfig, bucketOf, setLastModified } from '../../test/helpers/backup';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db';
import { startS3, type S3Service } from '../../test/bench/services';
import { latestBackup, manifestKeyOf, resolveBackup } from './manifest';
import { applyRetention } from './retention';
import { kindPrefix, listKeys, objectKeyFor, s3Clock, type Bucket, type StoredKind } from './storage';

const DAY = 86_400_000;

/**
 * Retention and `latest` against S3's own timestamps. A private s3rver, so the tests can set the
 * LastModified it reports (the mtime of its files) and plant backups S3 itself considers old.
 */
describe('retention and latest by S3 time (private s3rver, planted objects, a skewed clock)', () => {
  let dir: string;
  let s3: S3Service;
  let db: TestDatabase;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-retention-'));
    s3 = await startS3(dir, { name: 's3-retention' });
    db = await createTestDatabase({ prefix: 'retention' });
  }, 60_000);
  afterAll(async () => {
    await db.drop();
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const freshBucket = (): Bucket => bucketOf(backupConfig(db.url, { S3_ENDPOINT: s3.endpoint, S3_BUCKET: s3.bucket }));

  /**
   * A backup as the module names it (object and manifest), named `named`, stored (by S3's
   * LastModified) `ageDays` ago. Retention and `latest` read only names and S3 times.
   */
  async function plant(b: Bucket, kind: StoredKind, named: Date, ageDays: number, lockedUntil?: Date): Promise<string> {
    const key = objectKeyFor(b, kind, named);
    const lock = lockedUntil ? { ObjectLockMode: 'COMPLIANCE' as const, ObjectLockRetainUntilDate: lockedUntil } : {};
    for (const [k, body] of [
      [key, 'CTBK planted'],
      [manifestKeyOf(key), JSON.stringify({ kind, objectKey: key, createdAt: named.toISOString() })],
    ] as const) {
      await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: k, Body: body, ...lock }));
      await setLastModified(s3, k, new Date(Date.now() - ageDays * DAY));
    }
    return key;
  }
  /** 41 daily database backups, ages 0..40 days, each named after its own day. */
  async function fortyOne(b: Bucket): Promise<string[]> {
    const keys: string[] = [];
    for (let age = 40; age >= 0; age--) keys.push(await plant(b, 'database', new Date(Date.now() - age * DAY), age));
    return keys;
  }
  const stored = async (b: Bucket, kind: StoredKind = 'database') =>
    (await listKeys(b, kindPrefix(b, kind))).map((k) => k.key).filter((k) => !k.endsWith('.manifest.json'));

  it("reads S3's clock from its Date header", async () => {
    const clock = await s3Clock(freshBucket());
    expect(Math.abs(clock.skewSeconds)).toBeLessThan(5);
    const skewed = await s3Clock(freshBucket(), () => new Date(Date.now() + 60 * DAY));
    expect(skewed.skewSeconds).toBeGreaterThan(60 * 86_400 - 5);
  });

  it('a local clock two months ahead: the pass refuses to run, deletes nothing, and says why in the audit log', async () => {
    const b = freshBucket();
    const keys = await fortyOne(b);
    await expect(
      applyRetention({ bucket: b, retentionDays: 30, now: () => new Date(Date.now() + 61 * DAY), pool: db.appPool, actor: 'test' }),
    ).rejects.toThrow(
      /^retention refused to run: the local clock \(.*\) and S3's \(.*\) disagree by 61 days, more than BACKUP_MAX_CLOCK_SKEW_SECONDS \(300 s\); fix the clock \(NTP\) first\. Nothing was deleted$/,
    );
    expect(await stored(b)).toEqual(keys.slice().sort());
    const audit = await db.pool.query(
      `SELECT outcome, details->>'error' AS error FROM audit_logs WHERE action = 'backup.retention' ORDER BY id DESC LIMIT 1`,
    );
    expect(audit.rows).toEqual([{ outcome: 'failure', error: expect.stringMatching(/disagree by 61 days/) }]);
    // A clock behind S3 is refused alike; within the threshold the pass runs.
    await expect(applyRetention({ bucket: b, retentionDays: 30, now: () => new Date(Date.now() - 10 * 60_000) })).rejects.toThrow(
      /disagree by 10 minutes/,
    );
    const ok = await applyRetention({ bucket: b, retentionDays: 30, now: () => new Date(Date.now() + 60_000) });
    expect(ok.deleted).toHaveLength(10);
  });

  it("ages come from S3's LastModified, not from the object's name", async () => {
    const b = freshBucket();
    // Named in 2020, stored today: young. Named today, stored 45 days ago: old.
    const oldNames = [];
    for (let i = 0; i < 3; i++) oldNames.push(await plant(b, 'database', new Date(Date.UTC(2020, 0, 1 + i)), 0));
    const oldByS3 = [];
    for (let i = 0; i < 3; i++) oldByS3.push(await plant(b, 'database', new Date(Date.now() - i * 60_000), 45 + i));
    for (let i = 0; i < 4; i++) await plant(b, 'database', new Date(Date.now() - (i + 10) * 60_000), 1);
    const r = await applyRetention({ bucket: b, retentionDays: 30, maxDeleteShare: 1 });
    expect(r.deleted.sort()).toEqual(oldByS3.sort());
    expect(await stored(b)).toEqual(expect.arrayContaining(oldNames));
  });

  it('never deletes the newest 4 database and 2 n8n backups, however old', async () => {
    const b = freshBucket();
    const db6 = [];
    for (let i = 0; i < 6; i++) db6.push(await plant(b, 'database', new Date(Date.now() - (90 + i) * DAY), 90 + i));
    const n3 = [];
    for (let i = 0; i < 3; i++) n3.push(await plant(b, 'n8n', new Date(Date.now() - (90 + i) * DAY), 90 + i));
    const r = await applyRetention({ bucket: b, retentionDays: 30, maxDeleteShare: 1 });
    // db6[0] is the newest (90 days), db6[5] the oldest.
    expect(r.deleted.sort()).toEqual([db6[4], db6[5], n3[2]].sort());
    expect(r.keptNewest.sort()).toEqual([...db6.slice(0, 4), ...n3.slice(0, 2)].sort());
    expect((await stored(b)).sort()).toEqual(db6.slice(0, 4).sort());
    expect((await stored(b, 'n8n')).sort()).toEqual(n3.slice(0, 2).sort());
    // Configurable: keep 1 of each.
    const r2 = await applyRetention({ bucket: b, retentionDays: 30, maxDeleteShare: 1, keep: { database: 1, n8n: 1 } });
    expect(r2.deleted.sort()).toEqual([db6[1], db6[2], db6[3], n3[1]].sort());
    expect(await stored(b)).toEqual([db6[0]]);
  });

  it('deletes at most a bounded share of the backups in one pass, the oldest first', async () => {
    const b = freshBucket();
    // Retention did not run for weeks: 20 backups are 35..54 days old, one is fresh.
    const old: string[] = [];
    for (let age = 54; age >= 35; age--) old.push(await plant(b, 'database', new Date(Date.now() - age * DAY), age));
    await plant(b, 'database', new Date(), 0);
    const r = await applyRetention({ bucket: b, retentionDays: 30 });
    // 21 backups, 25 % of them: 5 go (the oldest), 12 more are due (the newest 4 are kept).
    expect(r.deleted).toEqual(old.slice(0, 5));
    expect(r.deferred).toEqual(old.slice(5, 17));
    expect(await stored(b)).toHaveLength(16);
    const r2 = await applyRetention({ bucket: b, retentionDays: 30 });
    expect(r2.deleted).toEqual(old.slice(5, 9));
  });

  it('latest is the newest by S3 time and never a future-dated object', async () => {
    const b = freshBucket();
    const keys = await fortyOne(b);
    // One object named in 2030 (stored now, so also the newest by S3 time), one stored last but named earlier.
    const future = await plant(b, 'database', new Date(Date.UTC(2030, 0, 1)), 0);
    expect((await resolveBackup(b, 'database', 'latest')).backup.key).toBe(keys.at(-1));
    const { futureDated } = await latestBackup(b, 'database');
    expect(futureDated.map((x) => x.key)).toEqual([future]);
    const renamed = await plant(b, 'database', new Date(Date.now() - 3 * DAY), 0);
    await setLastModified(s3, renamed, new Date(Date.now() + 1000));
    await setLastModified(s3, manifestKeyOf(renamed), new Date(Date.now() + 1000));
    expect((await resolveBackup(b, 'database', 'latest')).backup.key).toBe(renamed);
    // A future-dated backup can still be named explicitly.
    expect((await resolveBackup(b, 'database', future)).backup.key).toBe(future);
  });
  it('a delete that Object Lock refuses is reported, and the pass goes on', async () => {
    const b = freshBucket();
    // Six backups 40..45 days old; the second oldest is still under a compliance-mode lock.
    const keys: string[] = [];
    for (let age = 45; age >= 40; age--) {
      const locked = age === 44 ? new Date(Date.now() + 30 * DAY) : undefined;
      keys.push(await plant(b, 'database', new Date(Date.now() - age * DAY), age, locked));
    }
    for (let i = 0; i < 4; i++) await plant(b, 'database', new Date(Date.now() - i * 60_000), 0);
    const r = await applyRetention({ bucket: b, retentionDays: 30, maxDeleteShare: 1, pool: db.appPool, actor: 'test' });
    expect(r.deleted.sort()).toEqual([keys[0], ...keys.slice(2)].sort());
    expect(r.refused).toEqual(
      [keys[1]!, manifestKeyOf(keys[1]!)].map((key) => ({ key, code: 'AccessDenied', message: expect.stringMatching(/object lock/) })),
    );
    expect(await stored(b)).toContain(keys[1]);
    expect(await stored(b)).toHaveLength(5);
    const audit = await db.pool.query(
      `SELECT outcome, details->'refused' AS refused FROM audit_logs WHERE action = 'backup.retention' ORDER BY id DESC LIMIT 1`,
    );
    expect(audit.rows[0]).toMatchObject({ outcome: 'success', refused: [{ key: keys[1], code: 'AccessDenied' }, expect.anything()] });
  });
});

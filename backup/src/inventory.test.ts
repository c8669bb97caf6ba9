import { CopyObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { N8nClient } from '@ct/lib';
import { backupConfig, bucketOf } from '../../test/helpers/backup';
import { benchEnv, createTestDatabase, type TestDatabase } from '../../test/helpers/db';
import { startDatabaseBackup } from './database';
import { checkBackupInventory } from './inventory';
import { manifestKeyOf } from './manifest';
import { startN8nBackup } from './n8n';
import type { Bucket } from './storage';

/**
 * The hourly inventory against the bench's S3 and real backups: a backup deleted while retention
 * would keep it, or an older backup copied over a newer one's object, is found and recorded; a
 * backup retention may have deleted is not reported.
 */
let db: TestDatabase;
let bucket: Bucket;
let cfg: ReturnType<typeof backupConfig>;
const runs: { id: string; key: string }[] = [];

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'inventory' });
  cfg = backupConfig(db.url);
  bucket = bucketOf(cfg);
  for (let i = 0; i < 3; i++) {
    await db.pool.query('INSERT INTO clients (slug, name) VALUES ($1, $2)', [`client-${i}`, `Client ${i}`]);
    const done = await (await startDatabaseBackup({ pool: db.appPool, config: cfg, actor: 'test' })).done;
    expect(done.status).toBe('succeeded');
    runs.push({ id: done.id, key: done.objectKey! });
  }
  const n8n = new N8nClient({ url: benchEnv('N8N_URL'), apiKey: benchEnv('N8N_API_KEY'), timeoutSeconds: 30 });
  const exported = await (await startN8nBackup({ pool: db.appPool, config: cfg, n8n, n8nUrl: benchEnv('N8N_URL'), actor: 'test' })).done;
  expect(exported.status).toBe('succeeded');
}, 120_000);
afterAll(() => db.drop());

const check = () => checkBackupInventory({ bucket, pool: db.appPool, retentionDays: 30, actor: 'test' });
const latestRow = async () =>
  (await db.pool.query('SELECT checked, missing, replaced, findings FROM backup_inventory_checks ORDER BY id DESC LIMIT 1')).rows[0];

it('records the ETags S3 gave each backup, and finds every recorded backup in place', async () => {
  const { rows } = await db.pool.query("SELECT details->>'objectEtag' AS o, details->>'manifestEtag' AS m FROM backup_runs");
  for (const r of rows) expect(r).toEqual({ o: expect.stringMatching(/^"[0-9a-f-]+"$/), m: expect.stringMatching(/^"[0-9a-f-]+"$/) });
  const result = await check();
  expect(result).toEqual({ checked: 4, missing: [], replaced: [] });
  expect(await latestRow()).toEqual({ checked: 4, missing: 0, replaced: 0, findings: [] });
  // A clean inventory is routine: no audit row.
  expect((await db.pool.query("SELECT count(*)::int AS n FROM audit_logs WHERE action = 'backup.inventory'")).rows[0].n).toBe(0);
});

it('finds an older backup copied over a newer one, though it is a valid backup of the same size class', async () => {
  const [older, newer] = runs;
  await bucket.s3.send(new CopyObjectCommand({ Bucket: bucket.bucket, CopySource: `${bucket.bucket}/${older!.key}`, Key: newer!.key }));
  const result = await check();
  expect(result.missing).toEqual([]);
  expect(result.replaced).toEqual([
    { kind: 'database', runId: newer!.id, key: newer!.key, why: expect.stringMatching(/^the object's ETag is /) },
  ]);
  expect(await latestRow()).toMatchObject({ checked: 4, missing: 0, replaced: 1 });
  const audit = await db.pool.query("SELECT outcome, details FROM audit_logs WHERE action = 'backup.inventory'");
  expect(audit.rows).toEqual([
    { outcome: 'failure', details: expect.objectContaining({ replaced: [expect.objectContaining({ key: newer!.key })] }) },
  ]);
});

it('finds a backup whose manifest was deleted, within retention', async () => {
  const latest = runs[2]!;
  await bucket.s3.send(new DeleteObjectCommand({ Bucket: bucket.bucket, Key: manifestKeyOf(latest.key) }));
  const result = await check();
  expect(result.missing).toEqual([{ kind: 'database', runId: latest.id, key: latest.key, why: 'its manifest is gone' }]);
  expect(await latestRow()).toMatchObject({ missing: 1, replaced: 1 });
});

it('does not report a backup retention may have deleted (recorded more than retention - 1 days ago)', async () => {
  await db.pool.query(
    "UPDATE backup_runs SET started_at = started_at - interval '30 days', finished_at = finished_at - interval '30 days' WHERE id = ANY($1)",
    [[runs[1]!.id, runs[2]!.id]],
  );
  const result = await check();
  expect(result).toEqual({ checked: 2, missing: [], replaced: [] });
});

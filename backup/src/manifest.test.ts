import { backupConfig, bucketOf, copyObject } from '../../test/helpers/backup';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db';
import { startDatabaseBackup } from './database';
import { startRestoreDrill } from './drill';
import { keyringFrom, type Keyring } from './envelope';
import { LEGACY_MANIFEST_FORMAT, manifestKeyOf, resolveBackup, type Manifest } from './manifest';
import { restoreDatabase, verifyBackup } from './restore';
import { getJson, objectKeyFor, putJson, type Bucket } from './storage';

const SECOND = 1000;

/** Relations in a database other than the system ones: what a refused restore must leave at 0. */
async function relationCount(db: TestDatabase): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
  );
  return rows[0]!.n;
}

describe('manifests are authenticated and bound to their object (real Postgres, s3rver)', () => {
  let source: TestDatabase;
  const targets: TestDatabase[] = [];
  const emptyTarget = async () => {
    const t = await createTestDatabase({ migrate: false, prefix: 'authrestore' });
    targets.push(t);
    return t;
  };

  beforeAll(async () => {
    source = await createTestDatabase({ prefix: 'authbackup' });
    await source.pool.query(`INSERT INTO clients (slug, name) VALUES ('pizza-shop', 'Pizza Shop')`);
  });
  afterAll(async () => {
    await Promise.all(targets.map((t) => t.drop()));
    await source.drop();
  });

  /** Two real backups under a prefix of their own: an older one (with one client) and the latest (two). */
  async function twoBackups(): Promise<{
    cfg: ReturnType<typeof backupConfig>;
    bucket: Bucket;
    keyring: Keyring;
    older: string;
    latest: string;
  }> {
    const cfg = backupConfig(source.url);
    const older = await (
      await startDatabaseBackup({ pool: source.pool, config: cfg, now: () => new Date(Date.now() - 3600 * SECOND) })
    ).done;
    expect(older.status).toBe('succeeded');
    await source.pool.query(`INSERT INTO clients (slug, name) VALUES ($1, 'Plumber')`, [`plumber-${older.id.slice(0, 8)}`]);
    const latest = await (await startDatabaseBackup({ pool: source.pool, config: cfg })).done;
    expect(latest.status).toBe('succeeded');
    return { cfg, bucket: bucketOf(cfg), keyring: keyringFrom(cfg), older: older.objectKey!, latest: latest.objectKey! };
  }

  it('every manifest carries an HMAC keyed from the master key, and a restore of it passes', async () => {
    const { cfg, bucket, keyring, latest } = await twoBackups();
    const manifest = await getJson<Manifest>(bucket, manifestKeyOf(latest));
    expect(manifest).toMatchObject({
      format: 'ct-backup-manifest/2',
      objectKey: latest,
      kind: 'database',
      auth: { alg: 'HMAC-SHA256', keyId: 'k1', mac: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/) },
    });
    const target = await emptyTarget();
    const r = await restoreDatabase({ bucket, keyring, ref: 'latest', target: target.ownerUrl, pgBinDir: cfg.PG_BIN_DIR });
    expect(r).toMatchObject({ authenticated: true, backup: { key: latest } });
  });

  it('an older valid backup copied over the latest one (object and manifest) is refused by restore and drill, nothing written', async () => {
    const { cfg, bucket, keyring, older, latest } = await twoBackups();
    // Someone with the bucket's write credentials replaces the latest backup by an older, valid one.
    await copyObject(bucket, older, latest);
    await copyObject(bucket, manifestKeyOf(older), manifestKeyOf(latest));
    const target = await emptyTarget();
    await expect(restoreDatabase({ bucket, keyring, ref: 'latest', target: target.ownerUrl, pgBinDir: cfg.PG_BIN_DIR })).rejects.toThrow(
      `the manifest read for ${latest} describes another object (${older}): a backup was copied or moved under this name`,
    );
    expect(await relationCount(target)).toBe(0);
    const drill = await (await startRestoreDrill({ pool: source.pool, config: cfg })).done;
    expect(drill.status).toBe('failed');
    expect(drill.error).toContain(`describes another object (${older})`);
  });

  it('an older valid backup copied under a newer name is not restored as latest', async () => {
    const { cfg, bucket, keyring, older } = await twoBackups();
    const newer = objectKeyFor(bucket, 'database', new Date(Date.now() + 60 * SECOND));
    await copyObject(bucket, older, newer);
    await copyObject(bucket, manifestKeyOf(older), manifestKeyOf(newer));
    // S3 stored the copy last: it is the latest by S3's timestamps, and its manifest names another object.
    expect((await resolveBackup(bucket, 'database', 'latest')).backup.key).toBe(newer);
    const target = await emptyTarget();
    await expect(restoreDatabase({ bucket, keyring, ref: 'latest', target: target.ownerUrl, pgBinDir: cfg.PG_BIN_DIR })).rejects.toThrow(
      /describes another object/,
    );
    expect(await relationCount(target)).toBe(0);
  });

  it('a manifest edited after the backup, or checked with other key material under the same id, does not authenticate', async () => {
    const { bucket, keyring, latest } = await twoBackups();
    const { backup, manifest } = await resolveBackup(bucket, 'database', 'latest');
    expect(backup.key).toBe(latest);
    const edited = {
      ...manifest,
      database: { ...manifest.database!, rowCounts: { ...manifest.database!.rowCounts, 'public.clients': 99 } },
    };
    await expect(verifyBackup(bucket, keyring, backup, edited)).rejects.toThrow(
      `the manifest of ${latest} does not authenticate with master key "k1": ` +
        'the manifest was modified, or this is the wrong master key (the key under that id changed since the backup was made)',
    );
    const reused: Keyring = { currentId: 'k1', keys: { k1: 'other-material-under-the-same-id-0123456789' } };
    await expect(verifyBackup(bucket, reused, backup, manifest)).rejects.toThrow(/does not authenticate with master key "k1"/);
    // The kind is covered by the MAC like every other field.
    await expect(verifyBackup(bucket, keyring, backup, { ...manifest, kind: 'n8n' })).rejects.toThrow(/does not authenticate/);
  });

  it('a legacy manifest without authentication is refused unless explicitly allowed, and then flagged', async () => {
    const { cfg, bucket, keyring, latest } = await twoBackups();
    const manifest = await getJson<Manifest>(bucket, manifestKeyOf(latest));
    const { auth: _auth, ...rest } = manifest;
    await putJson(bucket, manifestKeyOf(latest), { ...rest, format: LEGACY_MANIFEST_FORMAT });
    const target = await emptyTarget();
    await expect(restoreDatabase({ bucket, keyring, ref: 'latest', target: target.ownerUrl, pgBinDir: cfg.PG_BIN_DIR })).rejects.toThrow(
      `the manifest of ${latest} is not authenticated (written before manifests were signed), so it cannot prove which backup it describes; ` +
        'restore it only if you trust the bucket, with --allow-unauthenticated',
    );
    expect(await relationCount(target)).toBe(0);
    const r = await restoreDatabase({
      bucket,
      keyring,
      ref: 'latest',
      target: target.ownerUrl,
      pgBinDir: cfg.PG_BIN_DIR,
      allowUnauthenticated: true,
    });
    expect(r).toMatchObject({ authenticated: false, backup: { key: latest } });
    expect((await target.pool.query('SELECT count(*)::int AS n FROM clients')).rows[0].n).toBe(
      manifest.database!.rowCounts['public.clients'],
    );
    // Still bound to its object: a legacy manifest copied under another name is refused even when allowed.
    const other = objectKeyFor(bucket, 'database', new Date(Date.now() + 120 * SECOND));
    await copyObject(bucket, latest, other);
    await copyObject(bucket, manifestKeyOf(latest), manifestKeyOf(other));
    const again = await emptyTarget();
    await expect(
      restoreDatabase({ bucket, keyring, ref: other, target: again.ownerUrl, pgBinDir: cfg.PG_BIN_DIR, allowUnauthenticated: true }),
    ).rejects.toThrow(/describes another object/);
  });
});

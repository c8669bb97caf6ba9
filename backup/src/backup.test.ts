import { CopyObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { readMigrations, verifyAuditChain, writeAudit, type Pool } from '@ct/lib';
import { backupConfig, bucketOf, hasChild, holdBack, tableChecksums } from '../../test/helpers/backup';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db';
import { startDatabaseBackup } from './database';
import { startRestoreDrill } from './drill';
import { keyringFrom, type Keyring } from './envelope';
import { manifestKeyOf, resolveBackup, signManifest, type Manifest } from './manifest';
import { restoreDatabase } from './restore';
import { applyRetention } from './retention';
import { consecutiveFailures, listRuns } from './runs';
import { getJson, kindPrefix, listKeys, objectKeyFor, putJson, type Bucket } from './storage';

/** Clients, activity (enough for several encryption chunks) and a chained audit log. */
async function seed(pool: Pool): Promise<void> {
  await pool.query(
    `INSERT INTO clients (slug, name) VALUES ('pizza-shop', 'Pizza Shop'), ('plumber', 'Plumber & Sons'), ('hvac', 'HVAC Co')`,
  );
  await pool.query(
    `INSERT INTO activity_events (client_id, kind, occurred_at, details, idempotency_key)
     SELECT c.id, 'lead.captured', now() - (g || ' minutes')::interval,
            jsonb_build_object('note', md5(g::text) || md5((g * 7)::text), 'n', g), c.slug || '-' || g
     FROM clients c, generate_series(1, 5000) g`,
  );
  for (let i = 0; i < 25; i++) {
    await writeAudit(pool, {
      actor: `user-${i % 3}`,
      action: 'client.update',
      targetType: 'client',
      targetId: String(i),
      outcome: 'success',
      details: { i, note: 'ünïcødé ✓' },
    });
  }
}

async function relationCount(url: string): Promise<number> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
    );
    return rows[0]!.n;
  } finally {
    await c.end();
  }
}

async function getBytes(b: Bucket, key: string): Promise<Buffer> {
  const res = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

describe('database backup and restore (real Postgres, s3rver)', () => {
  let source: TestDatabase;
  let cfg: ReturnType<typeof backupConfig>;
  let bucket: Bucket;
  let keyring: Keyring;
  const targets: TestDatabase[] = [];
  const freshTarget = async () => {
    const t = await createTestDatabase({ migrate: false, prefix: 'restore' });
    targets.push(t);
    return t;
  };

  beforeAll(async () => {
    source = await createTestDatabase({ prefix: 'backup' });
    await seed(source.pool);
    cfg = backupConfig(source.url);
    bucket = bucketOf(cfg);
    keyring = keyringFrom(cfg);
  });
  afterAll(async () => {
    await Promise.all(targets.map((t) => t.drop()));
    await source.drop();
  });

  it('backs up, then restores into a fresh database with every table identical and the audit chain intact', async () => {
    const started = await startDatabaseBackup({ pool: source.pool, config: cfg, actor: 'test' });
    expect(started.alreadyRunning).toBe(false);
    const run = await started.done;
    expect(run).toMatchObject({ status: 'succeeded', error: null });
    expect(run.objectKey).toMatch(new RegExp(`^${cfg.BACKUP_PREFIX}db/\\d{4}/\\d{2}/\\d{2}/\\d{8}T\\d{6}Z\\.dump\\.enc$`));

    const manifest = await getJson<Manifest>(bucket, manifestKeyOf(run.objectKey!));
    expect(manifest).toMatchObject({
      kind: 'database',
      runId: run.id,
      objectKey: run.objectKey,
      encryption: { algorithm: 'AES-256-GCM-STREAM', keyId: 'k1' },
      compression: { algorithm: 'zstd', level: 1 },
      tool: { name: '@ct/backup' },
    });
    expect(manifest.sizes.ciphertextBytes).toBe(run.bytes);
    expect(manifest.sizes.dumpBytes).toBeGreaterThan(manifest.sizes.plaintextBytes);
    expect(manifest.sha256.ciphertext).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.database!.serverVersion).toMatch(/^15\./);
    // The schema version is the newest migration, whichever that is.
    expect(manifest.database!.schemaVersion).toBe((await readMigrations()).at(-1)!.name);
    expect(manifest.database!.migrations.map((m) => m.name)).toContain('003_create_audit_logs.sql');
    expect(manifest.database!.rowCounts).toMatchObject({ 'public.clients': 3, 'public.activity_events': 15000, 'public.audit_logs': 25 });
    // The run's own row is in the snapshot, still running.
    expect(manifest.database!.rowCounts['public.backup_runs']).toBe(1);

    const audit = await source.pool.query(`SELECT outcome, details FROM audit_logs WHERE action = 'backup.database' AND target_id = $1`, [
      run.id,
    ]);
    expect(audit.rows).toEqual([{ outcome: 'success', details: expect.objectContaining({ objectKey: run.objectKey }) }]);

    const before = await tableChecksums(source.pool);
    const target = await freshTarget();
    // After a key rotation the old backup still restores with the previous key.
    const rotated: Keyring = { currentId: 'k2', keys: { k2: 'a-newer-master-key-0123456789abcdef!!', k1: cfg.BACKUP_MASTER_KEY } };
    const result = await restoreDatabase({ bucket, keyring: rotated, ref: run.id, target: target.ownerUrl, pgBinDir: cfg.PG_BIN_DIR });
    expect(result.backup.key).toBe(run.objectKey);

    const after = await tableChecksums(target.pool);
    // Everything but the rows written after the snapshot (the run's completion and its audit row).
    const changedSince = ['public.backup_runs', 'public.audit_logs', 'public.audit_chain_head'];
    for (const t of Object.keys(before)) if (!changedSince.includes(t)) expect([t, after[t]]).toEqual([t, before[t]]);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    // The audit log: the restored rows are byte-identical to the source's first 25, hashes included.
    const rowsOf = (p: Pool) =>
      p.query(`SELECT id, at, actor, action, details::text, prev_hash, hash FROM audit_logs WHERE id <= 25 ORDER BY id`);
    expect((await rowsOf(target.pool)).rows).toEqual((await rowsOf(source.pool)).rows);
    expect(await verifyAuditChain(target.pool)).toEqual({ ok: true, rowsChecked: 25, firstBadId: null, reason: null });
    // New rows chain on from the restored head.
    await writeAudit(target.pool, { actor: 'test', action: 'client.update', outcome: 'success' });
    expect((await verifyAuditChain(target.pool)).ok).toBe(true);
  });

  it('backs up a database whose dump has ended before S3 has answered', async () => {
    // pg_dump and zstd start before the run's first S3 request; here S3 answers only once zstd
    // has exited, so its whole output waits to be read (Node drops unread output of a child that
    // has exited, which once left a backup of 0 bytes recorded as a success).
    const small = await createTestDatabase({ prefix: 'smallbackup' });
    targets.push(small);
    const local = backupConfig(small.url);
    const slow = bucketOf(local);
    const hold = holdBack(slow, 'ListMultipartUploadsCommand', async () => {
      while (await hasChild('zstd')) await new Promise((r) => setTimeout(r, 20));
    });
    const started = await startDatabaseBackup({ pool: small.pool, config: local, bucket: slow });
    await hold.held;
    const run = await started.done;
    expect(run).toMatchObject({ status: 'succeeded', error: null });
    const manifest = await getJson<Manifest>(slow, manifestKeyOf(run.objectKey!));
    expect(manifest.sizes.dumpBytes).toBeGreaterThan(1000);
    expect(manifest.sizes.plaintextBytes).toBeGreaterThan(100);
    const target = await freshTarget();
    await restoreDatabase({ bucket: slow, keyring, ref: run.id, target: target.ownerUrl, pgBinDir: local.PG_BIN_DIR });
    expect(Object.keys(await tableChecksums(target.pool)).sort()).toEqual(Object.keys(await tableChecksums(small.pool)).sort());
  });

  it('refuses a non-empty target without force and replaces its objects with force', async () => {
    const target = await freshTarget();
    await target.pool.query('CREATE TABLE keep_me (x int)');
    await expect(restoreDatabase({ bucket, keyring, ref: 'latest', target: target.ownerUrl, pgBinDir: cfg.PG_BIN_DIR })).rejects.toThrow(
      /is not empty \(1 relations\).*--force/,
    );
    await restoreDatabase({ bucket, keyring, ref: 'latest', target: target.ownerUrl, force: true, pgBinDir: cfg.PG_BIN_DIR });
    expect((await target.pool.query('SELECT count(*)::int AS n FROM clients')).rows[0].n).toBe(3);
    expect((await verifyAuditChain(target.pool)).ok).toBe(true);
  });

  describe('damaged or foreign objects are refused and nothing is written', () => {
    let good: { key: string; manifest: Manifest; bytes: Buffer };
    /** Stores `bytes` as a backup of its own (manifest copied, pointing at it) and returns its key. */
    // The manifest is re-authenticated for the planted object (as if its MAC had been forged): what
    // is tested here is that the object's own defences catch the damage.
    const plant = async (name: string, bytes: Buffer, manifestPatch: Partial<Manifest> = {}) => {
      const at = new Date(Date.UTC(2020, 0, 1, 0, 0, Number(name)));
      const key = objectKeyFor(bucket, 'database', at);
      await bucket.s3.send(new PutObjectCommand({ Bucket: bucket.bucket, Key: key, Body: bytes }));
      const { auth: _auth, format: _format, ...fields } = good.manifest;
      await putJson(
        bucket,
        manifestKeyOf(key),
        signManifest({ ...fields, objectKey: key, createdAt: at.toISOString(), ...manifestPatch }, keyring),
      );
      return key;
    };
    const bodyStart = (b: Buffer) => 9 + b.readUInt32BE(5);
    const SEALED = 64 * 1024 + 16;

    beforeAll(async () => {
      const { backup, manifest } = await resolveBackup(bucket, 'database', 'latest');
      good = { key: backup.key, manifest, bytes: await getBytes(bucket, backup.key) };
      expect(good.bytes.length).toBeGreaterThan(bodyStart(good.bytes) + 3 * SEALED);
    });

    const refusedUntouched = async (ref: string, message: RegExp, ring = keyring) => {
      const empty = await freshTarget();
      await expect(restoreDatabase({ bucket, keyring: ring, ref, target: empty.ownerUrl, pgBinDir: cfg.PG_BIN_DIR })).rejects.toThrow(
        message,
      );
      expect(await relationCount(empty.ownerUrl)).toBe(0);
      // With --force into a populated database: its data stays exactly as it was.
      const busy = await freshTarget();
      await busy.pool.query(`CREATE TABLE clients (id int); INSERT INTO clients VALUES (1), (2)`);
      const sums = await tableChecksums(busy.pool);
      await expect(
        restoreDatabase({ bucket, keyring: ring, ref, target: busy.ownerUrl, force: true, pgBinDir: cfg.PG_BIN_DIR }),
      ).rejects.toThrow(message);
      expect(await tableChecksums(busy.pool)).toEqual(sums);
      expect(await relationCount(busy.ownerUrl)).toBe(1);
    };

    it('one flipped byte', async () => {
      const bytes = Buffer.from(good.bytes);
      bytes[bodyStart(bytes) + SEALED + 100]! ^= 0x20;
      await refusedUntouched(await plant('1', bytes), /chunk #1 failed authentication/);
    });

    it('a flipped byte with a manifest forged to match it is still refused by the chunk tags', async () => {
      const bytes = Buffer.from(good.bytes);
      bytes[bodyStart(bytes) + 2 * SEALED + 7]! ^= 0x01;
      const sha = createHash('sha256').update(bytes).digest('hex');
      await refusedUntouched(
        await plant('2', bytes, { sha256: { ...good.manifest.sha256, ciphertext: sha } }),
        /chunk #2 failed authentication/,
      );
    });

    it('a truncated object', async () => {
      const cut = good.bytes.subarray(0, bodyStart(good.bytes) + 2 * SEALED);
      await refusedUntouched(await plant('3', cut), /truncated/);
    });

    it('two swapped chunks', async () => {
      const bytes = Buffer.from(good.bytes);
      const s = bodyStart(bytes);
      const a = Buffer.from(bytes.subarray(s, s + SEALED));
      bytes.subarray(s + SEALED, s + 2 * SEALED).copy(bytes, s);
      a.copy(bytes, s + SEALED);
      await refusedUntouched(await plant('4', bytes), /chunk #0 failed authentication: .*reordered/);
    });

    it('the wrong master key', async () => {
      const wrong: Keyring = { currentId: 'k1', keys: { k1: 'not-the-master-key-0123456789abcdef!!' } };
      await refusedUntouched(good.key, /wrong master key/, wrong);
    });

    it('an object swapped for another backup (its manifest no longer matches)', async () => {
      const other = await startDatabaseBackup({ pool: source.pool, config: cfg });
      const run = await other.done;
      const key = await plant('5', good.bytes);
      await bucket.s3.send(new CopyObjectCommand({ Bucket: bucket.bucket, Key: key, CopySource: `${bucket.bucket}/${run.objectKey}` }));
      await refusedUntouched(key, /does not match its manifest/);
    });
  });

  it('two forced backups at once make one run', async () => {
    const before = (await listRuns(source.pool, { kind: 'database' })).length;
    const [a, b] = await Promise.all([
      startDatabaseBackup({ pool: source.pool, config: cfg, actor: 'api' }),
      startDatabaseBackup({ pool: source.pool, config: cfg, actor: 'api' }),
    ]);
    expect([a.alreadyRunning, b.alreadyRunning].sort()).toEqual([false, true]);
    expect(a.run.id).toBe(b.run.id);
    await Promise.all([a.done, b.done]);
    expect((await listRuns(source.pool, { kind: 'database' })).length).toBe(before + 1);
  });

  it('marks a running row left by a crashed process as failed when the next run takes the lock', async () => {
    const { rows } = await source.pool.query(
      `INSERT INTO backup_runs (kind, started_at) VALUES ('database', now() - interval '3 hours') RETURNING id`,
    );
    const started = await startDatabaseBackup({ pool: source.pool, config: cfg });
    expect(started.alreadyRunning).toBe(false);
    expect((await started.done).status).toBe('succeeded');
    const stale = await source.pool.query('SELECT status, error FROM backup_runs WHERE id = $1', [rows[0].id]);
    expect(stale.rows[0]).toEqual({ status: 'failed', error: expect.stringMatching(/abandoned/) });
    expect(await consecutiveFailures(source.pool, 'database')).toBe(0);
  });

  it('the drill restores the latest backup into a scratch database, checks it, times it and drops it', async () => {
    const started = await startRestoreDrill({ pool: source.appPool, config: cfg, actor: 'test' });
    const run = await started.done;
    expect(run.error).toBeNull();
    expect(run.status).toBe('succeeded');
    expect(run.details).toMatchObject({ mismatches: [], auditChain: { ok: true }, tables: expect.any(Number) });
    expect(run.details.restoreSeconds).toBeGreaterThan(0);
    const scratch = run.details.scratchDatabase as string;
    const left = await source.pool.query('SELECT 1 FROM pg_database WHERE datname = $1', [scratch]);
    expect(left.rowCount).toBe(0);
  });

  it('retention judges real backups by S3 time: backups named months ago but stored now all stay', async () => {
    const day = 86_400_000;
    const now = Date.now();
    const local = backupConfig(source.url);
    const b = bucketOf(local);
    for (const age of [90, 31, 29, 10, 5]) {
      const run = await (await startDatabaseBackup({ pool: source.pool, config: local, now: () => new Date(now - age * day) })).done;
      expect(run.status).toBe('succeeded');
    }
    const result = await applyRetention({ bucket: b, retentionDays: 30, maxDeleteShare: 1, pool: source.pool, actor: 'test' });
    expect(result).toMatchObject({ deleted: [], deferred: [], refused: [], kept: 5 });
    expect(result.keptNewest).toHaveLength(4);
    expect((await listKeys(b, kindPrefix(b, 'database'))).length).toBe(10);
  });
});

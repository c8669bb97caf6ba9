import { Client } from 'pg';
import { verifyAndRecordAuditChain, verifyAuditChain, writeAudit } from '@ct/lib';
import { getJson, listBackups, startDatabaseBackup, verifyAuditChainAnchored, type Bucket, type Manifest } from '@ct/backup';
import { createExporter } from '@ct/exporters';
import { emptyN8n } from '../exporters/fixtures';
import { backupConfig, bucketOf } from '../helpers/backup';
import { runCt } from '../helpers/cli';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { parseMetrics, valueOf } from '../helpers/metrics';

/**
 * Whoever owns the database can rewrite an audit row and recompute every later hash and the chain
 * head: the chain then verifies against itself. The chain's head recorded in S3 (by every backup's
 * manifest and by each scheduled verification) is what such a rewrite can no longer match.
 */
jest.setTimeout(120_000);

let db: TestDatabase;
let cfg: ReturnType<typeof backupConfig>;
let bucket: Bucket;

const audit = (i: number) =>
  writeAudit(db.appPool, { actor: 'ops@agency.example', action: 'client.update', outcome: 'success', details: { i } });

/** As a superuser: change row `id`, then recompute every later hash and the head, triggers off. */
async function rewriteChainFrom(id: number): Promise<void> {
  const su = new Client({ connectionString: db.ownerUrl });
  await su.connect();
  try {
    await su.query('BEGIN');
    await su.query('SET LOCAL session_replication_role = replica');
    await su.query(`UPDATE audit_logs SET actor = 'mallory', details = '{"i": "forged"}' WHERE id = $1`, [id]);
    await su.query(
      `DO $$
       DECLARE r audit_logs%ROWTYPE; v_prev text;
       BEGIN
         SELECT coalesce((SELECT hash FROM audit_logs WHERE id < ${id} ORDER BY id DESC LIMIT 1), audit_genesis_hash()) INTO v_prev;
         FOR r IN SELECT * FROM audit_logs WHERE id >= ${id} ORDER BY id LOOP
           UPDATE audit_logs SET prev_hash = v_prev,
                  hash = audit_row_hash(v_prev, r.id, r.at, r.actor, r.actor_type, r.action, r.target_type, r.target_id,
                                        r.client_id, r.outcome, r.details, r.source_ip, r.request_id)
            WHERE id = r.id RETURNING hash INTO v_prev;
         END LOOP;
         UPDATE audit_chain_head SET last_hash = v_prev;
       END $$`,
    );
    await su.query('COMMIT');
  } finally {
    await su.end();
  }
}

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'anchors' });
  cfg = backupConfig(db.url);
  bucket = bucketOf(cfg);
});
afterAll(() => db?.drop());

it('a rewrite with every hash recomputed verifies against itself, and contradicts the anchors', async () => {
  for (let i = 1; i <= 3; i++) await audit(i);

  // The scheduled verification anchors the head it verified (row 3).
  const first = await verifyAuditChainAnchored({ pool: db.appPool, bucket });
  expect(first).toMatchObject({ ok: true, rowsChecked: 3, anchorsChecked: 0, head: { id: '3' } });
  expect(first.anchoredAs).toMatch(
    new RegExp(`^s3://${cfg.S3_BUCKET}/${cfg.BACKUP_PREFIX}audit-anchors/${db.name}/\\d{4}/\\d{2}/\\d{8}T\\d{6}Z-3-[0-9a-f]{64}\\.json$`),
  );
  // Nothing new: the head is anchored already.
  expect(await verifyAuditChainAnchored({ pool: db.appPool, bucket })).toMatchObject({ ok: true, anchorsChecked: 1, anchoredAs: null });

  // A backup anchors the head in its manifest (row 5 here).
  for (let i = 4; i <= 5; i++) await audit(i);
  const run = await (await startDatabaseBackup({ pool: db.appPool, config: cfg, actor: 'test' })).done;
  expect(run.status).toBe('succeeded');
  const [backup] = await listBackups(bucket, 'database');
  const manifest = await getJson<Manifest>(bucket, backup!.manifestKey);
  const head = await db.pool.query<{ id: string; hash: string }>('SELECT last_id::text AS id, last_hash AS hash FROM audit_chain_head');
  // The backup run wrote audit rows of its own after the snapshot: the manifest holds the snapshot's head.
  expect(manifest.database?.auditChainHead).toEqual({ id: '5', hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  expect(Number(head.rows[0]!.id)).toBeGreaterThanOrEqual(5);

  for (let i = 6; i <= 7; i++) await audit(i);
  const third = await verifyAuditChainAnchored({ pool: db.appPool, bucket });
  expect(third).toMatchObject({ ok: true, anchorsChecked: 2 });
  expect(third.anchoredAs).not.toBeNull();

  // The owner rewrites row 2 and recomputes every later hash and the head.
  await rewriteChainFrom(2);
  const { rows } = await db.pool.query(`SELECT actor FROM audit_logs WHERE id = 2`);
  expect(rows[0].actor).toBe('mallory');

  // Without anchors it passes: the chain is consistent with itself.
  expect(await verifyAuditChain(db.appPool)).toMatchObject({ ok: true, firstBadId: null });
  expect(await verifyAndRecordAuditChain(db.appPool)).toMatchObject({ ok: true, anchorsChecked: null });

  // With them it fails, naming the first anchor the chain contradicts (in chain order: row 3's).
  const caught = await verifyAuditChainAnchored({ pool: db.appPool, bucket });
  expect(caught).toMatchObject({ ok: false, firstBadId: '3', anchorsChecked: 3, anchoredAs: null, head: null });
  expect(caught.contradictedAnchor).toBe(first.anchoredAs);
  expect(caught.reason).toContain(
    `the chain contradicts anchor ${first.anchoredAs}: row 3 was anchored with hash ${first.head!.hash.slice(0, 16)}`,
  );
  // ... and records it, for ct_audit_chain_valid and ct_audit_chain_anchor_contradicted.
  const recorded = await db.pool.query(
    'SELECT ok, first_bad_id::int, anchors_checked, contradicted_anchor FROM audit_verifications ORDER BY id DESC LIMIT 1',
  );
  expect(recorded.rows[0]).toEqual({ ok: false, first_bad_id: 3, anchors_checked: 3, contradicted_anchor: first.anchoredAs });
  const exporter = createExporter({ pool: db.appPool, n8n: emptyN8n });
  let s = parseMetrics(await exporter.scrape());
  expect([valueOf(s, 'ct_audit_chain_valid'), valueOf(s, 'ct_audit_chain_anchor_contradicted')]).toEqual([0, 1]);
  // A verification without anchors (the API's quick action) passes the rewritten chain, and cannot clear the anchor's verdict.
  await verifyAndRecordAuditChain(db.appPool);
  s = parseMetrics(await exporter.scrape());
  expect([valueOf(s, 'ct_audit_chain_valid'), valueOf(s, 'ct_audit_chain_anchor_contradicted')]).toEqual([1, 1]);

  // ct audit verify says the same and exits 1; without S3 settings it can only check the chain against itself.
  const env = {
    ...process.env,
    DATABASE_URL: db.url,
    S3_ENDPOINT: cfg.S3_ENDPOINT,
    S3_BUCKET: cfg.S3_BUCKET,
    BACKUP_PREFIX: cfg.BACKUP_PREFIX,
    S3_FORCE_PATH_STYLE: 'true',
  };
  const cli = await runCt(['audit', 'verify'], { env });
  expect(cli.code).toBe(1);
  expect(cli.stderr).toContain(`audit chain rewritten: the chain contradicts anchor ${first.anchoredAs}: row 3`);
  const bare = await runCt(['audit', 'verify'], { env: { ...env, S3_BUCKET: '' } });
  expect(bare.code).toBe(0);
  expect(bare.stdout).toContain('no anchors checked (S3_BUCKET is not set: the chain was checked against itself only)');
});

it('what anchors cannot catch: a row written after the last anchor, rewritten together with the head', async () => {
  const other = await createTestDatabase({ prefix: 'anchorslate' });
  try {
    const w = (i: number) => writeAudit(other.appPool, { actor: 'ops', action: 'client.update', outcome: 'success', details: { i } });
    for (let i = 1; i <= 2; i++) await w(i);
    expect(await verifyAuditChainAnchored({ pool: other.appPool, bucket })).toMatchObject({ ok: true, head: { id: '2' } });
    await w(3);
    // Row 3 is not anchored yet: rewriting it (and the head) goes unnoticed until a later anchor would have covered it.
    const su = new Client({ connectionString: other.ownerUrl });
    await su.connect();
    await su.query('BEGIN');
    await su.query('SET LOCAL session_replication_role = replica');
    await su.query(
      `UPDATE audit_logs SET actor = 'mallory', hash = audit_row_hash(prev_hash, id, at, 'mallory', actor_type, action, target_type,
              target_id, client_id, outcome, details, source_ip, request_id) WHERE id = 3`,
    );
    await su.query(`UPDATE audit_chain_head SET last_hash = (SELECT hash FROM audit_logs WHERE id = 3)`);
    await su.query('COMMIT');
    await su.end();
    expect(await verifyAuditChainAnchored({ pool: other.appPool, bucket })).toMatchObject({ ok: true, anchorsChecked: 1 });
  } finally {
    await other.drop();
  }
});

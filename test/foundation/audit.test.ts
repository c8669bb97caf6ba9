import { verifyAuditChain, withTransaction, writeAudit } from '@ct/lib';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { runCt } from '../helpers/cli';

describe('audit_logs: append-only hash chain', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  const verifyCli = () => runCt(['audit', 'verify'], { env: { ...process.env, DATABASE_URL: db.url } });

  async function seed(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const row = await writeAudit(db.pool, {
        actor: 'ops@agency.test',
        actorType: 'user',
        action: 'client.update',
        targetType: 'client',
        targetId: `c${i}`,
        outcome: 'success',
        details: { i },
      });
      ids.push(row.id);
    }
    return ids;
  }

  it.each([
    ['UPDATE', `UPDATE audit_logs SET outcome = 'failure'`],
    ['DELETE', 'DELETE FROM audit_logs'],
    ['TRUNCATE', 'TRUNCATE audit_logs'],
  ])('rejects %s', async (op, sql) => {
    await seed(2);
    await expect(db.pool.query(sql)).rejects.toThrow(`audit_logs is append-only: ${op} is not allowed`);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM audit_logs');
    expect(rows[0].n).toBe(2);
  });

  it('rows written in a rolled-back transaction leave no trace and the chain stays valid', async () => {
    await seed(1);
    await expect(
      withTransaction(db.pool, async (c) => {
        await writeAudit(c, { actor: 'x', action: 'client.create', outcome: 'success' });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    await seed(1);
    expect(await verifyAuditChain(db.pool)).toEqual({ ok: true, rowsChecked: 2, firstBadId: null, reason: null });
  });

  it('50 concurrent writers produce one valid chain with no fork', async () => {
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        withTransaction(db.pool, async (c) => {
          await writeAudit(c, { actor: `writer-${i}`, action: 'backup.force', outcome: 'success', details: { i } });
          // Hold the transaction open a moment so writers really overlap.
          await c.query('SELECT pg_sleep(0.005)');
        }),
      ),
    );
    const { rows } = await db.pool.query('SELECT id::int, prev_hash, hash FROM audit_logs ORDER BY id');
    expect(rows).toHaveLength(50);
    for (let i = 1; i < rows.length; i++) expect(rows[i].prev_hash).toBe(rows[i - 1].hash);
    expect(new Set(rows.map((r) => r.prev_hash)).size).toBe(50);
    expect(await verifyAuditChain(db.pool)).toMatchObject({ ok: true, rowsChecked: 50 });
    const cli = await verifyCli();
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('audit chain valid: 50 rows verified');
  });

  it('an edited row (trigger disabled by a superuser, then re-enabled) fails verification naming that row', async () => {
    const ids = await seed(5);
    await db.pool.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only');
    await db.pool.query(`UPDATE audit_logs SET outcome = 'failure' WHERE id = $1`, [ids[2]]);
    await db.pool.query('ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only');
    const cli = await verifyCli();
    expect(cli.code).toBe(1);
    expect(cli.stderr).toBe(
      `ct: audit chain broken at row ${ids[2]}: content does not match its hash: the row was changed (2 rows verified before it)\n`,
    );
  });

  it('an edited row whose hash was recomputed too is still caught at the next row', async () => {
    const ids = await seed(4);
    await db.pool.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only');
    await db.pool.query(
      `UPDATE audit_logs SET actor = 'someone-else',
         hash = audit_row_hash(prev_hash, id, at, 'someone-else', actor_type, action, target_type, target_id, client_id, outcome, details, source_ip, request_id)
       WHERE id = $1`,
      [ids[1]],
    );
    await db.pool.query('ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only');
    const result = await verifyAuditChain(db.pool);
    expect(result).toMatchObject({ ok: false, firstBadId: ids[2] });
    expect(result.reason).toMatch(/prev_hash does not match/);
  });

  it('a deleted row fails verification naming the row after the gap', async () => {
    const ids = await seed(5);
    await db.pool.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only');
    await db.pool.query('DELETE FROM audit_logs WHERE id = $1', [ids[1]]);
    await db.pool.query('ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only');
    const cli = await verifyCli();
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain(`audit chain broken at row ${ids[2]}: prev_hash does not match the previous row`);
  });

  it('a removed last row is caught by the recorded chain head', async () => {
    const ids = await seed(3);
    await db.pool.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only');
    await db.pool.query('DELETE FROM audit_logs WHERE id = $1', [ids[2]]);
    await db.pool.query('ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only');
    expect(await verifyAuditChain(db.pool)).toMatchObject({
      ok: false,
      firstBadId: ids[2],
      reason: expect.stringMatching(/last rows were removed/),
    });
  });

  it('the hash does not depend on the session time zone', async () => {
    await seed(2);
    const c = await db.pool.connect();
    try {
      await c.query(`SET TimeZone = 'Pacific/Kiritimati'`);
      await c.query(`SET DateStyle = 'SQL, DMY'`);
      expect(await verifyAuditChain(c)).toMatchObject({ ok: true, rowsChecked: 2 });
    } finally {
      await c.query('RESET ALL');
      c.release();
    }
  });
});

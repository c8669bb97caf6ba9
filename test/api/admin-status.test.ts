import { N8nClient, readMigrations } from '@ct/lib';
import { PROXY_SECRET, startTestApi, type TestApi } from './harness';

/**
 * GET /api/admin/status, the admin Overview's one read: each part against the bench's real
 * PostgreSQL, n8n and Prometheus, and each part degrading on its own when its service is gone.
 */
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
});

it('reports every part healthy or known on the bench, through the Grafana proxy credentials too', async () => {
  const res = await api.call('GET', '/api/admin/status', {
    key: null,
    headers: { 'x-ct-proxy-secret': PROXY_SECRET, 'x-grafana-user': 'ops' },
  });
  expect(res.status).toBe(200);
  const migrations = await readMigrations();
  expect(res.body.platform).toMatchObject({ status: 'ok', version: expect.any(String), uptimeSeconds: expect.any(Number) });
  expect(res.body.database).toMatchObject({
    status: 'ok',
    reachable: true,
    migrations: { applied: migrations.length, total: migrations.length },
    auditChain: null,
  });
  expect(res.body.n8n).toMatchObject({ status: 'ok', reachable: true, workflows: expect.any(Number), activeWorkflows: expect.any(Number) });
  // A fresh database has never been backed up: that is the worst news the tile can give.
  expect(res.body.backups).toMatchObject({ status: 'critical', running: null, lastSuccess: null, lastSuccessAgeSeconds: null });
  expect(res.body.alerts).toMatchObject({ firing: expect.any(Number), bySeverity: expect.any(Object) });
  expect(['ok', 'warning', 'critical']).toContain(res.body.alerts.status);
  expect(res.body.overall).toBe('critical');
  expect(Date.parse(res.body.at)).not.toBeNaN();
});

it('follows backup runs: running, a fresh success, a later failure, an old success', async () => {
  const insert = (status: string, startedAgo: string, finishedAgo: string | null, extra = '') =>
    api.pool.query(
      `INSERT INTO backup_runs (kind, status, started_at, finished_at, bytes, object_key, error)
       VALUES ('database', $1, now() - $2::interval, now() - $3::interval, 1234, 'db/x.dump.zst.enc', ${extra ? `'${extra}'` : 'NULL'})`,
      [status, startedAgo, finishedAgo],
    );
  await insert('succeeded', '2 hours', '1 hour 59 minutes');
  let s = (await api.call('GET', '/api/admin/status')).body.backups;
  expect(s).toMatchObject({ status: 'ok', lastSuccess: { status: 'succeeded', bytes: 1234 }, lastFailure: null });
  expect(s.lastSuccessAgeSeconds).toBeGreaterThanOrEqual(7100);

  await api.pool.query(`INSERT INTO backup_runs (kind, status) VALUES ('database', 'running')`);
  s = (await api.call('GET', '/api/admin/status')).body.backups;
  expect(s.running).toMatchObject({ kind: 'database', status: 'running', finishedAt: null });
  await api.pool.query(`UPDATE backup_runs SET status = 'failed', finished_at = now(), error = 'upload refused' WHERE status = 'running'`);
  s = (await api.call('GET', '/api/admin/status')).body.backups;
  expect(s).toMatchObject({ status: 'warning', running: null, lastFailure: { status: 'failed', error: 'upload refused' } });

  await api.pool.query(`DELETE FROM backup_runs`);
  await insert('succeeded', '3 days', '3 days');
  s = (await api.call('GET', '/api/admin/status')).body.backups;
  expect(s.status).toBe('critical');
});

it('shows the last audit verification, and a broken chain as critical', async () => {
  expect((await api.call('POST', '/api/admin/audit/verify')).body.ok).toBe(true);
  let db = (await api.call('GET', '/api/admin/status')).body.database;
  expect(db).toMatchObject({ status: 'ok', auditChain: { ok: true, firstBadId: null, verifiedAt: expect.any(String) } });
  expect(db.auditChain.rowsChecked).toBeGreaterThan(0);
  await api.pool.query(`INSERT INTO audit_verifications (ok, rows_checked, first_bad_id, reason) VALUES (false, 10, 7, 'hash mismatch')`);
  db = (await api.call('GET', '/api/admin/status')).body.database;
  expect(db).toMatchObject({ status: 'critical', auditChain: { ok: false, firstBadId: '7', reason: 'hash mismatch' } });
});

it('degrades one part at a time when n8n or Prometheus is unreachable', async () => {
  const other = await startTestApi({
    db: api.db,
    n8n: new N8nClient({ url: 'http://127.0.0.1:9', apiKey: 'x', timeoutSeconds: 2 }),
    settings: { prometheusUrl: 'http://127.0.0.1:9' },
  });
  try {
    const res = await other.call('GET', '/api/admin/status');
    expect(res.status).toBe(200);
    expect(res.body.n8n).toMatchObject({ status: 'critical', reachable: false, error: expect.any(String) });
    expect(res.body.alerts).toMatchObject({ status: 'unknown', firing: null, error: expect.stringContaining('Prometheus is unreachable') });
    expect(res.body.database.reachable).toBe(true);
    expect(res.body.overall).toBe('critical');
  } finally {
    await other.close();
  }
  const none = await startTestApi({ db: api.db, settings: { prometheusUrl: undefined } });
  try {
    expect((await none.call('GET', '/api/admin/status')).body.alerts).toMatchObject({
      status: 'unknown',
      error: 'PROMETHEUS_URL is not set',
    });
  } finally {
    await none.close();
  }
});

it('needs credentials, and a read scope is enough', async () => {
  expect((await api.call('GET', '/api/admin/status', { key: null })).status).toBe(401);
  expect((await api.call('GET', '/api/admin/status', { key: api.keys.read })).status).toBe(200);
});

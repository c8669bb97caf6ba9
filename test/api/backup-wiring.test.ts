import { serveBackupRequests, startDatabaseBackup, type StartedRun } from '@ct/backup';
import { backupForApi } from '../../cli/src/commands/serve';
import { backupConfig } from '../helpers/backup';
import { startTestApi, type TestApi } from './harness';

/**
 * `ct serve api` turns POST /api/admin/backups into a request that the backup scheduler starts:
 * the API process is given nothing but its database (no master key, no S3 credentials), and a
 * backup still runs, to S3, as the operator who clicked.
 */
let api: TestApi;
const servers: { stop(): Promise<void> }[] = [];
/** The runs the tests' schedulers started: each test starts with none going, even after a failed one. */
const runs: Promise<unknown>[] = [];
beforeAll(async () => {
  api = await startTestApi();
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  await Promise.all(runs.splice(0));
});
afterAll(() => api.close());

/** An API whose force-backup has only DATABASE_URL: the environment a key-less API process has. */
async function keylessApi(waitMs = 15_000): Promise<TestApi> {
  return startTestApi({ db: api.db, forceBackup: backupForApi({ DATABASE_URL: api.db.url }, { waitMs }) });
}

/** The scheduler's side, as `ct serve scheduler` runs it, with the bench's S3. */
async function scheduler(opts: { pollMs?: number; start?: () => Promise<StartedRun> } = {}) {
  const config = backupConfig(api.db.url);
  /** Runs this scheduler started; `answered`: every request it took, with the run that answered it. */
  const started: string[] = [];
  const answered: string[] = [];
  const served = await serveBackupRequests({
    pool: api.pool,
    pollMs: opts.pollMs,
    start:
      opts.start ??
      (async (requester) => {
        const run = await startDatabaseBackup({ pool: api.pool, config, ...requester });
        answered.push(run.run.id);
        // A request taken while a run is going is answered with that run, not a second one.
        if (!run.alreadyRunning) {
          started.push(run.run.id);
          runs.push(run.done);
        }
        return run;
      }),
  });
  servers.push(served);
  return { served, started, answered };
}

async function waitForRun(id: string): Promise<string> {
  for (let i = 0; i < 150; i++) {
    const { rows } = await api.pool.query<{ status: string }>('SELECT status FROM backup_runs WHERE id = $1', [id]);
    if (rows[0]?.status !== 'running') return rows[0]!.status;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`run ${id} still running after 30 s`);
}

it('without a scheduler, answers 502 saying what to start, withdraws the request, and a later scheduler does not run it', async () => {
  const keyless = await keylessApi(1500);
  try {
    const res = await keyless.call('POST', '/api/admin/backups');
    expect(res.status).toBe(502);
    expect(res.body.message).toContain('ct serve scheduler');
    const { rows } = await api.pool.query('SELECT status FROM backup_requests');
    expect(rows).toEqual([{ status: 'expired' }]);
    const { served, started } = await scheduler();
    await served.drain();
    expect(started).toEqual([]);
    expect((await api.pool.query('SELECT count(*)::int AS n FROM backup_runs')).rows[0].n).toBe(0);
    const audit = await api.pool.query("SELECT outcome FROM audit_logs WHERE action = 'backup.force'");
    expect(audit.rows).toEqual([{ outcome: 'failure' }]);
  } finally {
    await keyless.close();
  }
});

it('with the scheduler, answers 202 at once with the run, which uploads to S3 as the operator who asked', async () => {
  const { started } = await scheduler();
  const keyless = await keylessApi();
  const before = (await api.pool.query<{ id: string }>('SELECT coalesce(max(id), 0) AS id FROM audit_logs')).rows[0]!.id;
  try {
    const res = await keyless.call('POST', '/api/admin/backups');
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ alreadyRunning: false, run: { kind: 'database', status: 'running' } });
    expect(started).toEqual([res.body.run.id]);
    expect(await waitForRun(res.body.run.id)).toBe('succeeded');
    const { rows } = await api.pool.query(
      "SELECT action, actor, outcome FROM audit_logs WHERE action IN ('backup.force', 'backup.database') AND id > $1 ORDER BY id",
      [before],
    );
    expect(rows).toEqual([
      { action: 'backup.force', actor: expect.stringContaining('api_key:admin'), outcome: 'success' },
      { action: 'backup.database', actor: expect.stringContaining('api_key:admin'), outcome: 'success' },
    ]);
    const request = await api.pool.query('SELECT status, run_id FROM backup_requests ORDER BY requested_at DESC LIMIT 1');
    expect(request.rows).toEqual([{ status: 'started', run_id: res.body.run.id }]);
  } finally {
    await keyless.close();
  }
});

it('two clicks at once start one backup, and two schedulers never start a request twice', async () => {
  const a = await scheduler();
  const b = await scheduler();
  const keyless = await keylessApi();
  try {
    const [r1, r2] = await Promise.all([keyless.call('POST', '/api/admin/backups'), keyless.call('POST', '/api/admin/backups')]);
    expect([r1.status, r2.status]).toEqual([202, 202]);
    expect(r2.body.run.id).toBe(r1.body.run.id);
    expect([...a.started, ...b.started]).toEqual([r1.body.run.id]);
    // The second click either shared the first's pending request or, when a scheduler had already
    // taken that one, made a second request, answered by the run already going. Either way each
    // request was taken by one scheduler, once.
    const { n } = (
      await api.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM backup_requests WHERE status = 'started' AND run_id = $1", [
        r1.body.run.id,
      ])
    ).rows[0]!;
    expect(n).toBeGreaterThanOrEqual(1);
    expect([...a.answered, ...b.answered]).toEqual(Array(n).fill(r1.body.run.id));
    expect(await waitForRun(r1.body.run.id)).toBe('succeeded');
  } finally {
    await keyless.close();
  }
});

it('keeps serving after its listening connection is killed (reconnects, no polling needed)', async () => {
  const { started } = await scheduler({ pollMs: 600_000 });
  const killed = await api.pool.query(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
     WHERE datname = current_database() AND query LIKE 'LISTEN ct_backup_requests%'`,
  );
  expect(killed.rows).toEqual([{ ok: true }]);
  const keyless = await keylessApi();
  try {
    const res = await keyless.call('POST', '/api/admin/backups');
    expect(res.status).toBe(202);
    expect(started).toEqual([res.body.run.id]);
    expect(await waitForRun(res.body.run.id)).toBe('succeeded');
  } finally {
    await keyless.close();
  }
});

it('a scheduler that cannot start the run marks the request failed, and the API says why', async () => {
  await scheduler({
    start: async () => {
      throw new Error('S3 answered 403 AccessDenied');
    },
  });
  const keyless = await keylessApi();
  try {
    const res = await keyless.call('POST', '/api/admin/backups');
    expect(res.status).toBe(502);
    expect(res.body.message).toContain('S3 answered 403 AccessDenied');
    const { rows } = await api.pool.query('SELECT status, error FROM backup_requests ORDER BY requested_at DESC LIMIT 1');
    expect(rows).toEqual([{ status: 'failed', error: 'S3 answered 403 AccessDenied' }]);
  } finally {
    await keyless.close();
  }
});

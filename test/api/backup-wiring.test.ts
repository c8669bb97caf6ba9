import { backupForApi } from '../../cli/src/commands/serve';
import { benchEnv } from '../helpers/db';
import { startTestApi, type TestApi } from './harness';

/** `ct serve api` wires the backup module's database backup into POST /api/admin/backups. */
let api: TestApi | undefined;
afterAll(() => api?.close());

it('is absent (the route answers 501) without a backup configuration', () => {
  expect(backupForApi({ DATABASE_URL: benchEnv('DATABASE_URL') })).toBeUndefined();
});

it('starts a real database backup to S3 and answers at once with the run', async () => {
  api = await startTestApi();
  const force = backupForApi({
    ...process.env,
    DATABASE_URL: api.db.url,
    BACKUP_MASTER_KEY: 'test-only-backup-master-key-0123456789ab',
    BACKUP_PREFIX: `api-test-${Date.now()}/`,
  });
  expect(force).toBeDefined();
  const withBackups = await startTestApi({ db: api.db, forceBackup: force });
  try {
    const res = await withBackups.call('POST', '/api/admin/backups');
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ alreadyRunning: false, run: { kind: 'database', status: 'running' } });
    let status = 'running';
    for (let i = 0; i < 100 && status === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      status = (await api.pool.query('SELECT status FROM backup_runs WHERE id = $1', [res.body.run.id])).rows[0].status;
    }
    expect(status).toBe('succeeded');
    const { rows } = await api.pool.query("SELECT actor, outcome FROM audit_logs WHERE action = 'backup.force'");
    expect(rows).toEqual([{ actor: expect.stringContaining('api_key:admin'), outcome: 'success' }]);
  } finally {
    await withBackups.close();
  }
}, 60_000);

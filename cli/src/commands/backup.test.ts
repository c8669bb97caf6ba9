import { startScheduler } from '@ct/backup';
import { readMigrations, writeAudit } from '@ct/lib';
import { backupCliEnv } from '../../../test/helpers/backup';
import { runCt } from '../../../test/helpers/cli';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/db';

describe('ct backup … and ct serve scheduler', () => {
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;
  const targets: TestDatabase[] = [];

  beforeAll(async () => {
    db = await createTestDatabase({ prefix: 'clibackup' });
    await writeAudit(db.pool, { actor: 'test', action: 'client.create', outcome: 'success' });
    env = backupCliEnv(db.url);
  });
  afterAll(async () => {
    await Promise.all(targets.map((t) => t.drop()));
    await db.drop();
  });

  it('runs a backup and prints a one-line summary; list shows it', async () => {
    const run = await runCt(['backup', 'run', '--now'], { env, timeoutMs: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^database succeeded · run [0-9a-f-]{36} · [\d.]+ s · .*db\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d{6}Z\.dump\.enc · .* stored · .*\/s of database\n$/,
    );
    const n8n = await runCt(['backup', 'run', '--kind', 'n8n'], { env, timeoutMs: 60_000 });
    expect(n8n.code).toBe(0);
    expect(n8n.stdout).toMatch(/^n8n succeeded · .* workflows\n$/);
    const list = await runCt(['backup', 'list'], { env });
    expect(list.code).toBe(0);
    const newest = (await readMigrations()).at(-1)!.name;
    expect(list.stdout).toMatch(new RegExp(`database .* key k1 .*schema ${newest.replace('.', '\\.')}`));
    expect(list.stdout).toMatch(/n8n .* workflows/);
    expect(list.stdout).toMatch(/recent runs:\n.*n8n\s+succeeded/);
  });

  it('restores into an empty database, refuses a non-empty one, and names bad input', async () => {
    const target = await createTestDatabase({ migrate: false, prefix: 'clirestore' });
    targets.push(target);
    const ok = await runCt(['backup', 'restore', 'latest', '--target', target.ownerUrl], { env, timeoutMs: 60_000 });
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/^restored .*\.dump\.enc .* into postgres:\/\/.* verified in [\d.]+ s · restored in [\d.]+ s\n$/);
    const again = await runCt(['backup', 'restore', 'latest', '--target', target.ownerUrl], { env, timeoutMs: 60_000 });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^ct: the target database .* is not empty \(\d+ relations\); .*--force/);
    const bad = await runCt(['backup', 'restore', 'latest', '--target', 'mysql://x/y'], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--target must be a connection string/);
    const unknown = await runCt(['backup', 'restore', 'no-such-backup', '--target', target.ownerUrl], { env });
    expect(unknown.stderr).toMatch(/no database backup matches "no-such-backup"/);
    const noKey = await runCt(['backup', 'run'], { env: { ...env, BACKUP_MASTER_KEY: 'short' } });
    expect(noKey.code).toBe(78);
    expect(noKey.stderr).toMatch(/BACKUP_MASTER_KEY: must be at least 32 characters/);
    expect(noKey.stderr).not.toContain('short');
  });

  it('drill and retention print their result', async () => {
    const drill = await runCt(['backup', 'drill'], { env, timeoutMs: 60_000 });
    expect(drill.stderr).toBe('');
    expect(drill.stdout).toMatch(/^drill succeeded · .* restore took [\d.]+ s\n$/);
    const retention = await runCt(['backup', 'retention'], { env });
    expect(retention.stdout).toMatch(/^retention \(30 days\): 0 deleted, 2 kept/);
  });

  it('ct serve scheduler: the default schedules, and the hourly audit verification records its result', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const scheduler = await startScheduler();
      try {
        expect(Object.fromEntries(scheduler.jobs.map((j) => [j.name, j.schedule]))).toEqual({
          'database-backup': '0 */6 * * *',
          'n8n-backup': '30 2 * * *',
          'restore-drill': '0 4 * * 0',
          retention: '0 5 * * *',
          'audit-verify': '0 * * * *',
          'backup-inventory': '20 * * * *',
        });
        await scheduler.jobs.find((j) => j.name === 'audit-verify')!.run();
        const { rows } = await db.pool.query('SELECT ok, rows_checked::int AS n FROM audit_verifications');
        expect(rows).toEqual([{ ok: true, n: expect.any(Number) }]);
        expect(rows[0].n).toBeGreaterThan(1);
      } finally {
        await scheduler.stop();
      }
    } finally {
      process.env = saved;
    }
    const bad = await runCt(['serve', 'scheduler'], { env: { ...env, SCHEDULE_DATABASE_BACKUP: 'every six hours' } });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/SCHEDULE_DATABASE_BACKUP: must be a cron expression/);
  });
});

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MIGRATIONS_DIR, migrate, readMigrations } from '@ct/lib';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { runCt } from '../helpers/cli';

describe('ct migrate on real PostgreSQL', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterEach(async () => {
    await db.drop();
  });

  it('applies every file from an empty database, in order, and records name and checksum', async () => {
    const files = await readMigrations();
    expect(files.slice(0, 6).map((f) => f.name)).toEqual([
      '001_create_clients.sql',
      '002_create_automations.sql',
      '003_create_audit_logs.sql',
      '004_create_metrics.sql',
      '005_create_billing.sql',
      '006_add_encryption_functions.sql',
    ]);
    const res = await runCt(['migrate'], { env: { ...process.env, DATABASE_OWNER_URL: db.ownerUrl } });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`applied ${files.length} migration(s)`);
    const { rows } = await db.pool.query('SELECT name, sha256 FROM schema_migrations ORDER BY name');
    expect(rows).toEqual(files.map((f) => ({ name: f.name, sha256: f.sha256 })));
    const tables = await db.pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
    expect(tables.rows.map((r) => r.tablename)).toEqual(
      expect.arrayContaining([
        'clients',
        'client_secrets',
        'api_keys',
        'automations',
        'audit_logs',
        'activity_events',
        'client_daily_stats',
        'workflow_execution_cursor',
        'plans',
        'subscriptions',
        'invoices',
        'backup_runs',
      ]),
    );
  });

  it('a second run changes nothing and says so', async () => {
    await migrate(db.pool);
    const before = await db.pool.query('SELECT name, applied_at FROM schema_migrations ORDER BY name');
    const res = await runCt(['migrate'], { env: { ...process.env, DATABASE_OWNER_URL: db.ownerUrl } });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/up to date .*nothing to do/);
    const after = await db.pool.query('SELECT name, applied_at FROM schema_migrations ORDER BY name');
    expect(after.rows).toEqual(before.rows);
  });

  it('refuses to run, naming the file, when an applied file was edited', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ct-mig-'));
    try {
      cpSync(MIGRATIONS_DIR, dir, { recursive: true });
      await migrate(db.pool, { dir });
      const target = path.join(dir, '002_create_automations.sql');
      writeFileSync(target, `${readFileSync(target, 'utf8')}\n-- an innocent-looking edit\n`);
      // A new pending file must not be applied either: the check comes first.
      writeFileSync(path.join(dir, '999_later.sql'), 'CREATE TABLE should_not_exist (id int);');
      await expect(migrate(db.pool, { dir })).rejects.toThrow(/migration 002_create_automations\.sql was changed after it was applied/);
      const exists = await db.pool.query(`SELECT to_regclass('should_not_exist') AS t`);
      expect(exists.rows[0].t).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rolls back a failing file entirely and reports it by name', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ct-mig-'));
    try {
      cpSync(MIGRATIONS_DIR, dir, { recursive: true });
      writeFileSync(path.join(dir, '999_broken.sql'), 'CREATE TABLE half_done (id int);\nSELECT no_such_function();');
      await expect(migrate(db.pool, { dir })).rejects.toThrow(/migration 999_broken\.sql failed and was rolled back/);
      const t = await db.pool.query(`SELECT to_regclass('half_done') AS t`);
      expect(t.rows[0].t).toBeNull();
      const recorded = await db.pool.query(`SELECT count(*)::int AS n FROM schema_migrations WHERE name = '999_broken.sql'`);
      expect(recorded.rows[0].n).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two runners started at once apply each file exactly once', async () => {
    const env = { ...process.env, DATABASE_OWNER_URL: db.ownerUrl };
    const [a, b] = await Promise.all([runCt(['migrate'], { env }), runCt(['migrate'], { env })]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const files = await readMigrations();
    const appliedLines = (a.stdout + b.stdout).split('\n').filter((l) => l.startsWith('applying '));
    expect(appliedLines.sort()).toEqual(files.map((f) => `applying ${f.name}`).sort());
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM schema_migrations');
    expect(rows[0].n).toBe(files.length);
  });
});

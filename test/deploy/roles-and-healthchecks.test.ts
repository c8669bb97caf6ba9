import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startPostgres, type PostgresService } from '../bench/services';

/**
 * Two pieces of the compose stack that run outside the ct-platform code, run here for real on a
 * private PostgreSQL: deploy/postgres/monitor-role.sql (the postgres-roles service: ct_monitor,
 * postgres-exporter's role) and deploy/healthcheck.mjs (the ct-platform containers' healthcheck).
 */
const ROOT = path.resolve(__dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'deploy', 'postgres', 'monitor-role.sql');
const HEALTHCHECK = path.join(ROOT, 'deploy', 'healthcheck.mjs');

let dir: string;
let pg: PostgresService;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-deploy-roles-'));
  pg = await startPostgres(dir);
}, 60_000);

afterAll(async () => {
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** psql as compose's postgres-roles runs it (or as another role), the password only in the environment. */
function psql(args: string[], opts: { user?: string; env?: Record<string, string> } = {}) {
  return spawnSync(
    path.join(pg.env.PG_BIN_DIR!, 'psql'),
    ['-h', '127.0.0.1', '-p', String(pg.port), '-d', 'ct', '-U', opts.user ?? 'postgres', ...args],
    {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ...opts.env },
    },
  );
}
const runScript = (password?: string) =>
  psql(['-v', 'ON_ERROR_STOP=1', '-f', SCRIPT], { env: password === undefined ? {} : { MONITOR_DB_PASSWORD: password } });
const query = (sql: string, user?: string) => psql(['-qAtc', sql], { user });

describe('deploy/postgres/monitor-role.sql', () => {
  it('refuses a missing or short password, creating nothing', () => {
    for (const password of [undefined, '', 'short']) {
      const r = runScript(password);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/MONITOR_DB_PASSWORD must be set, at least 16 characters/);
    }
    expect(query("SELECT count(*) FROM pg_roles WHERE rolname = 'ct_monitor'").stdout.trim()).toBe('0');
  });

  it('creates ct_monitor with pg_monitor and nothing else, its password a SCRAM verifier, and is idempotent', () => {
    const first = runScript('a'.repeat(8) + '0123456789abcdef');
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const verifier = () => query("SELECT rolpassword FROM pg_authid WHERE rolname = 'ct_monitor'").stdout.trim();
    const before = verifier();
    expect(before).toMatch(/^SCRAM-SHA-256\$/);
    // Again with a new password: same role, new verifier (the password follows MONITOR_DB_PASSWORD).
    expect(runScript('fedcba9876543210' + 'b'.repeat(8)).status).toBe(0);
    expect(verifier()).toMatch(/^SCRAM-SHA-256\$/);
    expect(verifier()).not.toBe(before);
    const attrs = query(
      "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin, rolconfig::text FROM pg_roles WHERE rolname = 'ct_monitor'",
    ).stdout.trim();
    expect(attrs).toBe('f|f|f|f|f|t|{default_transaction_read_only=on,statement_timeout=10s}');
    const memberOf = query(
      "SELECT string_agg(r.rolname, ',' ORDER BY r.rolname) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'ct_monitor'",
    ).stdout.trim();
    expect(memberOf).toBe('pg_monitor');
  });

  it("as ct_monitor: reads the server's statistics, not the platform's tables, and writes nothing", () => {
    expect(query('CREATE TABLE clients_secret_probe (secret text); INSERT INTO clients_secret_probe VALUES (1)').status).toBe(0);
    const stats = query("SELECT count(*) > 0 FROM pg_stat_activity WHERE query <> '<insufficient privilege>'", 'ct_monitor');
    expect(stats.stdout.trim()).toBe('t');
    expect(query('SELECT pg_database_size(current_database()) > 0', 'ct_monitor').stdout.trim()).toBe('t');
    const table = query('SELECT * FROM clients_secret_probe', 'ct_monitor');
    expect(table.status).not.toBe(0);
    expect(table.stderr).toMatch(/permission denied/);
    const write = query('CREATE TEMP TABLE t (x int)', 'ct_monitor');
    expect(write.stderr).toMatch(/read-only transaction/);
  });
});

describe('deploy/healthcheck.mjs', () => {
  let server: http.Server;
  let base: string;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? 200 : 503;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  // Asynchronous: the server it checks runs in this process.
  const check = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      const opts = { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, timeout: 20_000 };
      execFile(process.execPath, [HEALTHCHECK, ...args], opts, (err, stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
      );
    });

  it('is healthy when the URL answers 2xx, unhealthy (saying why) otherwise', async () => {
    expect((await check([`${base}/healthz`])).status).toBe(0);
    const down = await check([`${base}/readyz`]);
    expect(down.status).toBe(1);
    expect(down.stdout).toMatch(/answered 503/);
    expect((await check(['http://127.0.0.1:1/healthz'])).status).toBe(1);
    expect((await check([])).stdout).toMatch(/usage/);
  });

  it('checks the database with DATABASE_URL, never printing it', async () => {
    expect((await check(['database'], { DATABASE_URL: pg.url })).status).toBe(0);
    const wrong = await check(['database'], { DATABASE_URL: `postgres://ct_app:hunter2-secret@127.0.0.1:${pg.port}/no_such_database` });
    expect(wrong.status).toBe(1);
    expect(wrong.stdout).toMatch(/^unhealthy: /);
    expect(wrong.stdout + wrong.stderr).not.toMatch(/hunter2/);
    expect((await check(['database'])).stdout).toMatch(/DATABASE_URL is not set/);
  });
});

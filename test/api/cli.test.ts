import { spawn } from 'node:child_process';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { CT_BIN, runCt } from '../helpers/cli';

/** The bootstrap commands and `ct serve api`, run as an operator runs them. */
let db: TestDatabase;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'apicli' });
  env = {
    ...process.env,
    DATABASE_URL: db.url,
    API_JWT_SECRET: 'cli-test-jwt-secret-0123456789abcdefghij',
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
  };
});
afterAll(() => db.drop());

it('ct apikey create prints a key once and stores only its hash', async () => {
  const res = await runCt(['apikey', 'create', '--name', 'grafana', '--scopes', 'admin,read'], { env });
  expect(res.code).toBe(0);
  const key = res.stdout.trim();
  expect(key).toMatch(/^ct_[A-Za-z0-9]{20,}$/);
  const { rows } = await db.pool.query('SELECT name, scopes, key_hash FROM api_keys');
  expect(rows).toEqual([{ name: 'grafana', scopes: ['admin', 'read'], key_hash: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
  expect(JSON.stringify(rows)).not.toContain(key);
  const audit = await db.pool.query("SELECT actor_type, outcome FROM audit_logs WHERE action = 'api_key.create'");
  expect(audit.rows).toEqual([{ actor_type: 'system', outcome: 'success' }]);
});

it('ct apikey create refuses unknown scopes', async () => {
  const res = await runCt(['apikey', 'create', '--name', 'x', '--scopes', 'root'], { env });
  expect(res.code).not.toBe(0);
  expect(res.stderr).toMatch(/--scopes must list some of read, write, admin; unknown: root/);
});

it('ct user create reads the password from stdin and hashes it with scrypt', async () => {
  const res = await runCt(['user', 'create', '--email', 'Ops@Agency.test'], { env, input: 'a very long password\n' });
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/created admin user ops@agency.test/);
  const { rows } = await db.pool.query('SELECT email, password_hash FROM admin_users');
  expect(rows[0].email).toBe('ops@agency.test');
  expect(rows[0].password_hash).toMatch(/^scrypt\$131072\$8\$1\$/);
  const short = await runCt(['user', 'create', '--email', 'b@agency.test'], { env, input: 'short\n' });
  expect(short.stderr).toMatch(/password must be at least 12 characters/);
  const dup = await runCt(['user', 'create', '--email', 'ops@agency.test'], { env, input: 'a very long password\n' });
  expect(dup.stderr).toMatch(/already exists/);
});

it('ct serve api listens on --port, and a missing JWT secret is named', async () => {
  const bad = await runCt(['serve', 'api', '--port', '0'], { env: { ...env, API_JWT_SECRET: '' } });
  expect(bad.code).toBe(78);
  expect(bad.stderr).toMatch(/API_JWT_SECRET: is required but not set/);

  const port = 20000 + Math.floor(Math.random() * 20000);
  const internalPort = port + 1;
  const child = spawn(process.execPath, [CT_BIN, 'serve', 'api', '--port', String(port)], {
    env: { ...env, API_INTERNAL_PORT: String(internalPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
      status = await fetch(`http://127.0.0.1:${internalPort}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
    }
    expect(status).toBe(200);
    const doc = (await (await fetch(`http://127.0.0.1:${port}/api/openapi.json`)).json()) as { openapi: string };
    expect(doc.openapi).toBe('3.1.0');
    // The metrics are on the internal listener only.
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    expect(await (await fetch(`http://127.0.0.1:${internalPort}/metrics`)).text()).toContain('ct_api_request_duration_seconds');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});

import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { createPool, migrate, writeAudit } from '@ct/lib';
import { postgresBinDir } from '../bench/install';
import { freePort, waitFor } from '../bench/process';
import { startPostgres, type PostgresService } from '../bench/services';

/**
 * Step 5 of docs/scaling.md, for real: the primary configured with deploy/scale/postgres-replica/
 * (its settings file and its pg_hba line, password-authenticated), a replica made with
 * pg_basebackup as the document says, the platform's schema and audit rows streaming to it, and the
 * replica refusing writes.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const CONFIG = path.join(ROOT, 'deploy', 'scale', 'postgres-replica');
const bin = postgresBinDir();
const isRoot = process.getuid?.() === 0;
/** PostgreSQL refuses to run as root: the bench's clusters belong to the postgres user. */
const asPostgres = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  execFileSync(isRoot ? 'runuser' : cmd, isRoot ? ['-u', 'postgres', '--', cmd, ...args] : args, {
    stdio: 'pipe',
    env: { ...process.env, ...env },
  });

let dir: string;
let primary: PostgresService;
let replicaData: string;
let replicaPort: number;
const clients: Client[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-replica-'));
  primary = await startPostgres(dir);
  // The documented settings and pg_hba line, the replica's address being this machine's loopback.
  copyFileSync(path.join(CONFIG, 'primary.conf'), path.join(primary.dataDir, 'primary.conf'));
  appendFileSync(path.join(primary.dataDir, 'postgresql.conf'), "\ninclude 'primary.conf'\n");
  const hbaLine = readFileSync(path.join(CONFIG, 'pg_hba-replication.conf'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('host'))!
    .replace(/\S+\/32/, '127.0.0.1/32');
  const hba = path.join(primary.dataDir, 'pg_hba.conf');
  // First match wins: put it above initdb's trust lines so the password is really asked for.
  writeFileSync(hba, `${hbaLine}\n${readFileSync(hba, 'utf8')}`);
  await primary.halt();
  await primary.start();
  const owner = new Client({ connectionString: primary.url });
  await owner.connect();
  clients.push(owner);
  await owner.query("CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD 'replica-test-password'");

  replicaData = path.join(dir, 'postgres', 'replica');
  chmodSync(dir, 0o755);
  asPostgres(
    path.join(bin, 'pg_basebackup'),
    ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'replicator', '-D', replicaData, '-R', '-X', 'stream', '-C', '-S', 'replica1'],
    { PGPASSWORD: 'replica-test-password' },
  );
  replicaPort = await freePort();
  // The copy carries the primary's port: the replica gets its own.
  appendFileSync(path.join(replicaData, 'postgresql.auto.conf'), `\nport = ${replicaPort}\n`);
  asPostgres(path.join(bin, 'pg_ctl'), ['-D', replicaData, '-w', '-t', '30', '-l', path.join(dir, 'postgres', 'replica.log'), 'start']);
}, 90_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  try {
    asPostgres(path.join(bin, 'pg_ctl'), ['-D', replicaData, '-w', '-m', 'fast', 'stop']);
  } catch {
    /* not started */
  }
  await primary?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('the documented pg_hba line asks the replica for its password', () => {
  expect(() =>
    asPostgres(
      path.join(bin, 'psql'),
      ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'replicator', 'replication=true', '-c', 'IDENTIFY_SYSTEM'],
      {
        PGPASSWORD: 'wrong',
      },
    ),
  ).toThrow(/password authentication failed for user "replicator"/);
});

it('streams the platform schema and its audit rows to a read-only replica', async () => {
  const pool = createPool({ url: primary.url, applicationName: 'ct-replica-test' });
  try {
    await migrate(pool);
    await writeAudit(pool, { actor: 'ops', action: 'client.create', outcome: 'success' });
    const { rows: head } = await pool.query<{ id: string; hash: string }>('SELECT id::text, hash FROM audit_logs ORDER BY id DESC LIMIT 1');
    const replica = new Client({ connectionString: `postgres://postgres@127.0.0.1:${replicaPort}/ct` });
    await replica.connect();
    clients.push(replica);
    await waitFor(
      'the audit row on the replica',
      async () => (await replica.query('SELECT 1 FROM audit_logs WHERE id = $1', [head[0]!.id])).rowCount === 1,
      { timeoutMs: 20_000 },
    );
    const { rows } = await replica.query<{ hash: string }>('SELECT hash FROM audit_logs WHERE id = $1', [head[0]!.id]);
    expect(rows[0]!.hash).toBe(head[0]!.hash);
    expect((await replica.query('SELECT pg_is_in_recovery() AS r')).rows[0]).toEqual({ r: true });
    await expect(replica.query("INSERT INTO clients (slug, name) VALUES ('x', 'X')")).rejects.toThrow(/read-only transaction/);
    const streaming = await pool.query('SELECT state, slot_name FROM pg_stat_replication JOIN pg_replication_slots ON active_pid = pid');
    expect(streaming.rows).toEqual([{ state: 'streaming', slot_name: 'replica1' }]);
  } finally {
    await pool.end();
  }
});

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool } from '@ct/lib';
import { startPostgres, type PostgresService } from '../bench/services';
import { freePort, sleep } from '../bench/process';
import { CT_BIN, runCt } from '../helpers/cli';
import { appUrlOf, benchEnv, migrateAsOwner } from '../helpers/db';
import { parseMetrics, seriesOf, valueOf, type Sample } from '../helpers/metrics';

/**
 * `ct serve exporters` as an operator runs it, against a private PostgreSQL that is stopped and
 * started again underneath it.
 */
jest.setTimeout(90_000);

let dir: string;
let pg: PostgresService;
let child: ChildProcess | null = null;
let output = '';
let url: string;

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    DATABASE_URL: appUrlOf(pg.url),
    DATABASE_CONNECT_TIMEOUT: '2s',
    N8N_URL: benchEnv('N8N_URL'),
    N8N_API_KEY: benchEnv('N8N_API_KEY'),
    EXPORTER_N8N_INTERVAL: '1s',
    EXPORTER_PORT: '1', // overridden by --port below
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

async function scrape(): Promise<{ status: number; ms: number; samples: Sample[] }> {
  const t = Date.now();
  const res = await fetch(`${url}/metrics`);
  const text = await res.text();
  return { status: res.status, ms: Date.now() - t, samples: parseMetrics(text) };
}

async function until(check: (s: Sample[]) => boolean, what: string): Promise<Sample[]> {
  const deadline = Date.now() + 30_000;
  let last: Sample[] = [];
  while (Date.now() < deadline) {
    last = await scrape().then(
      (r) => r.samples,
      () => [], // not listening yet
    );
    if (check(last)) return last;
    await sleep(300);
  }
  throw new Error(`${what}: not reached; collectors ${JSON.stringify(seriesOf(last, 'ct_exporter_collector_up'))}\n${output}`);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-exporters-serve-'));
  pg = await startPostgres(dir);
  const pool = createPool({ url: pg.url, max: 2 });
  await migrateAsOwner(pool);
  const { rows } = await pool.query<{ id: string }>(`INSERT INTO clients (slug, name) VALUES ('plumber', 'Plumber') RETURNING id`);
  await pool.query(
    `INSERT INTO subscriptions (client_id, monthly_amount_cents, currency, started_at) VALUES ($1, 20000, 'EUR', now() - interval '1 day')`,
    [rows[0]!.id],
  );
  await pool.end();
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a malformed setting stops ct serve exporters with a message naming it', async () => {
  const r = await runCt(['serve', 'exporters'], { env: env({ EXPORTER_PORT: 'ninety', EXPORTER_DATABASE_DISK_CAPACITY: 'lots' }) });
  expect(r.code).toBe(78);
  expect(r.stderr).toContain('EXPORTER_PORT');
  expect(r.stderr).toContain('EXPORTER_DATABASE_DISK_CAPACITY: must be a size like 50GB');
});

test('ct serve exporters --port serves /metrics and /healthz; PostgreSQL stopped and started again underneath it', async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, [CT_BIN, 'serve', 'exporters', '--port', String(port)], {
    env: env({ EXPORTER_DATABASE_DISK_CAPACITY: '50GB' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));

  const up = await until((s) => valueOf(s, 'ct_n8n_up') === 1 && valueOf(s, 'ct_database_up') === 1, 'exporter serving');
  expect(valueOf(up, 'ct_mrr', { currency: 'EUR' })).toBe(200);
  expect(valueOf(up, 'ct_database_disk_capacity_bytes')).toBe(50e9);
  expect((await fetch(`${url}/healthz`)).status).toBe(200);

  await pg.halt();
  const down = await scrape();
  expect(down.status).toBe(200);
  expect(down.ms).toBeLessThan(5000);
  expect(valueOf(down.samples, 'ct_database_up')).toBe(0);
  expect(seriesOf(down.samples, 'ct_exporter_collector_up')).toMatchObject({
    'collector=billing': 0,
    'collector=activity': 0,
    'collector=backups': 0,
    'collector=database': 0,
  });
  // The per-workflow families follow at the next n8n poll (they are rendered by it).
  const n8nDown = await until(
    (s) => valueOf(s, 'ct_exporter_collector_up', { collector: 'n8n' }) === 0,
    'n8n collector down without the database',
  );
  expect(seriesOf(n8nDown, 'ct_workflow_executions_total')).toEqual({});
  // Nothing stale is served for the sources that failed; n8n itself is still reachable.
  expect(valueOf(down.samples, 'ct_mrr', { currency: 'EUR' })).toBeUndefined();
  expect(valueOf(down.samples, 'ct_database_size_bytes')).toBeUndefined();
  await until((s) => valueOf(s, 'ct_n8n_up') === 1, 'n8n still reported up without the database');

  await pg.start();
  const back = await until((s) => valueOf(s, 'ct_database_up') === 1, 'database back');
  expect(valueOf(back, 'ct_mrr', { currency: 'EUR' })).toBe(200);
  expect(valueOf(back, 'ct_exporter_collector_up', { collector: 'billing' })).toBe(1);

  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child!.once('exit', resolve));
  expect(code).toBe(0);
  expect(output).toContain('exporters listening');
  expect(output).toContain('exporters stopped');
});

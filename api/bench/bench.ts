/**
 * `npm run bench:api`: throughput and latency of the platform API on this machine.
 *   1. GET /api/clients (page of 50) at a fixed 200 requests/s: p50/p99 (target p99 < 50 ms).
 *   2. Signed webhook posts at fixed concurrency: durable events/s (target ≥ 1,000), counted as
 *      rows committed in activity_events, with fsync on.
 *   3. pgbench single-row inserts on the same cluster, same concurrency: the webhook ingest rate is
 *      printed as a ratio of it.
 * Scale with BENCH_API_CLIENTS (seeded clients, default 1000), BENCH_API_SECONDS (per phase, default
 * 20) and BENCH_API_CONNECTIONS (webhook and pgbench concurrency, default 16).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { createPool, migrate, withTransaction } from '@ct/lib';
import { createApiKey, signWebhook } from '@ct/api';
import { startPostgres } from '../../test/bench/services';
import { freePort, httpStatus, waitFor } from '../../test/bench/process';

const CLIENTS = Number(process.env.BENCH_API_CLIENTS ?? 1000);
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 20);
const CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 16);
const ROOT = path.resolve(__dirname, '..', '..');

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ct-bench-api-'));
  const pg = await startPostgres(dir);
  const pool = createPool({ url: pg.url, max: 4 });
  let api: ReturnType<typeof spawn> | undefined;
  try {
    // Durable: the bench cluster runs with fsync off; this measurement turns it back on.
    await pool.query('ALTER SYSTEM SET fsync = on');
    await pool.query('ALTER SYSTEM SET full_page_writes = on');
    await pool.query('SELECT pg_reload_conf()');
    await migrate(pool);
    const key = await withTransaction(pool, (tx) =>
      createApiKey(tx, { name: 'bench', scopes: ['admin'], owner: 'bench' }, { actor: 'bench' }),
    ).then((k) => k.key);
    await pool.query(
      `INSERT INTO clients (slug, name) SELECT 'client-' || lpad(g::text, 5, '0'), 'Client ' || g FROM generate_series(1, $1) g`,
      [CLIENTS],
    );
    const port = await freePort();
    const internalPort = await freePort();
    const env = {
      ...process.env,
      API_INTERNAL_PORT: String(internalPort),
      DATABASE_URL: pg.url,
      DATABASE_POOL_MAX: '20',
      SECRETS_KEY: 'bench-only-secrets-key-0123456789abcdef',
      API_JWT_SECRET: 'bench-only-jwt-secret-0123456789abcdef',
      API_RATE_LIMIT_PER_KEY: '100000000',
      API_RATE_LIMIT_PER_IP: '100000000',
      API_WEBHOOK_RATE_LIMIT: '100000000',
      N8N_URL: process.env.N8N_URL ?? 'http://127.0.0.1:9',
      N8N_API_KEY: process.env.N8N_API_KEY ?? 'unused-by-this-benchmark',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    };
    const logFile = path.join(dir, 'api.log');
    api = spawn(process.execPath, [path.join(ROOT, 'cli', 'bin', 'ct.js'), 'serve', 'api', '--port', String(port)], {
      env,
      stdio: 'ignore',
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor('api', async () => (await httpStatus(`http://127.0.0.1:${internalPort}/readyz`)) === 200, { timeoutMs: 20_000, logFile });

    // A client with a webhook secret, through the API as an operator would.
    const created = await fetch(`${url}/api/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'bench-hook', name: 'Bench webhook client' }),
    }).then((r) => r.json() as Promise<{ client: { id: string }; webhookSecret: string }>);

    // ---------------------------------------------------------------- 1. reads
    await autocannon({ url: `${url}/api/clients`, headers: { authorization: `Bearer ${key}` }, connections: 10, duration: 3 }); // warm-up
    const reads = await autocannon({
      url: `${url}/api/clients`,
      headers: { authorization: `Bearer ${key}` },
      connections: 10,
      overallRate: 200,
      duration: SECONDS,
    });

    // ---------------------------------------------------------------- 2. webhook ingest
    const secret = created.webhookSecret;
    const sign = (req: { body?: unknown; headers?: Record<string, string> }) => {
      const body = JSON.stringify({ id: randomUUID(), type: 'lead.captured', data: { source: 'bench', value: 42 } });
      return { ...req, body, headers: { ...req.headers, 'content-type': 'application/json', ...signWebhook(secret, body) } };
    };
    await autocannon({
      url: `${url}/api/webhooks/n8n/bench-hook`,
      method: 'POST',
      connections: CONNECTIONS,
      duration: 3,
      requests: [{ setupRequest: sign as never }],
    });
    const before = Number((await pool.query('SELECT count(*) AS n FROM activity_events')).rows[0].n);
    const hooks = await autocannon({
      url: `${url}/api/webhooks/n8n/bench-hook`,
      method: 'POST',
      connections: CONNECTIONS,
      duration: SECONDS,
      requests: [{ setupRequest: sign as never }],
    });
    const stored = Number((await pool.query('SELECT count(*) AS n FROM activity_events')).rows[0].n) - before;
    const eventsPerSecond = stored / SECONDS;

    // ---------------------------------------------------------------- 3. pgbench on the same cluster
    await pool.query('CREATE TABLE bench_inserts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, details jsonb NOT NULL)');
    const script = path.join(dir, 'insert.sql');
    writeFileSync(script, `INSERT INTO bench_inserts (details) VALUES ('{"source":"bench","value":42}');\n`);
    const pgbench = path.join(process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin', 'pgbench');
    const out = execFileSync(
      pgbench,
      [
        '-n',
        '-h',
        '127.0.0.1',
        '-p',
        String(pg.port),
        '-U',
        'postgres',
        '-c',
        String(CONNECTIONS),
        '-j',
        '2',
        '-T',
        String(SECONDS),
        '-f',
        script,
        'ct',
      ],
      { encoding: 'utf8' },
    );
    const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? NaN);

    const ms = (v: number) => `${v.toFixed(1)} ms`;
    const lines = [
      `CT API benchmark — ${new Date().toISOString()} — ${CLIENTS} clients, ${SECONDS}s per phase, fsync on`,
      `GET /api/clients (page of 50) at 200 req/s, 10 connections: ${reads.requests.average.toFixed(0)} req/s, p50 ${ms(reads.latency.p50)}, p99 ${ms(reads.latency.p99)}, errors ${reads.errors + reads.non2xx} (target p99 < 50 ms: ${reads.latency.p99 < 50 ? 'met' : 'NOT met'})`,
      `signed webhook posts, ${CONNECTIONS} connections: ${hooks.requests.average.toFixed(0)} req/s answered, p50 ${ms(hooks.latency.p50)}, p99 ${ms(hooks.latency.p99)}, non-2xx ${hooks.non2xx}, errors ${hooks.errors}`,
      `  durable events stored: ${stored} = ${eventsPerSecond.toFixed(0)} events/s (target ≥ 1000: ${eventsPerSecond >= 1000 ? 'met' : 'NOT met'})`,
      `pgbench single-row insert, ${CONNECTIONS} clients, same cluster: ${tps.toFixed(0)} tps`,
      `webhook ingest / pgbench insert rate: ${(eventsPerSecond / tps).toFixed(2)}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    api?.kill('SIGTERM');
    await pool.end();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench:api failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

/**
 * `npm run bench:growth`: how the platform's costs grow with the agency. One private PostgreSQL
 * cluster (fsync on) and one private S3 serve the whole run; the same database grows through each
 * size of BENCH_GROWTH_SIZES (default 100,1000,5000,10000 clients), each client with
 * BENCH_GROWTH_WORKFLOWS workflows (20), BENCH_GROWTH_EVENTS activity events (500) and
 * BENCH_GROWTH_INVOICES invoices (100). At each size, each service started fresh as a separate
 * process, one after the other:
 *   1. `ct serve exporters` (docker-compose.yml's NODE_OPTIONS) against an n8n stand-in listing that
 *      size's workflows: time to its first complete scrape, BENCH_GROWTH_SCRAPES (100) timed scrapes
 *      (median, p99), series, peak RSS (VmHWM);
 *   2. `ct serve api`: GET /api/clients at a fixed 200 requests/s (p50, p99), then signed webhook
 *      posts over 16 connections (durable events/s: rows committed ÷ phase length), each phase
 *      BENCH_GROWTH_SECONDS long (10);
 *   3. `ct backup run` into the S3: wall time and object size.
 * Prints a markdown table (`--json FILE` also saves the figures); BENCH_WRITE_DOCS=1 writes the
 * table into docs/benchmarks.md ("How cost grows") and the chart to docs/images/benchmarks/growth.svg.
 * `--render FILE` writes the docs from the figures an earlier run saved, without measuring.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { createPool, migrate, withTransaction, type Pool } from '@ct/lib';
import { createApiKey, signWebhook } from '@ct/api';
import { createBucket, deleteKeys, listKeys, storageSchema } from '@ct/backup';
import { startPostgres, startS3 } from '../../test/bench/services';
import { freePort, httpStatus, killGroup, waitFor } from '../../test/bench/process';
import { CT_BIN } from '../../test/helpers/cli';
import { startFakeN8n } from '../../exporters/bench/bench';
import { deployedExporterNode } from '../../exporters/bench/deployed';
import { growthChart } from './chart';
import { growthBlock, growthTable, replaceBlock, type BlockInfo } from './docs';
import type { ExporterFigures, GrowthRow } from './results';
import { growTo, seedPlatform, type Shape } from './seed';

const ROOT = path.resolve(__dirname, '..', '..');
const DOCS_FILE = path.join(ROOT, 'docs', 'benchmarks.md');
const CHART_FILE = path.join(ROOT, 'docs', 'images', 'benchmarks', 'growth.svg');

const positive = (name: string, dflt: number) => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${process.env[name]}`);
  return v;
};

export function parseSizes(value: string): number[] {
  const sizes = value.split(',').map((s) => Number(s.trim()));
  if (!sizes.length || sizes.some((s, i) => !Number.isInteger(s) || s < 1 || s > 999_999 || (i > 0 && s <= sizes[i - 1]!)))
    throw new Error(`BENCH_GROWTH_SIZES must be increasing numbers of clients (1-999999), comma-separated; got "${value}"`);
  return sizes;
}

// What Prometheus sends when it scrapes the exporter (as exporters/bench measures it).
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const READ_RATE = 200;
const WEBHOOK_CONNECTIONS = 16;
const SECRETS_KEY = 'bench-only-secrets-key-0123456789abcdef';
const BACKUP_KEY = 'bench-only-backup-master-key-0123456789abcdef';

const log = (line: string) => process.stderr.write(`[growth] ${line}\n`);

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

/** One scrape as Prometheus makes it, timed until its last byte arrives (still compressed). */
function timedScrape(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const req = httpGet(url, { headers: { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip' } }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - t) / 1e6) : reject(new Error(`${url}: ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Why the exporter stopped, in a few words, from its stderr. */
function exporterFailure(stderr: string, err: Error, nodeOptions: string): string {
  if (/heap out of memory|Allocation failed/i.test(stderr)) {
    const heap = /--max-old-space-size=(\d+)/.exec(nodeOptions)?.[1];
    return `out of memory${heap ? ` (heap limit ${heap} MB)` : ''}`;
  }
  return err.message
    .split('\n')[0]!
    .replace(/^ct serve exporters: /, '')
    .slice(0, 80);
}

async function measureExporter(
  databaseUrl: string,
  n8n: { url: string; workflows: number },
  scrapes: number,
  node: { args: string[]; options: string },
): Promise<ExporterFigures> {
  const port = await freePort();
  const t0 = Date.now();
  const child = spawn(process.execPath, [...node.args, CT_BIN, 'serve', 'exporters', '--port', String(port)], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: databaseUrl,
      N8N_URL: n8n.url,
      N8N_API_KEY: 'bench',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'warn',
      NODE_OPTIONS: node.options,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
  const url = `http://127.0.0.1:${port}/metrics`;
  try {
    // Ready once the first n8n poll has rendered the per-workflow families: a minute, and 2 ms per
    // workflow (four times what it took at 1,000 clients on a busy machine).
    await waitFor('ct serve exporters', async () => (await fetch(url).then((r) => r.text())).includes('ct_workflow_executions_total{'), {
      timeoutMs: 60_000 + 2 * n8n.workflows,
      pid: child.pid,
    });
    const readySeconds = (Date.now() - t0) / 1000;
    const times: number[] = [];
    for (let i = 0; i < scrapes + 5; i++) {
      const ms = await timedScrape(url);
      if (i >= 5) times.push(ms); // the first five warm up
    }
    const body = await (await fetch(url, { headers: { accept: PROMETHEUS_ACCEPT } })).text();
    const lines = body.split('\n').filter((l) => l && !l.startsWith('#'));
    times.sort((a, b) => a - b);
    return {
      readySeconds,
      series: lines.length,
      bodyBytes: Buffer.byteLength(body),
      scrapeMedianMs: quantile(times, 0.5),
      scrapeP99Ms: quantile(times, 0.99),
      peakRssMb: peakRssMb(child.pid!),
      collectorsDown: lines.filter((l) => l.startsWith('ct_exporter_collector_up{') && / 0$/.test(l)).length,
    };
  } catch (err) {
    // Let the process finish writing why it stopped.
    await new Promise((r) => setTimeout(r, 500));
    log(`  ct serve exporters failed: ${(err as Error).message}\n${stderr.split('\n').slice(-12).join('\n')}`);
    throw new Error(exporterFailure(stderr, err as Error, node.options));
  } finally {
    await killGroup(child.pid!);
  }
}

interface Api {
  url: string;
  stop(): Promise<void>;
}

async function startApi(databaseUrl: string, logFile: string): Promise<Api> {
  const port = await freePort();
  const internalPort = await freePort();
  const child = spawn(process.execPath, [CT_BIN, 'serve', 'api', '--port', String(port)], {
    env: {
      PATH: process.env.PATH,
      API_INTERNAL_PORT: String(internalPort),
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_MAX: '20',
      SECRETS_KEY,
      API_JWT_SECRET: 'bench-only-jwt-secret-0123456789abcdef',
      API_RATE_LIMIT_PER_KEY: '100000000',
      API_RATE_LIMIT_PER_IP: '100000000',
      API_WEBHOOK_RATE_LIMIT: '100000000',
      N8N_URL: 'http://127.0.0.1:9',
      N8N_API_KEY: 'unused-by-this-benchmark',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
  const stop = async () => {
    await killGroup(child.pid!);
    writeFileSync(logFile, stderr);
  };
  try {
    await waitFor('ct serve api', async () => (await httpStatus(`http://127.0.0.1:${internalPort}/readyz`)) === 200, {
      timeoutMs: 30_000,
      pid: child.pid,
    });
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  return { url: `http://127.0.0.1:${port}`, stop };
}

const count = async (pool: Pool, table: string) => Number((await pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

async function measureApi(
  pool: Pool,
  api: Api,
  key: string,
  hook: { slug: string; secret: string },
  seconds: number,
): Promise<Pick<GrowthRow, 'readP50Ms' | 'readP99Ms' | 'readErrors' | 'webhookEventsPerSecond' | 'webhookP99Ms' | 'webhookErrors'>> {
  const reads = { url: `${api.url}/api/clients`, headers: { authorization: `Bearer ${key}` }, connections: 10 };
  await autocannon({ ...reads, duration: 2 }); // warm-up
  const r = await autocannon({ ...reads, overallRate: READ_RATE, duration: seconds });

  const sign = (req: { headers?: Record<string, string> }) => {
    const body = JSON.stringify({ id: randomUUID(), type: 'lead.captured', data: { source: 'bench', value: 42 } });
    return { ...req, body, headers: { ...req.headers, 'content-type': 'application/json', ...signWebhook(hook.secret, body) } };
  };
  const hooks = {
    url: `${api.url}/api/webhooks/n8n/${hook.slug}`,
    method: 'POST' as const,
    connections: WEBHOOK_CONNECTIONS,
    requests: [{ setupRequest: sign as never }],
  };
  await autocannon({ ...hooks, duration: 2 }); // warm-up
  const before = await count(pool, 'activity_events');
  const h = await autocannon({ ...hooks, duration: seconds });
  const stored = (await count(pool, 'activity_events')) - before;
  return {
    readP50Ms: r.latency.p50,
    readP99Ms: r.latency.p99,
    readErrors: r.errors + r.non2xx,
    webhookEventsPerSecond: stored / seconds,
    webhookP99Ms: h.latency.p99,
    webhookErrors: h.errors + h.non2xx,
  };
}

/** `ct backup run --json` as the scheduler runs it, wall time from spawn to exit. */
function runBackup(env: NodeJS.ProcessEnv): Promise<{ seconds: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [CT_BIN, 'backup', 'run', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return reject(new Error(`ct backup run exited ${code}: ${stdout}${stderr}`));
      resolve({ seconds, bytes: (JSON.parse(stdout) as { bytes: number }).bytes });
    });
  });
}

interface Run extends Omit<BlockInfo, 'date'> {
  date: string;
  rows: GrowthRow[];
}

async function measure(): Promise<Run> {
  const started = Date.now();
  const sizes = parseSizes(process.env.BENCH_GROWTH_SIZES ?? '100,1000,5000,10000');
  const shape: Shape = {
    workflowsPerClient: positive('BENCH_GROWTH_WORKFLOWS', 20),
    eventsPerClient: positive('BENCH_GROWTH_EVENTS', 500),
    invoicesPerClient: positive('BENCH_GROWTH_INVOICES', 100),
  };
  const seconds = positive('BENCH_GROWTH_SECONDS', 10);
  const scrapes = positive('BENCH_GROWTH_SCRAPES', 100);
  // How docker-compose.yml runs the exporter; BENCH_GROWTH_EXPORTER_NODE_OPTIONS replaces its NODE_OPTIONS.
  const deployed = deployedExporterNode();
  const node = { args: deployed.args, options: process.env.BENCH_GROWTH_EXPORTER_NODE_OPTIONS ?? deployed.options };

  const dir = mkdtempSync(path.join(tmpdir(), 'ct-bench-growth-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  const rows: GrowthRow[] = [];
  try {
    const pg = await startPostgres(dir);
    cleanups.push(() => pg.stop());
    const s3 = await startS3(dir, { name: 's3-growth' });
    cleanups.push(() => s3.stop());
    const pool = createPool({ url: pg.url, max: 4, applicationName: 'ct-bench-growth' });
    cleanups.push(() => pool.end());
    // Durable: the bench cluster starts with fsync off; every figure here is with it on.
    await pool.query('ALTER SYSTEM SET fsync = on');
    await pool.query('ALTER SYSTEM SET full_page_writes = on');
    await pool.query('SELECT pg_reload_conf()');
    await migrate(pool);
    await seedPlatform(pool);
    const key = (
      await withTransaction(pool, (tx) => createApiKey(tx, { name: 'bench', scopes: ['admin'], owner: 'bench' }, { actor: 'bench' }))
    ).key;
    const backupEnv: NodeJS.ProcessEnv = {
      PATH: `${pg.env.PG_BIN_DIR}:${process.env.PATH}`,
      ...pg.env,
      // As the other services here, the owner's connection (the bench applies no role grants).
      DATABASE_URL: pg.url,
      ...s3.env,
      BACKUP_MASTER_KEY: BACKUP_KEY,
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    };
    const bucket = createBucket(storageSchema.parse(backupEnv));
    let hook: { slug: string; secret: string } | undefined;

    let previous = 0;
    for (const clients of sizes) {
      let t = Date.now();
      log(`growing to ${clients.toLocaleString('en')} clients`);
      await growTo(pool, previous, clients, shape, log);
      previous = clients;
      const seedSeconds = (Date.now() - t) / 1000;
      const databaseBytes = Number((await pool.query(`SELECT pg_database_size(current_database())::text AS n`)).rows[0].n);
      log(`  seeded in ${seedSeconds.toFixed(1)} s, database ${(databaseBytes / 1e6).toFixed(0)} MB`);
      const loadAverage = loadavg()[0]!;

      t = Date.now();
      const n8n = await startFakeN8n(pool);
      let exporter: GrowthRow['exporter'];
      try {
        exporter = await measureExporter(pg.url, { url: n8n.url, workflows: clients * shape.workflowsPerClient }, scrapes, node);
      } catch (err) {
        exporter = { error: (err as Error).message };
      } finally {
        await new Promise((r) => n8n.server.close(r));
      }
      log(`  exporter (${((Date.now() - t) / 1000).toFixed(1)} s): ${JSON.stringify(exporter)}`);

      t = Date.now();
      const api = await startApi(pg.url, path.join(dir, `api-${clients}.log`));
      let apiFigures: Awaited<ReturnType<typeof measureApi>>;
      try {
        if (!hook) {
          // A client with a webhook secret, created through the API as an operator would.
          const res = await fetch(`${api.url}/api/clients`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ slug: 'growth-webhooks', name: 'Growth benchmark webhooks' }),
          });
          if (res.status !== 201 && res.status !== 200) throw new Error(`POST /api/clients answered ${res.status}: ${await res.text()}`);
          hook = { slug: 'growth-webhooks', secret: ((await res.json()) as { webhookSecret: string }).webhookSecret };
        }
        apiFigures = await measureApi(pool, api, key, hook, seconds);
      } finally {
        await api.stop();
      }
      log(`  api (${((Date.now() - t) / 1000).toFixed(1)} s): ${JSON.stringify(apiFigures)}`);

      const keys = (await listKeys(bucket, '')).map((k) => k.key);
      if (keys.length) await deleteKeys(bucket, keys);
      await pool.query('CHECKPOINT'); // the webhook phase's writes are not charged to the backup
      const backup = await runBackup(backupEnv);
      log(`  backup: ${backup.seconds.toFixed(1)} s, ${(backup.bytes / 1e6).toFixed(1)} MB`);

      const row: GrowthRow = {
        clients,
        workflows: await count(pool, 'automations'),
        events: await count(pool, 'activity_events'),
        invoices: await count(pool, 'invoices'),
        databaseBytes,
        seedSeconds,
        loadAverage,
        exporter,
        ...apiFigures,
        backupSeconds: backup.seconds,
        backupObjectBytes: backup.bytes,
      };
      rows.push(row);
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch((err: Error) => log(`cleanup: ${err.message}`));
    rmSync(dir, { recursive: true, force: true });
  }
  // The command that reproduces the run: the settings given, then the defaults.
  const given = Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_GROWTH_'))
    .sort()
    .map((k) => `${k}=${/[\s"]/.test(process.env[k]!) ? JSON.stringify(process.env[k]) : process.env[k]}`);
  return {
    command: [...given, 'BENCH_WRITE_DOCS=1', 'npm run bench:growth'].join(' '),
    date: new Date().toISOString(),
    totalSeconds: (Date.now() - started) / 1000,
    image: 'images/benchmarks/growth.svg',
    method:
      `Per client: ${shape.workflowsPerClient} workflows, ${shape.eventsPerClient} activity events, ${shape.invoicesPerClient} invoices. ` +
      `At each size, one after the other: \`ct serve exporters\` started fresh (\`NODE_OPTIONS="${node.options}" node ${[...node.args, 'cli/bin/ct.js'].join(' ')}\`) against an n8n stand-in listing every workflow, ${scrapes} timed scrapes after 5 warm-up ones; ` +
      `\`ct serve api\` started fresh, \`GET /api/clients\` at ${READ_RATE} requests/s, then signed webhook posts over ${WEBHOOK_CONNECTIONS} connections (rows committed, fsync on), ${seconds} s each; \`ct backup run\` into the private S3.`,
    rows,
  };
}

function writeDocs(run: Run): void {
  mkdirSync(path.dirname(CHART_FILE), { recursive: true });
  const date = new Date(run.date);
  writeFileSync(
    CHART_FILE,
    growthChart(run.rows, { subtitle: `${run.command} — ${run.date.slice(0, 16).replace('T', ' ')} UTC, 2 shared cores` }),
  );
  writeFileSync(DOCS_FILE, replaceBlock(readFileSync(DOCS_FILE, 'utf8'), growthBlock(run.rows, { ...run, date })));
  log(`wrote ${path.relative(ROOT, DOCS_FILE)} and ${path.relative(ROOT, CHART_FILE)}`);
}

async function main(): Promise<void> {
  const option = (name: string) => {
    const i = process.argv.indexOf(name);
    if (i < 0) return undefined;
    const v = process.argv[i + 1];
    if (!v) throw new Error(`${name} needs a file name`);
    return v;
  };
  const from = option('--render');
  const save = option('--json');
  const run: Run = from ? (JSON.parse(readFileSync(from, 'utf8')) as Run) : await measure();
  if (save) writeFileSync(save, `${JSON.stringify(run, null, 2)}\n`);
  process.stdout.write(`${growthTable(run.rows)}\n\n${run.command}: ${(run.totalSeconds / 60).toFixed(1)} minutes\n`);
  if (process.env.BENCH_WRITE_DOCS === '1' || from) writeDocs(run);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`bench:growth failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}

/**
 * What the browser suite runs against: the real platform API (`ct serve api`, as production runs
 * it, with the backup scheduler that runs its backups to the bench's S3) on a database of its own on the bench's PostgreSQL, the
 * metric exporters (`ct serve exporters`) scraped by a Prometheus of its own (the API's exports
 * and the Overview's alert count read it), and the Grafana stand-in serving the built plugin.
 *
 * Bench addresses come from the environment (what the root jest run's global setup exports), or
 * else from the repository's .bench/env (`npm run stack:up`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

export const REPO = path.resolve(__dirname, '..', '..', '..', '..');
const CT_BIN = path.join(REPO, 'cli', 'bin', 'ct.js');
const NEEDED = [
  'DATABASE_URL',
  'N8N_URL',
  'N8N_API_KEY',
  'N8N_OWNER_EMAIL',
  'N8N_OWNER_PASSWORD',
  'S3_ENDPOINT',
  'S3_BUCKET',
  'SECRETS_KEY',
];

/** The bench's settings: the environment first, then .bench/env. */
export function benchEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  const file = path.join(REPO, '.bench', 'env');
  // A private bench (scripts/ci.sh) is in the environment; a developer's .bench/env must not mix in.
  if (existsSync(file) && process.env.CT_E2E_IGNORE_BENCH_FILE !== '1') {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (m) {
        out[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1');
      }
    }
  }
  for (const [k, v] of Object.entries(process.env)) {
    if (
      v !== undefined &&
      (/^(DATABASE_|PG|N8N_|S3_|SECRETS_|BACKUP_|PROMETHEUS_|ALERTMANAGER_)/.test(k) || k === 'API_JWT_SECRET')
    ) {
      out[k] = v;
    }
  }
  const missing = NEEDED.filter((k) => !out[k]);
  if (missing.length) {
    throw new Error(
      `the browser suite needs the bench: ${missing.join(', ')} not set (run npm run stack:up, or run it from npm test)`
    );
  }
  return out;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  child: ChildProcess | undefined,
  log: () => string,
  timeoutMs = 30_000
) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child && child.exitCode !== null) {
      throw new Error(`${what} exited (${child.exitCode}):\n${log().slice(-2000)}`);
    }
    if (await check().catch(() => false)) {
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} was not ready within ${timeoutMs / 1000}s:\n${log().slice(-2000)}`);
}

function ct(
  args: string[],
  env: Record<string, string>
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CT_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function daemon(cmd: string, args: string[], env: Record<string, string>): { child: ChildProcess; log: () => string } {
  let log = '';
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  return { child, log: () => log };
}

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(timer);
}

export interface E2eStack {
  env: Record<string, string>;
  apiUrl: string;
  proxySecret: string;
  adminKey: string;
  databaseUrl: string;
  /** The same database as its owner: what tests use to arrange and inspect rows. */
  ownerDatabaseUrl: string;
  prometheusUrl: string;
  stop(): Promise<void>;
}

export async function startStack(): Promise<E2eStack> {
  if (!existsSync(path.join(REPO, 'cli', 'dist', 'main.js'))) {
    throw new Error('the ct command is not built: run npm run build at the repository root first');
  }
  const bench = benchEnv();
  // Databases are created and migrated by the owner role; the services connect as ct_app
  // (DATABASE_URL), which may not create a database, as in production.
  const ownerUrl = bench.DATABASE_OWNER_URL ?? bench.DATABASE_URL!;
  const dbName = `admin_app_e2e_${randomBytes(5).toString('hex')}`;
  const admin = new Client({ connectionString: withDatabase(ownerUrl, 'postgres') });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  await admin.end();
  const databaseUrl = withDatabase(bench.DATABASE_URL!, dbName);
  const ownerDatabaseUrl = withDatabase(ownerUrl, dbName);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ct-admin-e2e-'));
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) {
      await s().catch((err: Error) => console.error(`e2e teardown: ${err.message}`));
    }
    const c = new Client({ connectionString: withDatabase(ownerUrl, 'postgres') });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await c.end();
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    const proxySecret = randomBytes(24).toString('hex');
    const [apiPort, exporterPort, promPort] = [await freePort(), await freePort(), await freePort()];
    const prometheusUrl = `http://127.0.0.1:${promPort}`;
    const env: Record<string, string> = {
      ...bench,
      DATABASE_URL: databaseUrl,
      DATABASE_OWNER_URL: ownerDatabaseUrl,
      API_JWT_SECRET: bench.API_JWT_SECRET ?? randomBytes(24).toString('hex'),
      API_GRAFANA_PROXY_SECRET: proxySecret,
      API_RATE_LIMIT_PER_KEY: '100000',
      API_RATE_LIMIT_PER_IP: '100000',
      API_STUCK_THRESHOLD: '15m',
      // The lowest minimum the API accepts: the browser suite's stuck execution is a minute old.
      API_STUCK_MIN_AGE: '1m',
      PROMETHEUS_URL: prometheusUrl,
      EXPORTER_PORT: String(exporterPort),
      EXPORTER_N8N_INTERVAL: '2s',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    };
    const migrated = await ct(['migrate'], env);
    if (migrated.code !== 0) {
      throw new Error(`ct migrate failed: ${migrated.stderr}`);
    }
    const key = await ct(['apikey', 'create', '--name', 'browser-suite-setup', '--scopes', 'admin'], env);
    const adminKey = key.stdout.trim();
    if (key.code !== 0 || !adminKey.startsWith('ct_')) {
      throw new Error(`ct apikey create failed: ${key.stderr}`);
    }

    // Readiness is on the API's internal listener (API_INTERNAL_PORT), never on the public one.
    const apiInternalPort = await freePort();
    const api = daemon(process.execPath, [CT_BIN, 'serve', 'api', '--port', String(apiPort)], {
      ...env,
      API_INTERNAL_PORT: String(apiInternalPort),
    });
    stops.push(() => stopChild(api.child));
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    await waitFor(
      'ct serve api',
      async () => (await fetch(`http://127.0.0.1:${apiInternalPort}/readyz`)).status === 200,
      api.child,
      api.log
    );

    // The API holds no backup keys: "Force backup" is a request the scheduler (which does) starts.
    const scheduler = daemon(process.execPath, [CT_BIN, 'serve', 'scheduler'], { ...env, LOG_LEVEL: 'info' });
    stops.push(() => stopChild(scheduler.child));
    await waitFor(
      'ct serve scheduler',
      async () => scheduler.log().includes('scheduler started'),
      scheduler.child,
      scheduler.log
    );

    const exporters = daemon(process.execPath, [CT_BIN, 'serve', 'exporters'], env);
    stops.push(() => stopChild(exporters.child));
    await waitFor(
      'ct serve exporters',
      async () => (await fetch(`http://127.0.0.1:${exporterPort}/metrics`)).status === 200,
      exporters.child,
      exporters.log
    );

    const promDir = path.join(tmp, 'prometheus');
    writeFileSync(
      path.join(tmp, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: ct-exporters\n    static_configs:\n      - targets: ['127.0.0.1:${exporterPort}']\n`
    );
    const prom = daemon(
      'prometheus',
      [
        `--config.file=${path.join(tmp, 'prometheus.yml')}`,
        `--storage.tsdb.path=${promDir}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      {}
    );
    stops.push(() => stopChild(prom.child));
    await waitFor(
      'prometheus',
      async () => (await fetch(`${prometheusUrl}/-/ready`)).status === 200,
      prom.child,
      prom.log
    );

    return { env, apiUrl, proxySecret, adminKey, databaseUrl, ownerDatabaseUrl, prometheusUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

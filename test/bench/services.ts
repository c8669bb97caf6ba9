import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { N8N_BIN, N8N_DIR, postgresBinDir } from './install';
import { freePort, httpStatus, killGroup, spawnDaemon, waitFor } from './process';

/**
 * Starters for each service of the bench. Each runs in a folder of its own under `dir`, listens on
 * a free 127.0.0.1 port, and returns its PID, the environment variables that point at it (named
 * as the application's config names them) and a stop() that ends exactly what it started.
 * Tests that need a private instance (to stop it, or to give it its own config) call these directly.
 */

export interface Service {
  name: string;
  pid: number;
  env: Record<string, string>;
  logFile: string;
  stop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, '..', '..');
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

// ---------------------------------------------------------------- PostgreSQL
export interface PostgresService extends Service {
  port: number;
  dataDir: string;
  /** Connection string of the `ct` database. */
  url: string;
  /** Connection string of another database on the same cluster. */
  urlFor(database: string): string;
  /** Stops the server, keeping its data (for fault tests); start() brings it back. */
  halt(): Promise<void>;
  start(): Promise<void>;
}

export async function startPostgres(dir: string, opts: { database?: string } = {}): Promise<PostgresService> {
  const bin = postgresBinDir();
  const base = path.join(dir, 'postgres');
  const dataDir = path.join(base, 'data');
  const sockDir = path.join(base, 'sock');
  const logFile = path.join(base, 'server.log');
  mkdirSync(sockDir, { recursive: true });
  // initdb refuses to run as root: the cluster belongs to the postgres user then.
  const asUser = (cmd: string, args: string[]) =>
    isRoot()
      ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' })
      : execFileSync(cmd, args, { stdio: 'pipe' });
  if (isRoot()) {
    chmodSync(dir, 0o755); // mkdtemp makes it 0700: the postgres user must be able to enter it
    chownSync(base, uidOf('postgres'), gidOf('postgres'));
    chownSync(sockDir, uidOf('postgres'), gidOf('postgres'));
  }
  asUser(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '-N']);
  const port = await freePort();
  const conf = [
    `port = ${port}`,
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = '${sockDir}'`,
    'fsync = off', // a throwaway test cluster: durability against power loss is not what is tested
    'full_page_writes = off',
    'synchronous_commit = on',
    'max_connections = 200',
    'shared_buffers = 128MB',
    `log_destination = 'stderr'`,
    'logging_collector = off',
  ].join('\n');
  writeFileSync(path.join(dataDir, 'postgresql.auto.conf'), `${conf}\n`);
  if (isRoot()) chownSync(path.join(dataDir, 'postgresql.auto.conf'), uidOf('postgres'), gidOf('postgres'));
  const pgCtl = (args: string[]) => asUser(path.join(bin, 'pg_ctl'), ['-D', dataDir, ...args]);
  const start = async () => {
    pgCtl(['-w', '-t', '30', '-l', logFile, 'start']);
  };
  if (isRoot()) {
    writeFileSync(logFile, '', { flag: 'a' });
    chownSync(logFile, uidOf('postgres'), gidOf('postgres'));
  }
  await start();
  const readPid = () => Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const database = opts.database ?? 'ct';
  execFileSync(
    path.join(bin, 'psql'),
    ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-qAtc', `CREATE DATABASE "${database}"`],
    { stdio: 'pipe' },
  );
  // ct_app, the services' role, exists from the start (migration 017 gives it its attributes and grants).
  execFileSync(path.join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-qAtc', 'CREATE ROLE ct_app LOGIN'], {
    stdio: 'pipe',
  });
  const urlFor = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const svc: PostgresService = {
    name: 'postgres',
    pid: readPid(),
    port,
    dataDir,
    logFile,
    url: urlFor(database),
    urlFor,
    // As in production: the services connect as ct_app, migrations as the owner.
    env: {
      DATABASE_URL: `postgres://ct_app@127.0.0.1:${port}/${database}`,
      DATABASE_OWNER_URL: urlFor(database),
      PGHOST: '127.0.0.1',
      PGPORT: String(port),
      PGUSER: 'postgres',
      PG_BIN_DIR: bin,
    },
    async halt() {
      if (existsSync(path.join(dataDir, 'postmaster.pid'))) pgCtl(['-w', '-m', 'fast', 'stop']);
    },
    async start() {
      await start();
      svc.pid = readPid();
    },
    async stop() {
      try {
        await svc.halt();
      } catch {
        await killGroup(svc.pid, 5000);
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
  return svc;
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user]).toString().trim());
}
function gidOf(user: string): number {
  return Number(execFileSync('id', ['-g', user]).toString().trim());
}

// ---------------------------------------------------------------- Prometheus
export interface PrometheusService extends Service {
  url: string;
  configFile: string;
  /** Writes a new configuration and reloads it, failing if Prometheus rejects it. */
  reload(configYaml: string): Promise<void>;
}

export const DEFAULT_PROMETHEUS_CONFIG = `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs: []
`;

export async function startPrometheus(
  dir: string,
  opts: { config?: string; name?: string; /** More command-line flags. */ args?: string[] } = {},
): Promise<PrometheusService> {
  const base = path.join(dir, opts.name ?? 'prometheus');
  mkdirSync(path.join(base, 'data'), { recursive: true });
  const configFile = path.join(base, 'prometheus.yml');
  writeFileSync(configFile, opts.config ?? DEFAULT_PROMETHEUS_CONFIG);
  const port = await freePort();
  const logFile = path.join(base, 'prometheus.log');
  const pid = spawnDaemon(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(base, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
      '--web.enable-admin-api',
      '--log.level=warn',
      ...(opts.args ?? []),
    ],
    { logFile, cwd: base },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor('prometheus', async () => (await httpStatus(`${url}/-/ready`)) === 200, { timeoutMs: 20_000, logFile, pid });
  return {
    name: opts.name ?? 'prometheus',
    pid,
    url,
    configFile,
    logFile,
    env: { PROMETHEUS_URL: url },
    async reload(configYaml: string) {
      writeFileSync(configFile, configYaml);
      const res = await fetch(`${url}/-/reload`, { method: 'POST' });
      if (res.status !== 200) throw new Error(`prometheus rejected the configuration: ${await res.text()}`);
    },
    async stop() {
      await killGroup(pid);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- Alertmanager
export interface AlertmanagerService extends Service {
  url: string;
  configFile: string;
  clusterAddress: string | null;
  reload(configYaml: string): Promise<void>;
}

export const DEFAULT_ALERTMANAGER_CONFIG = `route:
  receiver: blackhole
receivers:
  - name: blackhole
`;

export async function startAlertmanager(
  dir: string,
  opts: {
    config?: string;
    name?: string;
    cluster?: { listen: boolean; peers?: string[] };
    /** More command-line flags. */ args?: string[];
  } = {},
): Promise<AlertmanagerService> {
  const name = opts.name ?? 'alertmanager';
  const base = path.join(dir, name);
  mkdirSync(path.join(base, 'data'), { recursive: true });
  const configFile = path.join(base, 'alertmanager.yml');
  writeFileSync(configFile, opts.config ?? DEFAULT_ALERTMANAGER_CONFIG);
  const port = await freePort();
  const clusterAddress = opts.cluster?.listen ? `127.0.0.1:${await freePort()}` : null;
  const args = [
    `--config.file=${configFile}`,
    `--storage.path=${path.join(base, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ];
  if (clusterAddress) {
    args.push(`--cluster.listen-address=${clusterAddress}`, '--cluster.pushpull-interval=2s', '--cluster.gossip-interval=100ms');
    for (const peer of opts.cluster?.peers ?? []) args.push(`--cluster.peer=${peer}`);
  } else {
    args.push('--cluster.listen-address=');
  }
  args.push(...(opts.args ?? []));
  const logFile = path.join(base, 'alertmanager.log');
  const pid = spawnDaemon('prometheus-alertmanager', args, { logFile, cwd: base });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(name, async () => (await httpStatus(`${url}/-/ready`)) === 200, { timeoutMs: 20_000, logFile, pid });
  return {
    name,
    pid,
    url,
    configFile,
    clusterAddress,
    logFile,
    env: { ALERTMANAGER_URL: url },
    async reload(configYaml: string) {
      writeFileSync(configFile, configYaml);
      const res = await fetch(`${url}/-/reload`, { method: 'POST' });
      if (res.status !== 200) throw new Error(`alertmanager rejected the configuration: ${await res.text()}`);
    },
    async stop() {
      await killGroup(pid);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- Redis
export interface RedisService extends Service {
  host: string;
  port: number;
  password: string;
}

/** Sends `AUTH password` and `PING` over one connection; true when both succeed. */
function redisPing(port: number, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    const done = (ok: boolean) => (sock.destroy(), resolve(ok));
    sock.setTimeout(2000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write(`AUTH ${password}\r\nPING\r\n`));
    sock.on('data', (d) => {
      got += d.toString();
      if (got.includes('+PONG')) done(got.startsWith('+OK'));
      else if (got.startsWith('-')) done(false);
    });
  });
}

/** Debian's redis-server with a password (as production runs it), no persistence. */
export async function startRedis(dir: string, opts: { name?: string } = {}): Promise<RedisService> {
  const name = opts.name ?? 'redis';
  const base = path.join(dir, name);
  mkdirSync(base, { recursive: true });
  const port = await freePort();
  const password = randomBytes(16).toString('hex');
  const logFile = path.join(base, 'redis.log');
  const pid = spawnDaemon(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--requirepass', password, '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { logFile, cwd: base },
  );
  await waitFor(name, () => redisPing(port, password), { timeoutMs: 20_000, logFile, pid });
  return {
    name,
    pid,
    host: '127.0.0.1',
    port,
    password,
    logFile,
    env: { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(port), REDIS_PASSWORD: password },
    async stop() {
      await killGroup(pid);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- n8n
/**
 * How the bench runs n8n: `regular` (one process, SQLite) or `queue` (a main instance and a
 * worker sharing a PostgreSQL database and Redis, as docker-compose.yml runs it in production).
 * CT_BENCH_N8N_MODE chooses it for startStack and for every startN8n that does not say.
 */
export type N8nMode = 'regular' | 'queue';

export function benchN8nMode(env: NodeJS.ProcessEnv = process.env): N8nMode {
  const mode = env.CT_BENCH_N8N_MODE || 'regular';
  if (mode !== 'regular' && mode !== 'queue') throw new Error(`CT_BENCH_N8N_MODE must be "regular" or "queue", not "${mode}"`);
  return mode;
}

/** A database for n8n on a PostgreSQL cluster of the bench (trust authentication). */
export interface N8nDatabase {
  host: string;
  port: number;
  database: string;
  user: string;
}

/**
 * Creates a fresh database for one n8n instance on the cluster at host:port; its coordinates.
 * `fromDump` (a plain SQL dump of a migrated n8n database, see dumpN8nDatabase) is loaded into
 * it, so n8n starts without running its migrations: minutes on a busy machine.
 */
export function createN8nDatabase(host: string, port: number, database: string, fromDump?: string): N8nDatabase {
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`invalid database name for n8n: ${database}`);
  const psql = (db: string, ...args: string[]) =>
    execFileSync(
      path.join(postgresBinDir(), 'psql'),
      ['-h', host, '-p', String(port), '-U', 'postgres', '-d', db, '-qAt', '-v', 'ON_ERROR_STOP=1', ...args],
      { stdio: 'pipe' },
    );
  psql('postgres', '-c', `CREATE DATABASE "${database}"`);
  if (fromDump) psql(database, '-f', fromDump);
  return { host, port, database, user: 'postgres' };
}

/** Writes a plain SQL dump of an n8n database (its schema, migrations and owner) to `file`. */
export function dumpN8nDatabase(db: N8nDatabase, file: string): void {
  execFileSync(
    path.join(postgresBinDir(), 'pg_dump'),
    ['-h', db.host, '-p', String(db.port), '-U', 'postgres', '-d', db.database, '--no-owner', '-f', file],
    { stdio: 'pipe' },
  );
}

function dropN8nDatabase(db: N8nDatabase): void {
  execFileSync(
    path.join(postgresBinDir(), 'psql'),
    [
      '-h',
      db.host,
      '-p',
      String(db.port),
      '-U',
      'postgres',
      '-d',
      'postgres',
      '-qAtc',
      `DROP DATABASE IF EXISTS "${db.database}" WITH (FORCE)`,
    ],
    { stdio: 'pipe' },
  );
}

export interface N8nService extends Service {
  url: string;
  apiKey: string;
  ownerEmail: string;
  ownerPassword: string;
  mode: N8nMode;
  /** Queue mode: the worker's process and its health/metrics server (/healthz, /metrics). */
  worker?: { pid: number; url: string; logFile: string };
  /** Stops n8n keeping its data; start() brings the same instance (same key, workflows) back. */
  halt(): Promise<void>;
  start(): Promise<void>;
}

/**
 * How long n8n may take to become ready. Its first start runs its database migrations: about 10 s
 * on an idle machine, minutes on a busy shared one. An n8n that fails exits and is reported at
 * once; this only bounds a slow start.
 */
const START_TIMEOUT_MS = 300_000;

export const N8N_OWNER = { email: 'owner@ct-bench.test', password: 'Bench-Owner-Pass1', firstName: 'Bench', lastName: 'Owner' };

export interface N8nOptions {
  name?: string;
  /** Added to the environment of the main instance and of the worker. */
  extraEnv?: Record<string, string>;
  /** Default: CT_BENCH_N8N_MODE (regular when unset). */
  mode?: N8nMode;
  /**
   * Queue mode: the PostgreSQL database and the Redis to use. Without them, a database is created
   * on the bench's cluster (PGHOST/PGPORT; from the bench's migrated n8n database when it left a
   * dump in CT_BENCH_N8N_DB_DUMP) and a Redis is started, both removed by stop().
   */
  database?: N8nDatabase;
  redis?: RedisService;
}

export async function startN8n(dir: string, opts: N8nOptions = {}): Promise<N8nService> {
  if (!existsSync(N8N_BIN)) throw new Error(`n8n is not installed in ${N8N_DIR}; run npm run prereqs`);
  const name = opts.name ?? 'n8n';
  const mode = opts.mode ?? benchN8nMode();
  const base = path.join(dir, name);
  mkdirSync(base, { recursive: true });
  const port = await freePort();
  const brokerPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = path.join(base, 'n8n.log');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: base,
    N8N_USER_FOLDER: base,
    N8N_PORT: String(port),
    N8N_LISTEN_ADDRESS: '127.0.0.1',
    N8N_HOST: '127.0.0.1',
    WEBHOOK_URL: `${url}/`,
    N8N_RUNNERS_BROKER_PORT: String(brokerPort),
    N8N_SECURE_COOKIE: 'false',
    N8N_DIAGNOSTICS_ENABLED: 'false',
    N8N_PERSONALIZATION_ENABLED: 'false',
    N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
    N8N_TEMPLATES_ENABLED: 'false',
    N8N_METRICS: 'true',
    N8N_METRICS_INCLUDE_MESSAGE_EVENT_BUS_METRICS: 'true',
    N8N_METRICS_INCLUDE_WORKFLOW_ID_LABEL: 'true',
    N8N_ENCRYPTION_KEY: 'bench-encryption-key-not-secret',
    N8N_LOG_LEVEL: 'warn',
    GENERIC_TIMEZONE: 'UTC',
    EXECUTIONS_DATA_PRUNE: 'false',
    N8N_PUBLIC_API_SWAGGERUI_DISABLED: 'true',
  };
  // What queue mode owns (removed by stop() when this call created it).
  const owned: { redis?: RedisService; database?: N8nDatabase } = {};
  let workerEnv: NodeJS.ProcessEnv | undefined;
  let workerUrl = '';
  const workerLog = path.join(base, 'n8n-worker.log');
  if (mode === 'queue') {
    let database = opts.database;
    if (!database) {
      if (!process.env.PGHOST || !process.env.PGPORT) {
        throw new Error("n8n's queue mode needs PostgreSQL: start the bench's postgres (PGHOST/PGPORT) or pass a database");
      }
      const dbName = `n8n_${name.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
      const dump = process.env.CT_BENCH_N8N_DB_DUMP;
      database = owned.database = createN8nDatabase(
        process.env.PGHOST,
        Number(process.env.PGPORT),
        dbName,
        dump && existsSync(dump) ? dump : undefined,
      );
    }
    let redis = opts.redis;
    if (!redis) redis = owned.redis = await startRedis(base);
    Object.assign(env, {
      EXECUTIONS_MODE: 'queue',
      QUEUE_BULL_REDIS_HOST: redis.host,
      QUEUE_BULL_REDIS_PORT: String(redis.port),
      QUEUE_BULL_REDIS_PASSWORD: redis.password,
      // Each instance its own queue, so two n8n on one Redis never take each other's jobs.
      QUEUE_BULL_PREFIX: `bull-${name}-${port}`,
      DB_TYPE: 'postgresdb',
      DB_POSTGRESDB_HOST: database.host,
      DB_POSTGRESDB_PORT: String(database.port),
      DB_POSTGRESDB_DATABASE: database.database,
      DB_POSTGRESDB_USER: database.user,
    });
    const workerPort = await freePort();
    workerUrl = `http://127.0.0.1:${workerPort}`;
    workerEnv = {
      ...env,
      HOME: path.join(base, 'worker'),
      N8N_USER_FOLDER: path.join(base, 'worker'),
      N8N_RUNNERS_BROKER_PORT: String(await freePort()),
      QUEUE_HEALTH_CHECK_ACTIVE: 'true',
      QUEUE_HEALTH_CHECK_PORT: String(workerPort),
      N8N_WORKER_SERVER_ADDRESS: '127.0.0.1',
      ...opts.extraEnv,
    };
    mkdirSync(path.join(base, 'worker'), { recursive: true });
  }
  Object.assign(env, opts.extraEnv);
  const start = async () => {
    svc.pid = spawnDaemon(N8N_BIN, ['start'], { logFile, env, cwd: base });
    // /healthz turns 200 before the routes exist; /rest/login answering 401 means they do.
    await waitFor(name, async () => (await httpStatus(`${url}/rest/login`)) === 401, {
      timeoutMs: START_TIMEOUT_MS,
      logFile,
      pid: svc.pid,
    });
    if (workerEnv) {
      // The main instance has migrated the database by now; the worker only connects to it.
      const pid = spawnDaemon(N8N_BIN, ['worker'], { logFile: workerLog, env: workerEnv, cwd: path.join(base, 'worker') });
      svc.worker = { pid, url: workerUrl, logFile: workerLog };
      await waitFor(`${name} worker`, async () => (await httpStatus(`${workerUrl}/healthz/readiness`)) === 200, {
        timeoutMs: START_TIMEOUT_MS,
        logFile: workerLog,
        pid,
      });
    }
  };
  const halt = async () => {
    await Promise.all([killGroup(svc.pid, 15_000), svc.worker ? killGroup(svc.worker.pid, 15_000) : undefined]);
  };
  const svc: N8nService = {
    name,
    pid: 0,
    url,
    apiKey: '',
    ownerEmail: N8N_OWNER.email,
    ownerPassword: N8N_OWNER.password,
    mode,
    logFile,
    env: {},
    start,
    halt,
    async stop() {
      await halt();
      await owned.redis?.stop();
      if (owned.database) {
        try {
          dropN8nDatabase(owned.database);
        } catch {
          /* the cluster is gone already */
        }
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
  try {
    await start();
    svc.apiKey = await bootstrapN8nOwner(url);
    // The public API loads its request validator on the first call (seconds on a busy machine):
    // make that call here, so the instance is ready when the caller's first request comes.
    const first = await fetch(`${url}/api/v1/workflows?limit=1`, { headers: { 'X-N8N-API-KEY': svc.apiKey } });
    if (first.status !== 200) throw new Error(`n8n's public API answered ${first.status}: ${await first.text()}`);
  } catch (err) {
    await svc.stop();
    throw err;
  }
  svc.env = {
    N8N_URL: url,
    N8N_API_KEY: svc.apiKey,
    N8N_OWNER_EMAIL: N8N_OWNER.email,
    N8N_OWNER_PASSWORD: N8N_OWNER.password,
    CT_BENCH_N8N_MODE: mode,
    ...(svc.worker ? { N8N_WORKER_URL: svc.worker.url, N8N_QUEUE_BULL_PREFIX: String(env.QUEUE_BULL_PREFIX) } : {}),
  };
  return svc;
}

/** Sets up the owner (first start only), logs in and creates an API key; returns the key. */
export async function bootstrapN8nOwner(url: string): Promise<string> {
  const json = { 'Content-Type': 'application/json' };
  const settings = (await (await fetch(`${url}/rest/settings`)).json()) as {
    data?: { userManagement?: { showSetupOnFirstLoad?: boolean } };
  };
  if (settings.data?.userManagement?.showSetupOnFirstLoad !== false) {
    const res = await fetch(`${url}/rest/owner/setup`, { method: 'POST', headers: json, body: JSON.stringify(N8N_OWNER) });
    if (!res.ok) throw new Error(`n8n owner setup answered ${res.status}: ${await res.text()}`);
  }
  const login = await fetch(`${url}/rest/login`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ emailOrLdapLoginId: N8N_OWNER.email, password: N8N_OWNER.password }),
  });
  if (!login.ok) throw new Error(`n8n login answered ${login.status}: ${await login.text()}`);
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .find((c) => c?.startsWith('n8n-auth='));
  if (!cookie) throw new Error('n8n login returned no session cookie');
  const keyRes = await fetch(`${url}/rest/api-keys`, {
    method: 'POST',
    headers: { ...json, Cookie: cookie },
    body: JSON.stringify({ label: `bench-${Date.now()}`, scopes: ['workflow:read'], expiresAt: null }),
  });
  if (!keyRes.ok) throw new Error(`n8n api key creation answered ${keyRes.status}: ${await keyRes.text()}`);
  const key = ((await keyRes.json()) as { data?: { rawApiKey?: string } }).data?.rawApiKey;
  if (!key) throw new Error('n8n returned no rawApiKey');
  return key;
}

// ---------------------------------------------------------------- S3 (s3rver)
export interface S3Service extends Service {
  endpoint: string;
  bucket: string;
  halt(): Promise<void>;
  start(): Promise<void>;
}

export async function startS3(dir: string, opts: { bucket?: string; name?: string } = {}): Promise<S3Service> {
  const name = opts.name ?? 's3';
  const base = path.join(dir, name);
  mkdirSync(path.join(base, 'data'), { recursive: true });
  const bucket = opts.bucket ?? 'ct-backups';
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const logFile = path.join(base, 's3rver.log');
  const svc: S3Service = {
    name,
    pid: 0,
    endpoint,
    bucket,
    logFile,
    env: {
      S3_ENDPOINT: endpoint,
      S3_BUCKET: bucket,
      S3_REGION: 'us-east-1',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      S3_FORCE_PATH_STYLE: 'true',
    },
    async start() {
      // s3rver plus ListMultipartUploads/AbortMultipartUpload (see sinks/s3rver.ts). It shares
      // the machine's cores with what uploads to it, so it runs with the cheaper of V8's two
      // ways of collecting the short-lived buffers of a bulk upload (docs/benchmarks.md).
      svc.pid = spawnDaemon(
        process.execPath,
        [
          '--no-incremental-marking',
          '--import',
          'tsx',
          path.join(__dirname, 'sinks', 's3rver.ts'),
          path.join(base, 'data'),
          String(port),
          bucket,
        ],
        { logFile, cwd: ROOT },
      );
      await waitFor(name, async () => (await httpStatus(`${endpoint}/${bucket}`)) === 200, { timeoutMs: 20_000, logFile, pid: svc.pid });
    },
    async halt() {
      await killGroup(svc.pid);
    },
    async stop() {
      await killGroup(svc.pid);
      rmSync(base, { recursive: true, force: true });
    },
  };
  await svc.start();
  return svc;
}

// ---------------------------------------------------------------- sinks (our own small recorders)
async function startSink(
  dir: string,
  name: string,
  script: string,
  envOf: (ports: number[]) => Record<string, string>,
  portCount: number,
  readyPath: (ports: number[]) => string,
): Promise<Service> {
  const base = path.join(dir, name);
  mkdirSync(base, { recursive: true });
  const ports: number[] = [];
  for (let i = 0; i < portCount; i++) ports.push(await freePort());
  const logFile = path.join(base, `${name}.log`);
  const pid = spawnDaemon(process.execPath, ['--import', 'tsx', path.join(__dirname, 'sinks', script), ...ports.map(String)], {
    logFile,
    cwd: ROOT,
  });
  await waitFor(name, async () => (await httpStatus(readyPath(ports))) === 200, { timeoutMs: 20_000, logFile, pid });
  return {
    name,
    pid,
    logFile,
    env: envOf(ports),
    async stop() {
      await killGroup(pid);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** SMTP sink: accepts every message; GET SMTP_SINK_URL/messages lists them. */
export function startSmtpSink(dir: string): Promise<Service> {
  return startSink(
    dir,
    'smtp-sink',
    'smtp-sink.ts',
    ([smtp, http]) => ({ SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp), SMTP_SINK_URL: `http://127.0.0.1:${http}` }),
    2,
    ([, http]) => `http://127.0.0.1:${http}/messages`,
  );
}

/** HTTP sink: records every request; GET SINK_URL/_sink/requests lists them. */
export function startHttpSink(dir: string, name = 'http-sink'): Promise<Service> {
  return startSink(
    dir,
    name,
    'http-sink.ts',
    ([p]) => ({ SINK_URL: `http://127.0.0.1:${p}` }),
    1,
    ([p]) => `http://127.0.0.1:${p}/_sink/requests`,
  );
}

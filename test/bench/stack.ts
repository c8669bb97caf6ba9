import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { installAll } from './install';
import { killGroup } from './process';
import {
  startAlertmanager,
  startHttpSink,
  benchN8nMode,
  createN8nDatabase,
  dumpN8nDatabase,
  startN8n,
  startPostgres,
  startPrometheus,
  startRedis,
  startS3,
  startSmtpSink,
  type N8nService,
  type PostgresService,
  type RedisService,
  type Service,
} from './services';

export const SERVICE_NAMES = ['postgres', 'prometheus', 'alertmanager', 'n8n', 'redis', 's3', 'smtp', 'sink'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface StackState {
  dir: string;
  startedAt: string;
  /** PIDs by service, for `stack:down` from another process. */
  pids: Record<string, number>;
  env: Record<string, string>;
}

export interface Stack extends StackState {
  services: Service[];
  stop(): Promise<void>;
}

/** What a stack needs besides the services' own addresses: bench-only settings of the app's config. */
const BENCH_SETTINGS: Record<string, string> = {
  // Fixed, documented bench-only keys: never use these outside the bench.
  SECRETS_KEY: 'bench-only-secrets-key-0123456789abcdef',
  SECRETS_KEY_ID: 'bench1',
  API_JWT_SECRET: 'bench-only-jwt-secret-0123456789abcdef',
  API_GRAFANA_PROXY_SECRET: 'bench-only-grafana-proxy-secret-0123456789',
  BACKUP_MASTER_KEY: 'bench-only-backup-master-key-0123456789abcdef',
  BACKUP_MASTER_KEY_ID: 'bench1',
  NOTIFIER_AUTH_TOKEN: 'bench-only-notifier-token-0123456789abcdef',
  // ct migrate sets it on ct_dashboard_reader (Grafana's role); the bench's trust auth never asks for it.
  DASHBOARD_DB_PASSWORD: 'bench-only-dashboard-reader-0123456789',
  // ct migrate sets it on ct_app (the services' role), likewise never asked for on the bench.
  APP_DB_PASSWORD: 'bench-only-app-role-password-0123456789',
  TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000000',
  TWILIO_AUTH_TOKEN: 'bench-only-twilio-token',
  TWILIO_FROM: '+15550000001',
  NOTIFIER_CALL_TO: '+15550000002',
  NOTIFIER_SMS_TO: '+15550000002',
  LOG_LEVEL: 'warn',
};

/** Process ids of a service: n8n in queue mode has its worker besides the main instance. */
function pidsOf(s: Service): [string, number][] {
  const worker = (s as Partial<N8nService>).worker;
  return worker
    ? [
        [s.name, s.pid],
        [`${s.name}-worker`, worker.pid],
      ]
    : [[s.name, s.pid]];
}

/**
 * Starts the bench in a fresh temporary folder. Services start in parallel where they do not
 * depend on each other; if any fails, the ones already started are stopped before the error.
 * With CT_BENCH_N8N_MODE=queue, n8n runs as a main instance and a worker on the bench's Redis
 * and in a database of its own on the bench's PostgreSQL (both are then started with it).
 */
export async function startStack(opts: { services?: readonly ServiceName[]; install?: boolean } = {}): Promise<Stack> {
  const n8nMode = benchN8nMode();
  const wanted = new Set<ServiceName>(opts.services ?? SERVICE_NAMES.filter((s) => s !== 'redis' || n8nMode === 'queue'));
  if (wanted.has('n8n') && n8nMode === 'queue') wanted.add('postgres').add('redis');
  if (opts.install !== false) installAll({ n8n: wanted.has('n8n') });
  const dir = mkdtempSync(path.join(tmpdir(), 'ct-bench-'));
  const started: Service[] = [];
  const track = async <T extends Service>(p: Promise<T>): Promise<T> => {
    const s = await p;
    started.push(s);
    return s;
  };
  try {
    const jobs: Promise<Service>[] = [];
    const postgres = wanted.has('postgres') ? track(startPostgres(dir)) : null;
    if (postgres) jobs.push(postgres);
    const redis = wanted.has('redis') ? track(startRedis(dir)) : null;
    if (redis) jobs.push(redis);
    if (wanted.has('prometheus')) jobs.push(track(startPrometheus(dir)));
    if (wanted.has('alertmanager')) jobs.push(track(startAlertmanager(dir)));
    if (wanted.has('n8n')) jobs.push(track(n8nMode === 'queue' ? startQueueModeN8n(dir, postgres!, redis!) : startN8n(dir)));
    if (wanted.has('s3')) jobs.push(track(startS3(dir)));
    if (wanted.has('smtp')) jobs.push(track(startSmtpSink(dir)));
    if (wanted.has('sink')) jobs.push(track(startHttpSink(dir)));
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const env = Object.assign({ CT_BENCH_DIR: dir }, BENCH_SETTINGS, ...started.map((s) => s.env)) as Record<string, string>;
  // The notifier's Twilio is the HTTP sink on the bench: calls and texts are recorded, not placed.
  if (env.SINK_URL) env.TWILIO_API_URL = env.SINK_URL;
  const state: StackState = {
    dir,
    startedAt: new Date().toISOString(),
    pids: Object.fromEntries(started.flatMap(pidsOf)),
    env,
  };
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state, null, 2));
  return {
    ...state,
    services: started,
    async stop() {
      await Promise.allSettled(started.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** n8n's main instance and worker, in a database `n8n` on the bench's cluster and on its Redis. */
async function startQueueModeN8n(dir: string, postgres: Promise<PostgresService>, redis: Promise<RedisService>): Promise<N8nService> {
  const [pg, r] = await Promise.all([postgres, redis]);
  const database = createN8nDatabase('127.0.0.1', pg.port, 'n8n');
  const n8n = await startN8n(dir, { mode: 'queue', database, redis: r });
  // Migrated and with its owner: the database that tests' own queue-mode instances start from.
  const dump = path.join(dir, 'n8n-database.sql');
  dumpN8nDatabase(database, dump);
  n8n.env.CT_BENCH_N8N_DB_DUMP = dump;
  return n8n;
}

/** Stops a stack from its recorded state (another process started it): by PID, then its folder. */
export async function stopStackFromState(state: StackState): Promise<void> {
  await Promise.allSettled(Object.values(state.pids).map((pid) => killGroup(pid)));
  rmSync(state.dir, { recursive: true, force: true });
}

/** `KEY=value` lines that a shell can source (values single-quoted). */
export function toEnvFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n')
    .concat('\n');
}

/** The inverse of toEnvFile: the `KEY='value'` lines of a bench env file. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)='(.*)'$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/'\\''/g, "'");
  }
  return out;
}

/**
 * `npm start` on the bench: turns a running bench into the whole platform. It chooses free ports
 * for the platform's services (ct serve all), starts Debian's node_exporter, blackbox_exporter and
 * postgres_exporter where installed, and reconfigures the bench's Prometheus and Alertmanager
 * with configurations GENERATED from the project's prometheus.yml and alertmanager.yml (the same
 * job names, routing tree and templates; addresses rewritten to the bench's) and alerting/rules.
 *
 *   tsx test/bench/platform.ts configure   writes <state dir>/platform.env (the services' ports)
 *
 * The exporters it starts are recorded in the bench's state.json, so `stack:down` stops them too.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { REAL_PROMETHEUS, REAL_RULES_DIR, ROOT, testAlertmanagerConfig, testPrometheusConfig } from '../alerting/generate';
import { daemonsOutliveThisProcess, freePort, httpStatus, isAlive, spawnDaemon, waitFor } from './process';
import { parseEnvFile, toEnvFile, type StackState } from './stack';

const BENCH_DIR = process.env.CT_BENCH_STATE_DIR ?? path.join(ROOT, '.bench');
const STATE_FILE = path.join(BENCH_DIR, 'state.json');
export const PLATFORM_ENV_FILE = path.join(BENCH_DIR, 'platform.env');

type Yaml = Record<string, unknown>;

/** The platform's own ports on the bench: free ones, never the production defaults. */
async function servicePorts(existing: Record<string, string>): Promise<Record<string, string>> {
  const names = ['API_PORT', 'API_INTERNAL_PORT', 'EXPORTER_PORT', 'NOTIFIER_PORT', 'TENANT_PROXY_PORT', 'TENANT_PROXY_METRICS_PORT'];
  const out: Record<string, string> = {};
  for (const n of names) out[n] = existing[n] ?? String(await freePort());
  return out;
}

/** A Debian exporter on a free port, or null when its package is not installed. */
async function startExporter(
  dir: string,
  name: string,
  bin: string,
  args: (port: number) => string[],
  env?: NodeJS.ProcessEnv,
): Promise<{ pid: number; address: string } | null> {
  if (!existsSync(bin)) return null;
  const port = await freePort();
  const base = path.join(dir, name);
  mkdirSync(base, { recursive: true });
  const logFile = path.join(base, `${name}.log`);
  const pid = spawnDaemon(bin, args(port), { logFile, cwd: base, env: env ?? process.env });
  await waitFor(name, async () => (await httpStatus(`http://127.0.0.1:${port}/metrics`)) === 200, { timeoutMs: 30_000, logFile, pid });
  return { pid, address: `127.0.0.1:${port}` };
}

const hostOf = (url: string | undefined) => (url ? new URL(url).host : undefined);

/**
 * The bench address of each production target of prometheus.yml (host:port as docker-compose.yml
 * names it). A target the bench does not run is left out, with its job named in `skipped`.
 */
export function benchTargets(env: Record<string, string>, exporters: Record<string, string>): Record<string, string | undefined> {
  const local = (port: string | undefined) => (port ? `127.0.0.1:${port}` : undefined);
  return {
    'localhost:9090': hostOf(env.PROMETHEUS_URL),
    'alertmanager-1:9093': hostOf(env.ALERTMANAGER_URL),
    'alertmanager-2:9093': hostOf(env.ALERTMANAGER_URL),
    'api:8080': local(env.API_PORT),
    'api:8081': local(env.API_INTERNAL_PORT),
    'exporters:9464': local(env.EXPORTER_PORT),
    'notifier:9465': local(env.NOTIFIER_PORT),
    'tenant-proxy:9466': local(env.TENANT_PROXY_PORT),
    'tenant-proxy:9467': local(env.TENANT_PROXY_METRICS_PORT),
    'n8n:5678': hostOf(env.N8N_URL),
    'n8n-worker:5678': hostOf(env.N8N_WORKER_URL),
    'node-exporter:9100': exporters.node,
    'postgres-exporter:9187': exporters.postgres,
    'blackbox-exporter:9115': exporters.blackbox,
  };
}

/** prometheus.yml rewritten for the bench: its jobs and timings, the bench's targets, the real rules. */
export function platformPrometheusConfig(
  env: Record<string, string>,
  exporters: Record<string, string>,
  extraRules: string[] = [],
): { yaml: string; skipped: string[] } {
  const real = parse(readFileSync(REAL_PROMETHEUS, 'utf8')) as Yaml & { scrape_configs: Yaml[]; global: Yaml };
  const map = benchTargets(env, exporters);
  const targets: Record<string, string[]> = {};
  const skipped: string[] = [];
  for (const job of real.scrape_configs) {
    const name = String(job.job_name);
    // Probes of the public HTTPS endpoints: there are none on this machine.
    if (job.metrics_path === '/probe') {
      skipped.push(`${name} (probes the public HTTPS hostnames)`);
      continue;
    }
    const wanted = [
      ...((job.static_configs ?? []) as { targets: string[] }[]).flatMap((s) => s.targets),
      // Service discovery by DNS name (the scaled n8n workers): name:port as for a static target.
      ...((job.dns_sd_configs ?? []) as { names: string[]; port: number }[]).flatMap((d) => d.names.map((n) => `${n}:${d.port}`)),
    ];
    const found = [...new Set(wanted.map((t) => map[t]).filter((t): t is string => !!t))];
    if (found.length === 0) skipped.push(`${name} (${wanted.join(', ')}: not running here)`);
    else targets[name] = found;
  }
  const cfg = parse(
    testPrometheusConfig({ alertmanagers: env.ALERTMANAGER_URL ? [env.ALERTMANAGER_URL] : [], targets, rulesDir: REAL_RULES_DIR }),
  ) as Yaml & { scrape_configs: Yaml[] };
  // The production timings, not the tests' one-second ones.
  cfg.global = { ...real.global };
  for (const job of cfg.scrape_configs) {
    delete job.dns_sd_configs; // the bench's addresses are static
    const r = real.scrape_configs.find((j) => j.job_name === job.job_name)!;
    for (const k of ['scrape_interval', 'scrape_timeout'] as const) {
      if (r[k] === undefined) delete job[k];
      else job[k] = r[k];
    }
  }
  cfg.rule_files = [path.join(REAL_RULES_DIR, '*.yml'), ...extraRules];
  return { yaml: stringify(cfg), skipped };
}

async function reload(url: string, file: string, yaml: string, what: string): Promise<void> {
  writeFileSync(file, yaml);
  const res = await fetch(`${url}/-/reload`, { method: 'POST' });
  if (res.status !== 200) throw new Error(`${what} rejected the generated configuration: ${await res.text()}`);
}

async function configure(): Promise<void> {
  if (!existsSync(STATE_FILE)) throw new Error(`no bench state in ${BENCH_DIR}: start the bench first`);
  const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as StackState;
  const env = state.env;
  const previous = existsSync(PLATFORM_ENV_FILE) ? parseEnvFile(readFileSync(PLATFORM_ENV_FILE, 'utf8')) : {};
  const ports = await servicePorts(previous);
  const all = { ...env, ...ports };

  // Well-kept exporters, where Debian's packages are installed (kept when already running).
  const exporters: Record<string, string> = {};
  const specs: [string, string, (p: number) => string[], NodeJS.ProcessEnv?][] = [
    ['node', '/usr/bin/prometheus-node-exporter', (p) => [`--web.listen-address=127.0.0.1:${p}`]],
    [
      'blackbox',
      '/usr/bin/prometheus-blackbox-exporter',
      (p) => [`--config.file=${path.join(ROOT, 'alerting', 'blackbox.yml')}`, `--web.listen-address=127.0.0.1:${p}`],
    ],
    [
      'postgres',
      '/usr/bin/prometheus-postgres-exporter',
      (p) => [`--web.listen-address=127.0.0.1:${p}`],
      { PATH: process.env.PATH, DATA_SOURCE_NAME: `${env.DATABASE_OWNER_URL ?? env.DATABASE_URL}?sslmode=disable` },
    ],
  ];
  for (const [name, bin, args, xenv] of specs) {
    const pidKey = `${name}-exporter`;
    const kept = state.pids[pidKey] && isAlive(state.pids[pidKey]) ? previous[`BENCH_${name.toUpperCase()}_EXPORTER`] : undefined;
    if (kept) {
      exporters[name] = kept;
      continue;
    }
    const started = await startExporter(state.dir, pidKey, bin, args, xenv);
    if (!started) continue;
    exporters[name] = started.address;
    state.pids[pidKey] = started.pid;
  }
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));

  // Alertmanager: the project's routing tree and templates; the notifier, the SMTP sink and the
  // HTTP sink (Twilio's stand-in and the dead man's switch) as receivers.
  const secrets = path.join(state.dir, 'platform-secrets');
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(secrets, 'notifier-token'), env.NOTIFIER_AUTH_TOKEN ?? '', { mode: 0o600 });
  writeFileSync(path.join(secrets, 'heartbeat-key'), 'bench-heartbeat-key', { mode: 0o600 });
  await reload(
    env.ALERTMANAGER_URL!,
    path.join(state.dir, 'alertmanager', 'alertmanager.yml'),
    testAlertmanagerConfig({
      notifierUrl: `http://127.0.0.1:${ports.NOTIFIER_PORT}`,
      notifierTokenFile: path.join(secrets, 'notifier-token'),
      heartbeatUrl: env.SINK_URL!,
      heartbeatKeyFile: path.join(secrets, 'heartbeat-key'),
      smtp: { host: env.SMTP_HOST!, port: Number(env.SMTP_PORT) },
    }),
    'Alertmanager',
  );

  // Bench-only: more rule files (a test's), loaded besides alerting/rules.
  const extra = (process.env.CT_START_EXTRA_RULES ?? '').split(',').filter(Boolean);
  const { yaml, skipped } = platformPrometheusConfig(all, exporters, extra);
  await reload(env.PROMETHEUS_URL!, path.join(state.dir, 'prometheus', 'prometheus.yml'), yaml, 'Prometheus');

  const out: Record<string, string> = { ...ports };
  for (const [name, address] of Object.entries(exporters)) out[`BENCH_${name.toUpperCase()}_EXPORTER`] = address;
  writeFileSync(PLATFORM_ENV_FILE, toEnvFile(out));
  for (const s of skipped) process.stderr.write(`[platform] not scraped: ${s}\n`);
}

if (require.main === module) {
  // The exporters it starts run on after it (npm start, or a test running npm start, stops them).
  daemonsOutliveThisProcess();
  const cmd = process.argv[2];
  (cmd === 'configure' ? configure() : Promise.reject(new Error('usage: platform configure'))).catch((err: Error) => {
    console.error(`platform: ${err.message}`);
    process.exit(1);
  });
}

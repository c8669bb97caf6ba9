/**
 * `npm start` on the bench, where `grafana-server` is installed: Grafana with the project's
 * provisioning (its addresses rewritten to the bench's, as docker-compose.yml's are to its
 * services) and the built ct-admin-app, then `ct grafana sync`. Prints one line for the
 * "how to get in" block. Its process is recorded in the bench's state.json, so `stack:down`
 * stops it.
 *
 *   tsx test/bench/grafana.ts start
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../alerting/generate';
import { PLATFORM_ENV_FILE } from './platform';
import { parseEnvFile } from './stack';
import { freePort, httpStatus, spawnDaemon, waitFor } from './process';
import type { StackState } from './stack';

const BENCH_DIR = process.env.CT_BENCH_STATE_DIR ?? path.join(ROOT, '.bench');
const STATE_FILE = path.join(BENCH_DIR, 'state.json');
const PLUGIN_DIST = path.join(ROOT, 'grafana-plugins', 'ct-admin-app', 'dist');

/** Grafana's home (its public/ and conf/), next to the binary as Grafana's packages lay it out. */
function grafanaHome(bin: string): string {
  for (const dir of [
    '/usr/share/grafana',
    path.resolve(path.dirname(bin), '..', 'share', 'grafana'),
    path.resolve(path.dirname(bin), '..'),
  ]) {
    if (existsSync(path.join(dir, 'conf', 'defaults.ini'))) return dir;
  }
  throw new Error(`cannot find Grafana's home (conf/defaults.ini) for ${bin}`);
}

async function start(): Promise<void> {
  const bin = execFileSync('sh', ['-c', 'command -v grafana-server']).toString().trim();
  const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as StackState;
  const env = { ...state.env, ...parseEnvFile(readFileSync(PLATFORM_ENV_FILE, 'utf8')) };
  const base = path.join(state.dir, 'grafana');
  const provisioning = path.join(base, 'provisioning');
  mkdirSync(path.join(base, 'plugins'), { recursive: true });
  cpSync(path.join(ROOT, 'provisioning'), provisioning, { recursive: true });
  // docker-compose.yml's service addresses → the bench's.
  const rewrite = (file: string, pairs: [string, string][]) => {
    let text = readFileSync(file, 'utf8');
    for (const [from, to] of pairs) text = text.split(from).join(to);
    writeFileSync(file, text);
  };
  const pg = new URL(env.DATABASE_URL!);
  rewrite(path.join(provisioning, 'datasources', 'ct.yml'), [
    ['http://prometheus:9090', env.PROMETHEUS_URL!],
    ['http://alertmanager-1:9093', env.ALERTMANAGER_URL!],
    ['postgres:5432', `${pg.hostname}:${pg.port}`],
  ]);
  rewrite(path.join(provisioning, 'plugins', 'ct-admin-app.yml'), [['http://api:8080', `http://127.0.0.1:${env.API_PORT}`]]);
  rewrite(path.join(provisioning, 'dashboards', 'ct-admin.yml'), [['/etc/grafana/provisioning', provisioning]]);
  const plugin = existsSync(path.join(PLUGIN_DIST, 'plugin.json'));
  if (plugin && !existsSync(path.join(base, 'plugins', 'ct-admin-app')))
    symlinkSync(PLUGIN_DIST, path.join(base, 'plugins', 'ct-admin-app'));

  const port = await freePort();
  const password = randomBytes(12).toString('base64url');
  const url = `http://127.0.0.1:${port}`;
  const logFile = path.join(base, 'grafana.log');
  const pid = spawnDaemon(bin, ['server', `--homepath=${grafanaHome(bin)}`], {
    logFile,
    cwd: base,
    env: {
      PATH: process.env.PATH,
      GF_SERVER_HTTP_ADDR: '127.0.0.1',
      GF_SERVER_HTTP_PORT: String(port),
      GF_PATHS_DATA: path.join(base, 'data'),
      GF_PATHS_LOGS: path.join(base, 'logs'),
      GF_PATHS_PLUGINS: path.join(base, 'plugins'),
      GF_PATHS_PROVISIONING: provisioning,
      GF_SECURITY_ADMIN_USER: 'admin',
      GF_SECURITY_ADMIN_PASSWORD: password,
      GF_USERS_ALLOW_SIGN_UP: 'false',
      GF_USERS_ALLOW_ORG_CREATE: 'false',
      GF_USERS_VIEWERS_CAN_EDIT: 'false',
      GF_AUTH_ANONYMOUS_ENABLED: 'false',
      GF_ANALYTICS_REPORTING_ENABLED: 'false',
      GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS: 'ct-admin-app',
      GF_DATAPROXY_SEND_USER_HEADER: 'true',
      GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: path.join(provisioning, 'dashboards', 'admin', 'ct-admin-overview.json'),
      API_GRAFANA_PROXY_SECRET: env.API_GRAFANA_PROXY_SECRET,
      DASHBOARD_DB_PASSWORD: env.DASHBOARD_DB_PASSWORD,
    },
  });
  state.pids.grafana = pid;
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
  await waitFor('grafana', async () => (await httpStatus(`${url}/api/health`)) === 200, { timeoutMs: 60_000, logFile, pid });
  // The client organisations, as an operator runs it.
  execFileSync('npx', ['--no-install', 'ct', 'grafana', 'sync'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      GRAFANA_URL: url,
      GRAFANA_ADMIN_USER: 'admin',
      GRAFANA_ADMIN_PASSWORD: password,
      TENANT_PROXY_URL: `http://127.0.0.1:${env.TENANT_PROXY_PORT}`,
      GRAFANA_PORTAL_DB_HOST: `${pg.hostname}:${pg.port}`,
    },
  });
  process.stdout.write(
    `Grafana      ${url}  (admin / ${password})${plugin ? '' : '; ct-admin-app is not built: npm run test:plugin builds it'}\n`,
  );
}

if (require.main === module) {
  (process.argv[2] === 'start' ? start() : Promise.reject(new Error('usage: grafana start'))).catch((err: Error) => {
    console.error(`grafana: ${err.message}`);
    process.exit(1);
  });
}

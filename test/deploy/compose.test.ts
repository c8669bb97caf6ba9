import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import type { z } from 'zod';
import { DOT_ENV } from './fixture';
import { deployedExporterNode } from '../../exporters/bench/deployed';
import { SERVICES } from '../../cli/src/commands/serve';
import { loadConfig, sections } from '../../lib/src/config';
import { loadMigrateConfig } from '../../lib/src/app-role';
import { apiConfigSchema, loadApiConfig } from '../../api/src/config';
import { exporterSchema, loadExporterConfig } from '../../exporters/src/config';
import { schedulerSchema } from '../../backup/src/config';
import { loadNotifierConfig, notifierSchema } from '../../alerting/src/config';
import { loadTenantProxyConfig, tenantProxySchema } from '../../client-portal/src/proxy/config';
import { grafanaSyncSchema, loadGrafanaSyncConfig } from '../../client-portal/src/grafana/config';

/**
 * The production stack is one file each for docker-compose, Prometheus, Alertmanager, Caddy and
 * Grafana's datasources; they name each other by host. No Docker engine runs here, so this checks
 * what can be checked without one, on the file as docker-compose itself resolves it: it is
 * accepted, images are pinned, every long-running service has a healthcheck and a restart policy,
 * only Caddy publishes ports, every mounted file exists, Prometheus scrapes exactly the services
 * with metrics, and each ct service gets the settings its own configuration schema reads — all it
 * requires, nothing it does not read, and no secret it does not need. (test/deploy/docker-smoke
 * brings the stack up where an engine is reachable.)
 */
const ROOT = path.resolve(__dirname, '..', '..');
const read = (f: string) => parse(readFileSync(path.join(ROOT, f), 'utf8'));

interface ComposeService {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | null>;
  env_file?: unknown;
  restart?: string;
  profiles?: string[];
  ports?: (string | { published?: number | string; host_ip?: string })[];
  volumes?: (string | { type: string; source?: string; target: string })[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
}

/** Which services may receive each secret (by value): everyone else must not. */
const SECRET_HOLDERS: Record<string, string[]> = {
  POSTGRES_PASSWORD: ['postgres', 'postgres-roles', 'migrate'],
  APP_DB_PASSWORD: ['migrate', 'api', 'exporters', 'scheduler', 'tenant-proxy', 'ct'],
  MONITOR_DB_PASSWORD: ['postgres-roles', 'postgres-exporter'],
  DASHBOARD_DB_PASSWORD: ['migrate', 'grafana'],
  N8N_DB_PASSWORD: ['n8n-postgres', 'n8n', 'n8n-worker'],
  N8N_ENCRYPTION_KEY: ['n8n', 'n8n-worker'],
  REDIS_PASSWORD: ['redis', 'n8n', 'n8n-worker', 'redis-exporter'],
  GRAFANA_DB_PASSWORD: ['grafana-postgres', 'grafana'],
  SECRETS_KEY: ['api', 'ct'],
  API_JWT_SECRET: ['api'],
  API_GRAFANA_PROXY_SECRET: ['api', 'grafana'],
  API_GRAFANA_PROXY_SECRET_PREVIOUS: ['api'],
  BACKUP_MASTER_KEY: ['scheduler'],
  S3_SECRET_ACCESS_KEY: ['scheduler'],
  NOTIFIER_AUTH_TOKEN: ['notifier'],
  TWILIO_AUTH_TOKEN: ['notifier'],
  N8N_API_KEY: ['api', 'exporters', 'scheduler', 'ct'],
  N8N_OWNER_PASSWORD: ['api', 'ct'],
  GRAFANA_ADMIN_PASSWORD: ['ct'],
};

/** Runs `docker-compose config` on a scratch copy with the given .env; returns the resolved file. */
function composeConfig(dotEnv: Record<string, string>): { services: Record<string, ComposeService> } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ct-compose-'));
  try {
    copyFileSync(path.join(ROOT, 'docker-compose.yml'), path.join(dir, 'docker-compose.yml'));
    writeFileSync(
      path.join(dir, '.env'),
      Object.entries(dotEnv)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
    const out = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
      cwd: dir,
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
      stdio: 'pipe',
    });
    return parse(out) as { services: Record<string, ComposeService> };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let services: Record<string, ComposeService>;

beforeAll(() => {
  services = composeConfig(DOT_ENV).services;
});

function hostOf(target: string): string {
  return target.replace(/^https?:\/\//, '').split(/[:/]/)[0]!;
}

/** Services started once, to completion, before others (migrations, role setup). */
function isOneShot(name: string): boolean {
  return Object.values(services).some(
    (s) => !Array.isArray(s.depends_on) && s.depends_on?.[name]?.condition === 'service_completed_successfully',
  );
}
/** Run on demand only (`docker-compose run`), never by `up`. */
const onDemand = (s: ComposeService) => (s.profiles ?? []).length > 0;
const longRunning = () => Object.entries(services).filter(([name, s]) => !isOneShot(name) && !onDemand(s));
const envOf = (name: string): Record<string, string> => {
  const env = services[name]?.environment;
  if (!env) throw new Error(`service ${name} has no environment`);
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v ?? '']));
};
const CT_IMAGE = `ct-platform:${DOT_ENV.CT_VERSION}`;

describe('docker-compose', () => {
  it('accepts the file with a complete .env, and refuses it without each required setting, naming it', () => {
    expect(Object.keys(services).length).toBeGreaterThan(15);
    // A sample (each docker-compose run takes seconds): owner, application and Grafana's database
    // passwords, n8n's key and a public hostname.
    for (const required of ['POSTGRES_PASSWORD', 'APP_DB_PASSWORD', 'DASHBOARD_DB_PASSWORD', 'N8N_ENCRYPTION_KEY', 'GRAFANA_PUBLIC_HOST']) {
      const { [required]: _left, ...rest } = DOT_ENV;
      expect(() => composeConfig(rest)).toThrow(new RegExp(`set ${required} in \\.env`));
    }
  });

  it('every variable the file reads from .env is documented in .env.example', () => {
    const compose = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
    const example = readFileSync(path.join(ROOT, '.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
    const used = new Set([...compose.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
    expect([...used].filter((v) => !documented.has(v)).sort()).toEqual([]);
  });

  it('every ct-platform container runs a migration, a real ct serve service, or operator commands on demand', () => {
    const ct = Object.entries(services).filter(([, s]) => s.image === CT_IMAGE);
    const commands = (name: string) => services[name]!.command as string[];
    const served = ct.filter(([name]) => commands(name)[0] === 'serve').map(([name]) => commands(name)[1]);
    expect(served.sort()).toEqual(Object.keys(SERVICES).sort());
    const others = ct.filter(([name]) => commands(name)[0] !== 'serve').map(([name]) => name);
    expect(others.sort()).toEqual(['ct', 'migrate']);
    expect(commands('migrate')).toEqual(['migrate']);
    expect(onDemand(services.ct!)).toBe(true);
  });

  it("runs the exporter's Node.js with flags and NODE_OPTIONS it accepts, as the benchmarks read them", () => {
    const node = deployedExporterNode();
    expect(node.args).toContain('--optimize-for-size');
    const run = spawnSync(process.execPath, [...node.args, '-e', 'process.stdout.write("ok")'], {
      env: { PATH: process.env.PATH, NODE_OPTIONS: node.options },
      encoding: 'utf8',
    });
    expect({ status: run.status, out: run.stdout, err: run.stderr }).toEqual({ status: 0, out: 'ok', err: '' });
    // A flag node or V8 does not know is refused: the check above can fail.
    expect(spawnSync(process.execPath, ['--optimise-for-size', '-e', '0']).status).not.toBe(0);
  });

  it('pins every image to a version: no latest, no bare name', () => {
    for (const [name, s] of Object.entries(services)) {
      expect({ name, image: s.image }).toEqual({ name, image: expect.stringMatching(/^[a-z0-9./_-]+:[\w.-]+$/) });
      expect({ name, image: s.image }).not.toEqual({ name, image: expect.stringMatching(/:(latest|stable|main|edge)$/) });
    }
    expect(services.api!.image).toBe(CT_IMAGE);
  });

  it('gives every long-running service a healthcheck and restart: unless-stopped; one-shot services do not restart', () => {
    const running = longRunning();
    expect(running.length).toBeGreaterThan(15);
    for (const [name, s] of running) {
      expect({ name, restart: s.restart }).toEqual({ name, restart: 'unless-stopped' });
      const test = s.healthcheck?.test;
      expect({ name, healthcheck: Boolean(test && test.length > 0 && test[0] !== 'NONE' && !s.healthcheck?.disable) }).toEqual({
        name,
        healthcheck: true,
      });
    }
    for (const name of ['migrate', 'postgres-roles', 'ct'])
      expect({ name, restart: services[name]!.restart }).toEqual({ name, restart: 'no' });
  });

  it('the ct-platform services check themselves on the port they are configured to listen on', () => {
    const ports: Record<string, string> = {
      api: `http://127.0.0.1:${envOf('api').API_PORT}/healthz`,
      exporters: `http://127.0.0.1:${envOf('exporters').EXPORTER_PORT}/healthz`,
      notifier: `http://127.0.0.1:${envOf('notifier').NOTIFIER_PORT}/healthz`,
      'tenant-proxy': `http://127.0.0.1:${envOf('tenant-proxy').TENANT_PROXY_METRICS_PORT}/healthz`,
      scheduler: 'database',
    };
    for (const [name, target] of Object.entries(ports)) {
      expect(services[name]!.healthcheck!.test).toEqual(['CMD', 'node', 'deploy/healthcheck.mjs', target]);
    }
  });

  it('lets only Caddy publish ports: 80 and 443 to the world, the n8n editor on the loopback only', () => {
    const publishing = Object.entries(services)
      .filter(([, s]) => (s.ports ?? []).length > 0)
      .map(([name]) => name);
    expect(publishing).toEqual(['caddy']);
    // docker-compose config writes the long syntax: { published, target, host_ip? }.
    const ports = services.caddy!.ports!.map((p) =>
      typeof p === 'string'
        ? { published: p.split(':').at(-2), host: p.split(':').length > 2 ? p.split(':')[0] : undefined }
        : { published: String(p.published), host: p.host_ip },
    );
    for (const p of ports) {
      if (p.host === undefined) expect(['80', '443']).toContain(p.published);
      else expect(p.host).toBe('127.0.0.1');
    }
    expect(ports).toContainEqual({ published: '443', host: undefined });
  });

  it('gives no service the whole .env', () => {
    const raw = read('docker-compose.yml') as Record<string, unknown>;
    expect(JSON.stringify(raw)).not.toMatch(/env_file/);
    expect(Object.entries(services).filter(([, s]) => s.env_file !== undefined)).toEqual([]);
  });

  it('mounts only files and folders that exist in the repository (the operator-made secrets/ and the built plugin aside)', () => {
    // Made on the server, never committed: secrets/ (docs/deployment.md) and the admin app's build
    // (grafana-plugins/ct-admin-app/dist, npm run build).
    const madeOnTheServer = ['secrets', 'grafana-plugins/ct-admin-app/dist'];
    const raw = read('docker-compose.yml') as {
      services: Record<string, { volumes?: string[] }>;
      secrets?: Record<string, { file: string }>;
    };
    const sources = [
      ...Object.values(raw.services).flatMap((s) => (s.volumes ?? []).filter((v) => typeof v === 'string').map((v) => v.split(':')[0]!)),
      ...Object.values(raw.secrets ?? {}).map((s) => s.file),
    ].filter((src) => src.startsWith('./'));
    expect(sources.length).toBeGreaterThan(5);
    const missing = sources
      .map((src) => path.normalize(src))
      .filter((src) => !madeOnTheServer.some((m) => src === m || src.startsWith(`${m}/`)))
      .filter((src) => !existsSync(path.join(ROOT, src)));
    expect(missing).toEqual([]);
  });
});

describe('Prometheus and the stack', () => {
  const prom = () =>
    read('prometheus.yml') as {
      scrape_configs: {
        job_name: string;
        static_configs?: { targets: string[] }[];
        dns_sd_configs?: { names: string[] }[];
        relabel_configs?: { replacement?: string; target_label?: string }[];
      }[];
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
    };

  /** Hosts Prometheus scrapes (probes count as the blackbox exporter's). */
  function scrapedHosts(): Set<string> {
    const hosts = new Set<string>();
    for (const job of prom().scrape_configs) {
      const rewritten = job.relabel_configs?.find((r) => r.target_label === '__address__')?.replacement;
      if (rewritten) hosts.add(hostOf(rewritten));
      else for (const sc of job.static_configs ?? []) for (const t of sc.targets) hosts.add(hostOf(t));
      for (const sd of job.dns_sd_configs ?? []) for (const n of sd.names) hosts.add(n);
    }
    hosts.delete('localhost'); // Prometheus scraping itself
    hosts.add('prometheus');
    return hosts;
  }

  it('promtool accepts prometheus.yml', () => {
    const r = spawnSync('promtool', ['check', 'config', 'prometheus.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
  });

  it('every scrape and Alertmanager target is a service of the stack', () => {
    const hosts = scrapedHosts();
    for (const am of prom().alerting.alertmanagers) for (const sc of am.static_configs) for (const t of sc.targets) hosts.add(hostOf(t));
    expect([...hosts].filter((h) => !services[h])).toEqual([]);
  });

  it('scrapes every long-running service that has metrics, and says why the others are not scraped', () => {
    const noMetrics: Record<string, string> = {
      postgres: 'read through postgres-exporter',
      'n8n-postgres': "n8n's database; its health shows in n8n's readiness",
      'grafana-postgres': "Grafana's database; its health shows in Grafana's",
      redis: 'read through redis-exporter',
      scheduler: 'no listener; its jobs report through the exporters (backup and audit metrics)',
    };
    const expected = longRunning()
      .map(([name]) => name)
      .filter((n) => !(n in noMetrics))
      .sort();
    expect([...scrapedHosts()].sort()).toEqual(expected);
  });

  it('scrapes the API on its internal listener, the one it serves /metrics on, not the public port Caddy proxies', () => {
    const api = prom().scrape_configs.find((j) => j.job_name === 'ct_api')!;
    const env = envOf('api');
    expect(api.static_configs![0]!.targets).toEqual([`api:${env.API_INTERNAL_PORT}`]);
    expect(env.API_INTERNAL_PORT).not.toBe(env.API_PORT);
    expect(env.API_INTERNAL_HOST).toBe('0.0.0.0');
  });

  it('Alertmanager webhooks and Grafana datasources point at services of the stack', () => {
    const am = read('alertmanager.yml') as { receivers: { webhook_configs?: { url: string }[] }[] };
    const internal = am.receivers
      .flatMap((r) => r.webhook_configs ?? [])
      .map((w) => hostOf(w.url))
      .filter((h) => !h.includes('.'));
    expect(internal.length).toBeGreaterThan(0);
    expect(internal.filter((h) => !services[h])).toEqual([]);
    const ds = read('provisioning/datasources/ct.yml') as { datasources: { url: string }[] };
    expect(ds.datasources.map((d) => hostOf(d.url)).filter((h) => !services[h])).toEqual([]);
  });
});

describe('per-service settings', () => {
  type Shape = Record<string, unknown>;
  const keys = (...shapes: Shape[]) => new Set(shapes.flatMap((s) => Object.keys(s)));
  const shape = (o: z.ZodObject) => o.shape as Shape;
  const s = sections;
  /** Each ct service: its real configuration loader, and every variable its schemas read. */
  const schemas: Record<string, { load: (env: NodeJS.ProcessEnv) => unknown; reads: Set<string> }> = {
    api: {
      load: loadApiConfig,
      reads: keys(shape(s.database), shape(s.secrets), shape(s.n8n), shape(s.logging), shape(apiConfigSchema)),
    },
    exporters: {
      load: loadExporterConfig,
      // NODE_OPTIONS: the heap limits, read by Node.js itself.
      reads: keys(shape(s.database), shape(s.n8n), shape(s.logging), shape(exporterSchema), { NODE_OPTIONS: 1 }),
    },
    scheduler: {
      load: (env) => loadConfig(['database', 'logging', 'n8n'], schedulerSchema, env),
      reads: keys(shape(s.database), shape(s.n8n), shape(s.logging), shape(schedulerSchema)),
    },
    notifier: { load: loadNotifierConfig, reads: keys(shape(s.logging), shape(notifierSchema)) },
    'tenant-proxy': { load: loadTenantProxyConfig, reads: keys(shape(s.database), shape(s.logging), shape(tenantProxySchema)) },
    migrate: {
      load: loadMigrateConfig,
      reads: keys({ DATABASE_URL: 1, DATABASE_CONNECT_TIMEOUT: 1 }, shape(s.owner), shape(s.dashboard)),
    },
    ct: {
      load: loadGrafanaSyncConfig,
      // ALERTMANAGER_URLS: ct maintenance start|end; ONBOARD_API_URL: ct client onboard (cli/src/commands/client.ts).
      reads: keys(shape(s.database), shape(s.secrets), shape(s.n8n), shape(s.logging), shape(grafanaSyncSchema), {
        ALERTMANAGER_URLS: 1,
        ONBOARD_API_URL: 1,
      }),
    },
  };

  it('covers every ct-platform container', () => {
    const ct = Object.entries(services)
      .filter(([, svc]) => svc.image === CT_IMAGE)
      .map(([name]) => name);
    expect(ct.sort()).toEqual(Object.keys(schemas).sort());
  });

  it.each(Object.keys(schemas))('%s: its configuration loader accepts the environment compose gives it', (name) => {
    expect(() => schemas[name]!.load(envOf(name))).not.toThrow();
  });

  it.each(Object.keys(schemas))('%s: gets no variable its configuration does not read', (name) => {
    const reads = schemas[name]!.reads;
    expect(Object.keys(envOf(name)).filter((k) => !reads.has(k))).toEqual([]);
  });

  it('each secret reaches only the services that need it', () => {
    const holders = (value: string) =>
      Object.entries(services)
        .filter(([, svc]) => Object.values(svc.environment ?? {}).some((v) => typeof v === 'string' && v.includes(value)))
        .map(([name]) => name)
        .sort();
    for (const [secret, expected] of Object.entries(SECRET_HOLDERS)) {
      expect({ secret, holders: holders(DOT_ENV[secret]!) }).toEqual({ secret, holders: [...expected].sort() });
    }
  });

  it('the services connect as the application role; only migrate holds the owner connection', () => {
    for (const name of ['api', 'exporters', 'scheduler', 'tenant-proxy', 'ct']) {
      expect(envOf(name).DATABASE_URL).toBe(`postgres://ct_app:${DOT_ENV.APP_DB_PASSWORD}@postgres:5432/ct`);
    }
    expect(envOf('migrate').DATABASE_OWNER_URL).toBe(`postgres://ct:${DOT_ENV.POSTGRES_PASSWORD}@postgres:5432/ct`);
    expect(envOf('migrate').DATABASE_URL).toBeUndefined();
    expect(envOf('postgres-exporter').DATA_SOURCE_USER).toBe('ct_monitor');
  });

  it('trusts exactly one proxy hop in the API (Caddy), never `true`', () => {
    expect(envOf('api').API_TRUST_PROXY).toBe('1');
  });

  it('runs n8n in queue mode on Redis: the main instance and workers share the database, key and queue', () => {
    const main = envOf('n8n');
    const worker = envOf('n8n-worker');
    expect(services['n8n-worker']!.command).toEqual(['worker']);
    for (const env of [main, worker]) {
      expect(env).toMatchObject({
        EXECUTIONS_MODE: 'queue',
        QUEUE_BULL_REDIS_HOST: 'redis',
        QUEUE_BULL_REDIS_PASSWORD: DOT_ENV.REDIS_PASSWORD,
        N8N_ENCRYPTION_KEY: DOT_ENV.N8N_ENCRYPTION_KEY,
        DB_POSTGRESDB_HOST: 'n8n-postgres',
        N8N_METRICS: 'true',
        WEBHOOK_URL: `https://${DOT_ENV.N8N_PUBLIC_HOST}/`,
      });
    }
    // Workers serve /healthz and /metrics only with the health check server on.
    expect(worker.QUEUE_HEALTH_CHECK_ACTIVE).toBe('true');
  });

  it('Grafana keeps its state on PostgreSQL and its cookies on HTTPS', () => {
    expect(envOf('grafana')).toMatchObject({
      GF_DATABASE_TYPE: 'postgres',
      GF_DATABASE_HOST: 'grafana-postgres:5432',
      GF_SERVER_ROOT_URL: `https://${DOT_ENV.GRAFANA_PUBLIC_HOST}/`,
      GF_SECURITY_COOKIE_SECURE: 'true',
      GF_USERS_VIEWERS_CAN_EDIT: 'false',
    });
  });
});

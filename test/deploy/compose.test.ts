import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { SERVICES } from '../../cli/src/commands/serve';

/**
 * The production stack is one file each for docker-compose, Prometheus, Alertmanager and Grafana's
 * datasources; they name each other by host. No Docker engine runs here, so this checks what can
 * be checked without one: docker-compose accepts the file, every ct service runs a real `ct serve`
 * service, and every host the other configs point at is a service of the stack.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const read = (f: string) => parse(readFileSync(path.join(ROOT, f), 'utf8'));

interface ComposeService {
  image?: string;
  command?: string[];
}

let services: Record<string, ComposeService>;

beforeAll(() => {
  // docker-compose needs the .env file the stack reads; an empty one in a scratch copy will do.
  const dir = mkdtempSync(path.join(tmpdir(), 'ct-compose-'));
  try {
    copyFileSync(path.join(ROOT, 'docker-compose.yml'), path.join(dir, 'docker-compose.yml'));
    writeFileSync(path.join(dir, '.env'), '');
    const out = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        POSTGRES_PASSWORD: 'x',
        N8N_DB_PASSWORD: 'x',
        N8N_ENCRYPTION_KEY: 'x',
        DASHBOARD_DB_PASSWORD: 'x',
        API_GRAFANA_PROXY_SECRET: 'x',
      },
      encoding: 'utf8',
    });
    services = (parse(out) as { services: Record<string, ComposeService> }).services;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function hostOf(target: string): string {
  return target.replace(/^https?:\/\//, '').split(/[:/]/)[0]!;
}

it('docker-compose accepts the file, and refuses it without the required passwords', () => {
  expect(Object.keys(services).length).toBeGreaterThan(10);
  expect(() =>
    execFileSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config', '-q'], {
      env: { PATH: process.env.PATH },
      stdio: 'pipe',
    }),
  ).toThrow(/POSTGRES_PASSWORD/);
  // Grafana's read-only database role has no password without it: refused too, by name.
  expect(() =>
    execFileSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config', '-q'], {
      env: { PATH: process.env.PATH, POSTGRES_PASSWORD: 'x', N8N_DB_PASSWORD: 'x', N8N_ENCRYPTION_KEY: 'x' },
      stdio: 'pipe',
    }),
  ).toThrow(/DASHBOARD_DB_PASSWORD/);
});

it('every ct-platform container runs a migration or a real ct serve service, and every service runs somewhere', () => {
  const ct = Object.entries(services).filter(([, s]) => s.image === 'ct-platform:latest');
  const served = ct
    .map(([, s]) => s.command ?? [])
    .filter((c) => c[0] === 'serve')
    .map((c) => c[1]);
  expect(ct.map(([, s]) => s.command?.[0]).sort()).toEqual(['migrate', ...served.map(() => 'serve')].sort());
  expect(served.sort()).toEqual(Object.keys(SERVICES).sort());
});

it('every Prometheus scrape and Alertmanager target is a service of the stack', () => {
  const prom = read('prometheus.yml') as {
    scrape_configs: {
      job_name: string;
      static_configs?: { targets: string[] }[];
      relabel_configs?: { replacement?: string; target_label?: string }[];
    }[];
    alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
  };
  const hosts = new Set<string>();
  for (const job of prom.scrape_configs) {
    const rewritten = job.relabel_configs?.find((r) => r.target_label === '__address__')?.replacement;
    if (rewritten) hosts.add(hostOf(rewritten));
    else for (const sc of job.static_configs ?? []) for (const t of sc.targets) hosts.add(hostOf(t));
  }
  for (const am of prom.alerting.alertmanagers) for (const sc of am.static_configs) for (const t of sc.targets) hosts.add(hostOf(t));
  hosts.delete('localhost'); // Prometheus scraping itself
  expect([...hosts].filter((h) => !services[h])).toEqual([]);
  for (const ours of ['api', 'exporters', 'notifier']) expect(hosts).toContain(ours);
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

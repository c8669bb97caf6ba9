import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, keyringFromConfig, loadConfig, withTransaction, type SecretKeyring } from '@ct/lib';
import { dropClientRole, issuePortalToken, startTenantProxy, type RunningTenantProxy, type TenantProxyLimits } from '@ct/client-portal';
import { startPrometheus, type PrometheusService } from '../bench/services';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

/**
 * The tenant proxy on the bench: a private Prometheus scraping two small targets every second —
 * one holding the series of four clients (the attacker, `alpha`, and three victims), the other
 * series without a `client` label (the platform's) — a migrated database with the four clients and
 * their portal tokens, and the proxy in front.
 *
 * Every victim series carries a random marker in a label value, and its values are far beyond
 * anything the attacker's own series, time() or timestamp() can produce (|v| >= 1e11: gauges at
 * about -1e12, counters growing 1e12 per scrape), so a victim sample that slips into a sum, a
 * rate or a label is seen.
 */

export const VICTIM_FLOOR = 1e11;

export interface ClientData {
  slug: string;
  token: string;
  /** Random strings only this client's series carry (label values); never typed in a query. */
  markers: string[];
}

export interface ProxyBench {
  db: TestDatabase;
  keyring: SecretKeyring;
  prometheus: PrometheusService;
  proxy: RunningTenantProxy;
  attacker: ClientData;
  victims: ClientData[];
  /** Random strings of the series without a client label. */
  platformMarkers: string[];
  /** Scrapes served so far (counters grow with them). */
  scrapes(): number;
  /** Instant-query time, a few seconds back, so direct and proxied queries see the same data. */
  stop(): Promise<void>;
}

const rand = () => randomBytes(4).toString('hex');

class Target {
  port = 0;
  served = 0;
  private server?: http.Server;
  constructor(private readonly render: (n: number) => string) {}
  async start(): Promise<void> {
    this.server = http.createServer((_req, res) => {
      this.served++;
      res.writeHead(200, { 'Content-Type': 'application/openmetrics-text; version=1.0.0; charset=utf-8' });
      res.end(this.render(this.served));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    const s = this.server;
    if (s) await new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())));
  }
}

export async function startProxyBench(opts: { limits?: Partial<TenantProxyLimits>; authCacheSeconds?: number } = {}): Promise<ProxyBench> {
  const tag = rand();
  const slugs = ['alpha', 'bravo', 'charlie', 'delta'].map((s) => `${s}-${tag}`);
  const clientMarkers = slugs.map((s) => ({
    slug: s,
    wf: `wf-${s}-${rand()}`,
    secret: `secret-${s}-${rand()}`,
    trace: `trace-${rand()}${rand()}`,
  }));
  const platform = { component: `platform-${rand()}`, job: `platform-${tag}` };

  const clientsTarget = new Target((n) => {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) => lines.push(`# TYPE ${name} ${type}`, `# HELP ${name} ${help}`);
    family('ct_workflow_executions', 'counter', 'Finished executions.');
    clientMarkers.forEach((c, i) => {
      const attacker = i === 0;
      const value = attacker ? n : n * 1e12;
      const ex = attacker ? `trace-alpha-${tag}` : c.trace;
      lines.push(
        `ct_workflow_executions_total{client="${c.slug}",workflow="${c.wf}",status="success"} ${value} # {trace_id="${ex}"} ${attacker ? 1 : 1e12}`,
      );
      lines.push(`ct_workflow_executions_total{client="${c.slug}",workflow="${c.wf}",status="error"} ${attacker ? 2 * n : 2e12 * n}`);
    });
    family('ct_workflow_active', 'gauge', 'Workflow active.');
    clientMarkers.forEach((c, i) =>
      lines.push(`ct_workflow_active{client="${c.slug}",workflow="${c.wf}",name="${c.secret}"} ${i === 0 ? 1 : -1e12 - i}`),
    );
    family('ct_client_hours_saved', 'gauge', 'Hours saved.');
    clientMarkers.forEach((c, i) => lines.push(`ct_client_hours_saved{client="${c.slug}"} ${i === 0 ? 12.5 : -2e12 - i}`));
    // A metric only the victims have, with a label name only they use.
    family('ct_private_marker', 'gauge', 'Victim-only series.');
    clientMarkers.slice(1).forEach((c, i) => lines.push(`ct_private_marker{client="${c.slug}",secret="${c.secret}"} ${-3e12 - i}`));
    lines.push('# EOF', '');
    return lines.join('\n');
  });
  const platformTarget = new Target((n) =>
    [
      '# TYPE ct_platform_secret gauge',
      '# HELP ct_platform_secret Platform-wide series without a client label.',
      `ct_platform_secret{component="${platform.component}"} ${-5e12 - n}`,
      '# TYPE ct_platform_requests counter',
      `ct_platform_requests_total{component="${platform.component}"} ${n * 1e12}`,
      '# EOF',
      '',
    ].join('\n'),
  );
  await clientsTarget.start();
  await platformTarget.start();

  const dir = mkdtempSync(path.join(tmpdir(), 'ct-tenant-proxy-'));
  const prometheus = await startPrometheus(dir, {
    config: [
      'global:',
      '  scrape_interval: 1s',
      'scrape_configs:',
      '  - job_name: clients',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${clientsTarget.port}']`,
      `  - job_name: ${platform.job}`,
      '    static_configs:',
      `      - targets: ['127.0.0.1:${platformTarget.port}']`,
      '',
    ].join('\n'),
    args: ['--enable-feature=exemplar-storage'],
  });

  const db = await createTestDatabase({ prefix: 'tenant_proxy' });
  const keyring = keyringFromConfig(loadConfig(['secrets']));
  for (const slug of slugs) await db.pool.query('INSERT INTO clients (slug, name) VALUES ($1, $2)', [slug, `Client ${slug}`]);
  const tokens: string[] = [];
  for (const slug of slugs) tokens.push((await issuePortalToken(db.appPool, keyring, slug, { actor: { actor: 'test' } })).token);

  const proxy = await startTenantProxy({
    pool: db.appPool,
    prometheusUrl: prometheus.url,
    logger: createLogger({ level: 'silent' }),
    port: 0,
    metricsPort: 0,
    authCacheSeconds: opts.authCacheSeconds ?? 10,
    limits: opts.limits,
  });

  // Wait until Prometheus holds enough scrapes of every series for rates and subqueries.
  const deadline = Date.now() + 60_000;
  for (;;) {
    // count_over_time drops the metric name: one metric per query, or the series would collide.
    const counts = await Promise.all(
      ['ct_workflow_executions_total', 'ct_private_marker', 'ct_platform_secret'].map(async (metric) => {
        const q = encodeURIComponent(`min(count_over_time(${metric}[1m]))`);
        const body = (await (await fetch(`${prometheus.url}/api/v1/query?query=${q}`)).json()) as {
          data?: { result: { value: [number, string] }[] };
        };
        return Number(body.data?.result[0]?.value[1] ?? 0);
      }),
    );
    if (counts.every((n) => n >= 6)) break;
    if (Date.now() > deadline) throw new Error('Prometheus did not collect the fixture series in time');
    await new Promise((r) => setTimeout(r, 500));
  }

  const data = slugs.map((slug, i) => ({
    slug,
    token: tokens[i]!,
    markers: [clientMarkers[i]!.wf, clientMarkers[i]!.secret, clientMarkers[i]!.trace],
  }));
  return {
    db,
    keyring,
    prometheus,
    proxy,
    attacker: data[0]!,
    victims: data.slice(1),
    platformMarkers: [platform.component, platform.job],
    scrapes: () => clientsTarget.served,
    async stop() {
      await proxy.stop();
      await withTransaction(db.pool, async (tx) => {
        for (const slug of slugs) await dropClientRole(tx, slug);
      }).catch(() => undefined);
      await db.drop();
      await prometheus.stop();
      await clientsTarget.stop();
      await platformTarget.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ProxyAnswer {
  status: number;
  text: string;
  json: unknown;
  headers: Headers;
}

/** One request to the proxy, as Grafana's datasource would send it. */
export async function call(
  base: string,
  pathAndQuery: string,
  opts: { token?: string | null; method?: string; form?: string | URLSearchParams; headers?: Record<string, string>; body?: string } = {},
): Promise<ProxyAnswer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let body: string | undefined = opts.body;
  if (opts.form !== undefined) {
    body = String(opts.form);
    headers['Content-Type'] ??= 'application/x-www-form-urlencoded';
  }
  const res = await fetch(`${base}${pathAndQuery}`, { method: opts.method ?? (body !== undefined ? 'POST' : 'GET'), headers, body });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, text, json, headers: res.headers };
}

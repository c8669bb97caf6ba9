/**
 * `npm run bench:tenant-proxy`: what the tenant proxy adds to the client dashboard's queries.
 *
 * A private PostgreSQL (the portal tokens) and Prometheus scraping a synthetic exporter every
 * second: BENCH_PROXY_CLIENTS clients (default 50) with BENCH_PROXY_WORKFLOWS workflows each (8),
 * every series the Client overview dashboard reads, counters growing on each scrape.
 * `ct serve tenant-proxy` runs as its own process. The query mix is the Client overview's every
 * Prometheus target (clientDashboards() of @ct/dashboards), as Grafana sends them: form POSTs,
 * instant ones at "now", range ones over the last hour at a 15 s step.
 *
 * 0. One at a time: each query of the dashboard ten times, through the proxy and straight to
 *    Prometheus in pairs, nothing else in flight: the proxy's cost to one query by itself.
 * 1. Dashboard load: BENCH_PROXY_VIEWERS viewers (default 10, each a different client) open the
 *    dashboard every BENCH_PROXY_REFRESH seconds (5) for BENCH_PROXY_SECONDS (20), all of a
 *    dashboard's queries at once as Grafana does; each query is sent once through the proxy and
 *    once straight to Prometheus (the same enforced expression), alternating which goes first.
 *    Added latency = proxy − direct for each pair, p50 and p99; the proxy's own histogram too.
 * 2. Throughput: BENCH_PROXY_CONCURRENCY (8) requests in flight for BENCH_PROXY_SECONDS, through
 *    the proxy, then straight to Prometheus.
 * Peak and final resident memory of the proxy process, from /proc.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { clientDashboards, dashboardTargets } from '@ct/dashboards';
import { createPool, migrate } from '@ct/lib';
import { enforceClient as enforce, issuePortalToken } from '@ct/client-portal';
import { startPostgres, startPrometheus } from '../../test/bench/services';
import { freePort, killGroup, waitFor } from '../../test/bench/process';

const ROOT = path.resolve(__dirname, '..', '..');
const num = (name: string, dflt: number) => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number, got ${process.env[name]}`);
  return v;
};
const CLIENTS = num('BENCH_PROXY_CLIENTS', 50);
const WORKFLOWS = num('BENCH_PROXY_WORKFLOWS', 8);
const VIEWERS = Math.min(num('BENCH_PROXY_VIEWERS', 10), CLIENTS);
const REFRESH = num('BENCH_PROXY_REFRESH', 5);
const SECONDS = num('BENCH_PROXY_SECONDS', 20);
const CONCURRENCY = num('BENCH_PROXY_CONCURRENCY', 8);

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const slugOf = (i: number) => `client-${String(i).padStart(3, '0')}`;
/** The expression the proxy sends upstream, computed once per query and client (off the measured path). */
const direct = new Map<string, string>();
const enforceClient = (q: string, slug: string) => {
  const key = `${slug} ${q}`;
  if (!direct.has(key)) direct.set(key, enforce(q, slug));
  return direct.get(key)!;
};

/** The synthetic exporter: every series the Client overview reads, for every client. */
function exporterText(n: number): string {
  const out: string[] = [];
  const fam = (name: string, type: string) => out.push(`# HELP ${name} bench`, `# TYPE ${name} ${type}`);
  const now = Math.floor(Date.now() / 1000);
  fam('ct_workflow_executions_total', 'counter');
  for (let c = 0; c < CLIENTS; c++)
    for (let w = 0; w < WORKFLOWS; w++) {
      out.push(`ct_workflow_executions_total{client="${slugOf(c)}",workflow="wf-${c}-${w}",status="success"} ${n * (1 + w)}`);
      out.push(`ct_workflow_executions_total{client="${slugOf(c)}",workflow="wf-${c}-${w}",status="error"} ${Math.floor(n / 10)}`);
    }
  const perWorkflow = (name: string, value: (c: number, w: number) => number, extra = (_c: number, _w: number) => '') => {
    fam(name, 'gauge');
    for (let c = 0; c < CLIENTS; c++)
      for (let w = 0; w < WORKFLOWS; w++) out.push(`${name}{client="${slugOf(c)}",workflow="wf-${c}-${w}"${extra(c, w)}} ${value(c, w)}`);
  };
  perWorkflow(
    'ct_workflow_active',
    () => 1,
    (c, w) => `,name="Client ${c} · Workflow ${w}"`,
  );
  perWorkflow('ct_workflow_last_success_timestamp_seconds', () => now - 30);
  perWorkflow('ct_workflow_last_failure_timestamp_seconds', () => now - 3600);
  const perClient = (name: string, type: string, value: (c: number) => number, extra = '') => {
    fam(name, type);
    for (let c = 0; c < CLIENTS; c++) out.push(`${name}{client="${slugOf(c)}"${extra}} ${value(c)}`);
  };
  perClient('ct_client_time_saved_seconds_total', 'counter', (c) => n * 60 * (1 + (c % 5)));
  perClient('ct_client_roi_value_total', 'counter', (c) => n * 2.5 * (1 + (c % 3)), ',currency="USD"');
  perClient('ct_client_last_activity_timestamp_seconds', 'gauge', () => now - 10);
  perClient('ct_client_invoices_open', 'gauge', (c) => c % 3);
  perClient('ct_client_invoices_open_amount', 'gauge', (c) => (c % 3) * 99, ',currency="USD"');
  perClient('ct_client_mrr', 'gauge', (c) => 100 + c, ',currency="USD"');
  perClient('client:ct_client_hours_saved:total', 'gauge', (c) => n * (1 + (c % 5)));
  return `${out.join('\n')}\n`;
}

interface Query {
  endpoint: 'query' | 'query_range';
  params: Record<string, string>;
}

/** The Client overview's Prometheus targets, with Grafana's macros filled in as it would. */
function dashboardQueries(): { expr: string; instant: boolean }[] {
  const out: { expr: string; instant: boolean }[] = [];
  for (const { dashboard } of clientDashboards())
    for (const t of dashboardTargets(dashboard))
      if (t.expr !== undefined)
        out.push({
          expr: t.expr
            .replace(/\$__rate_interval\b/g, '1m')
            .replace(/\$__interval\b/g, '15s')
            .replace(/\$__range\b/g, '1h'),
          instant: t.instant,
        });
  return out;
}

function requestFor(q: { expr: string; instant: boolean }, at: number): Query {
  return q.instant
    ? { endpoint: 'query', params: { query: q.expr, time: String(at) } }
    : { endpoint: 'query_range', params: { query: q.expr, start: String(at - 3600), end: String(at), step: '15' } };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

/** One form POST; resolves with its duration in ms (throws on anything but 200). */
function post(base: string, q: Query, token?: string): Promise<number> {
  const body = new URLSearchParams(q.params).toString();
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}/api/v1/${q.endpoint}`,
      {
        method: 'POST',
        agent,
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          'Content-Length': Buffer.byteLength(body),
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 200)}`));
          resolve(Number(process.hrtime.bigint() - started) / 1e6);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const ms = (v: number) => `${v.toFixed(2)} ms`;

function rssOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/**
 * CPU time and time spent runnable but waiting for a core, in ms, summed over a process's threads
 * (/proc/<pid>/task/<tid>/schedstat: ns on a CPU, ns waiting on a run queue, time slices).
 */
function schedOf(pid: number): { cpu: number; wait: number } {
  let cpu = 0;
  let wait = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const [run, queued] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    cpu += (run ?? 0) / 1e6;
    wait += (queued ?? 0) / 1e6;
  }
  return { cpu, wait };
}
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ct-bench-tenant-proxy-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    let scrapes = 0;
    const exporter = http.createServer((_req, res) => {
      scrapes++;
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(exporterText(scrapes));
    });
    await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => exporter.close(resolve)));
    const prometheus = await startPrometheus(dir, {
      config: `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ct_exporters\n    static_configs:\n      - targets: ['127.0.0.1:${(exporter.address() as AddressInfo).port}']\n`,
    });
    cleanups.push(() => prometheus.stop());
    const pg = await startPostgres(dir);
    cleanups.push(() => pg.stop());
    const pool = createPool({ url: pg.url, max: 4, applicationName: 'bench' });
    cleanups.push(() => pool.end());
    await migrate(pool);
    const keyring = { currentId: 'bench', keys: { bench: randomBytes(32).toString('hex') } };
    const tokens: string[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      await pool.query('INSERT INTO clients (slug, name) VALUES ($1, $2)', [slugOf(c), `Client ${c}`]);
      if (c < VIEWERS) tokens.push((await issuePortalToken(pool, keyring, slugOf(c))).token);
    }
    log(`${CLIENTS} clients × ${WORKFLOWS} workflows; ${tokens.length} portal tokens`);

    const port = await freePort();
    const metricsPort = await freePort();
    // BENCH_PROXY_CPU_PROF=<dir>: the proxy writes a V8 CPU profile (.cpuprofile) there when it stops.
    const profile = process.env.BENCH_PROXY_CPU_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_PROXY_CPU_PROF)}`]
      : [];
    const child = spawn(
      process.execPath,
      [...profile, path.join(ROOT, 'cli', 'bin', 'ct.js'), 'serve', 'tenant-proxy', '--port', String(port)],
      {
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: pg.url,
          PROMETHEUS_URL: prometheus.url,
          TENANT_PROXY_METRICS_PORT: String(metricsPort),
          LOG_FORMAT: 'json',
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
        detached: true,
      },
    );
    cleanups.push(() => killGroup(child.pid!));
    const proxyUrl = `http://127.0.0.1:${port}`;
    await waitFor(
      'ct serve tenant-proxy',
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`).catch(() => null))?.ok === true,
      {
        timeoutMs: 30_000,
        pid: child.pid,
      },
    );
    // Enough scrapes for the rates over the dashboard's windows.
    await new Promise((r) => setTimeout(r, 15_000));

    const queries = dashboardQueries();
    log(`Client overview: ${queries.length} Prometheus queries (${queries.filter((q) => q.instant).length} instant)`);
    // Warm both paths (connections, Prometheus caches).
    for (let v = 0; v < VIEWERS; v++)
      for (const q of queries) {
        const r = requestFor(q, Math.floor(Date.now() / 1000));
        await post(proxyUrl, r, tokens[v]);
        await post(prometheus.url, { ...r, params: { ...r.params, query: enforceClient(r.params.query!, slugOf(v)) } });
      }

    // 0. One query at a time, nothing else in flight: what the proxy adds to a query by itself.
    const alone: number[] = [];
    for (let round = 0; round < 10; round++)
      for (const [i, q] of queries.entries()) {
        const v = (round + i) % VIEWERS;
        const r = requestFor(q, Math.floor(Date.now() / 1000));
        const straight = { ...r, params: { ...r.params, query: enforceClient(r.params.query!, slugOf(v)) } };
        const proxyFirst = (round + i) % 2 === 0;
        const a = proxyFirst ? await post(proxyUrl, r, tokens[v]) : await post(prometheus.url, straight);
        const b = proxyFirst ? await post(prometheus.url, straight) : await post(proxyUrl, r, tokens[v]);
        alone.push(proxyFirst ? a - b : b - a);
      }

    // 1. Dashboard load, paired.
    const sched0 = { proxy: schedOf(child.pid!), prometheus: schedOf(prometheus.pid), bench: schedOf(process.pid) };
    const added: number[] = [];
    const viaProxy: number[] = [];
    const straightMs: number[] = [];
    const end = Date.now() + SECONDS * 1000;
    let loads = 0;
    await Promise.all(
      tokens.map(async (token, v) => {
        await new Promise((r) => setTimeout(r, (v * REFRESH * 1000) / VIEWERS));
        while (Date.now() < end) {
          const started = Date.now();
          const at = Math.floor(started / 1000);
          loads++;
          await Promise.all(
            queries.map(async (q, i) => {
              const r = requestFor(q, at);
              const straight = { ...r, params: { ...r.params, query: enforceClient(r.params.query!, slugOf(v)) } };
              const proxyFirst = (loads + i) % 2 === 0;
              const a = proxyFirst ? await post(proxyUrl, r, token) : await post(prometheus.url, straight);
              const b = proxyFirst ? await post(prometheus.url, straight) : await post(proxyUrl, r, token);
              const [p, d] = proxyFirst ? [a, b] : [b, a];
              viaProxy.push(p);
              straightMs.push(d);
              added.push(p - d);
            }),
          );
          await new Promise((r) => setTimeout(r, Math.max(0, REFRESH * 1000 - (Date.now() - started))));
        }
      }),
    );
    const sched1 = { proxy: schedOf(child.pid!), prometheus: schedOf(prometheus.pid), bench: schedOf(process.pid) };
    const load1 = loadAverage();
    const perQuery = (who: keyof typeof sched0, what: 'cpu' | 'wait') => (sched1[who][what] - sched0[who][what]) / added.length;
    const own = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    // One line per endpoint and bucket: ct_tenant_proxy_added_latency_seconds_bucket{le="0.001",endpoint="query"} 12
    const bucket = (le: string) =>
      own
        .split('\n')
        .filter((line) => line.startsWith('ct_tenant_proxy_added_latency_seconds_bucket{') && line.includes(`le="${le}"`))
        .filter((line) => /endpoint="query(_range)?"/.test(line))
        .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    const total = bucket('+Inf');
    const underMs = (le: string) => `${((100 * bucket(le)) / total).toFixed(1)} %`;

    // 2. Throughput at fixed concurrency.
    const throughput = async (through: 'proxy' | 'direct') => {
      let done = 0;
      const stop = Date.now() + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_x, k) => {
          for (let i = k; Date.now() < stop; i++) {
            const v = i % VIEWERS;
            const r = requestFor(queries[i % queries.length]!, Math.floor(Date.now() / 1000));
            if (through === 'proxy') await post(proxyUrl, r, tokens[v]);
            else await post(prometheus.url, { ...r, params: { ...r.params, query: enforceClient(r.params.query!, slugOf(v)) } });
            done++;
          }
        }),
      );
      return done;
    };
    const tp0 = schedOf(child.pid!).cpu;
    const doneProxy = await throughput('proxy');
    const proxyCpuPerQuery = (schedOf(child.pid!).cpu - tp0) / doneProxy;
    const tpProxy = doneProxy / SECONDS;
    const tpDirect = (await throughput('direct')) / SECONDS;
    const mem = rssOf(child.pid!);

    const rows = [
      [
        `added latency, one query at a time (${alone.length} pairs, nothing else in flight), p50 / p99`,
        `${ms(quantile(alone, 0.5))} / ${ms(quantile(alone, 0.99))}`,
      ],
      ['dashboard loads (each all its queries at once)', `${loads} by ${VIEWERS} viewers in ${SECONDS} s (one every ${REFRESH} s each)`],
      ['queries measured (pairs)', String(added.length)],
      ['latency straight to Prometheus, p50 / p99', `${ms(quantile(straightMs, 0.5))} / ${ms(quantile(straightMs, 0.99))}`],
      ['latency through the proxy, p50 / p99', `${ms(quantile(viaProxy, 0.5))} / ${ms(quantile(viaProxy, 0.99))}`],
      ['**added latency (proxy − direct, per pair), p50 / p99**', `**${ms(quantile(added, 0.5))} / ${ms(quantile(added, 0.99))}**`],
      [
        "proxy's own added-latency histogram: ≤ 1 ms / ≤ 2.5 ms / ≤ 5 ms",
        `${underMs('0.001')} / ${underMs('0.0025')} / ${underMs('0.005')}`,
      ],
      [
        'per query pair under dashboard load, CPU / waiting for a core: proxy',
        `${ms(perQuery('proxy', 'cpu'))} / ${ms(perQuery('proxy', 'wait'))}`,
      ],
      ['… Prometheus (both queries of the pair)', `${ms(perQuery('prometheus', 'cpu'))} / ${ms(perQuery('prometheus', 'wait'))}`],
      ['… this load generator (both queries of the pair)', `${ms(perQuery('bench', 'cpu'))} / ${ms(perQuery('bench', 'wait'))}`],
      ['machine load average (1, 5, 15 min) at the end of the dashboard load', `${load1} on ${availableParallelism()} cores`],
      [`throughput, ${CONCURRENCY} in flight: through the proxy / direct`, `${tpProxy.toFixed(0)} / ${tpDirect.toFixed(0)} queries/s`],
      ["proxy's CPU per query at that throughput", ms(proxyCpuPerQuery)],
      ['proxy resident memory: at the end / peak', `${mem.rss.toFixed(0)} MB / ${mem.peak.toFixed(0)} MB`],
    ];
    process.stdout.write(`| measurement | result |\n| --- | --- |\n${rows.map(([a, b]) => `| ${a} | ${b} |`).join('\n')}\n`);
  } finally {
    agent.destroy();
    for (const c of cleanups.reverse()) await c().catch((err: Error) => log(`cleanup: ${err.message}`));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});

/**
 * `npm run bench:exporters`: scrape latency and peak memory of `ct serve exporters` on a seeded
 * platform database, at 500k and at 5M activity events, compared with Debian's
 * prometheus-postgres-exporter computing the same billing and activity figures from a custom
 * queries file. Sizes scale with BENCH_CLIENTS, BENCH_WORKFLOWS_PER_CLIENT, BENCH_EVENTS,
 * BENCH_EVENTS_SMALL, BENCH_INVOICES and BENCH_SCRAPES; BENCH_WRITE_DOCS=1 writes the figures into
 * docs/benchmarks.md. BENCH_EXPORTERS_INGEST=1 measures as in production, where activity events
 * arrive all day: before each scrape the webhook path stores BENCH_INGEST_EVENTS events (default 5)
 * for random clients, and the activity collector's parts read again are counted.
 *
 * n8n is stood in for by a small HTTP server answering the two public-API routes the exporter
 * polls, with one workflow per seeded automation: creating 20,000 workflows in a real n8n is not
 * what is measured here (the real n8n is exercised by test/exporters/n8n.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get as httpGet, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool, migrate, type Pool } from '@ct/lib';
import { ActivityCollector } from '@ct/exporters';
import { EventBatcher } from '../../api/src/event-batcher';
import { startPostgres } from '../../test/bench/services';
import { freePort, httpStatus, killGroup, waitFor } from '../../test/bench/process';
import { deployedExporterNode } from './deployed';

const ROOT = path.resolve(__dirname, '..', '..');
const num = (name: string, dflt: number) => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${process.env[name]}`);
  return v;
};
const CLIENTS = num('BENCH_CLIENTS', 1000);
const WORKFLOWS = num('BENCH_WORKFLOWS_PER_CLIENT', 20);
const EVENTS = num('BENCH_EVENTS', 5_000_000);
const EVENTS_SMALL = num('BENCH_EVENTS_SMALL', 500_000);
const INVOICES = num('BENCH_INVOICES', 100_000);
const SCRAPES = num('BENCH_SCRAPES', 200);
const INGEST = process.env.BENCH_EXPORTERS_INGEST === '1';
const INGEST_EVENTS = num('BENCH_INGEST_EVENTS', 5);
// What Prometheus 2.42 sends: it gets OpenMetrics from the exporter, the text format from postgres_exporter.
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  const r = await fn();
  log(`${what}: ${((Date.now() - t) / 1000).toFixed(1)}s`);
  return r;
}

export async function seed(pool: Pool): Promise<void> {
  await pool.query(
    `INSERT INTO clients (slug, name, status, created_at)
     SELECT 'client-' || lpad(g::text, 5, '0'), 'Client ' || g,
            CASE WHEN g % 20 = 0 THEN 'churned' WHEN g % 20 = 1 THEN 'paused' ELSE 'active' END,
            now() - (g % 365) * interval '1 day'
       FROM generate_series(1, $1) g`,
    [CLIENTS],
  );
  await pool.query(
    `INSERT INTO automations (client_id, n8n_workflow_id, name, minutes_saved_per_run, hourly_value_cents, currency)
     SELECT c.id, 'wf-' || c.slug || '-' || w, 'Automation ' || w, 1 + w % 15, 3000 + 100 * (w % 10),
            CASE WHEN w % 10 = 0 THEN 'EUR' ELSE 'USD' END
       FROM clients c CROSS JOIN generate_series(1, $1) w`,
    [WORKFLOWS],
  );
  await pool.query(
    `INSERT INTO subscriptions (client_id, monthly_amount_cents, currency, started_at, canceled_at)
     SELECT id, 5000 + (hashtext(slug) & 65535) % 45000, CASE WHEN slug LIKE '%7' THEN 'EUR' ELSE 'USD' END,
            created_at, CASE WHEN status = 'churned' THEN now() - interval '1 day' END
       FROM clients`,
  );
  await pool.query(
    `INSERT INTO invoices (client_id, number, amount_cents, currency, status, issued_at, due_at, paid_at)
     SELECT c.id, 'INV-' || g, 1000 + g % 50000, CASE WHEN g % 10 = 7 THEN 'EUR' ELSE 'USD' END,
            CASE WHEN g % 100 < 95 THEN 'paid' ELSE 'open' END,
            now() - (g % 400) * interval '1 day',
            now() - (g % 400) * interval '1 day' + interval '30 days',
            CASE WHEN g % 100 < 95 THEN now() - (g % 400) * interval '1 day' + interval '10 days' END
       FROM generate_series(1, $1) g
       JOIN (SELECT id, row_number() OVER (ORDER BY slug) - 1 AS n FROM clients) c ON c.n = g % $2`,
    [INVOICES, CLIENTS],
  );
  // What execution ingestion accumulates: every workflow has successes, a quarter has failures.
  await pool.query(
    `INSERT INTO workflow_execution_counts (n8n_instance, n8n_workflow_id, status, executions, webhook_executions, last_stopped_at)
     SELECT 'default', a.n8n_workflow_id, s.status, 1 + (hashtext(a.n8n_workflow_id || s.status) & 4095),
            CASE WHEN s.status = 'error' THEN 1 ELSE 0 END, now() - interval '1 hour'
       FROM automations a CROSS JOIN (VALUES ('success'), ('error'), ('crashed')) s(status)
      WHERE s.status = 'success' OR (s.status = 'error' AND hashtext(a.n8n_workflow_id) % 4 = 0)
         OR (s.status = 'crashed' AND hashtext(a.n8n_workflow_id) % 50 = 0)`,
  );
  await pool.query(
    `INSERT INTO client_savings (client_id, currency, runs, minutes_saved, value_cents)
     SELECT client_id, currency, 100 * count(*), 100 * sum(minutes_saved_per_run), 100 * sum(minutes_saved_per_run / 60 * hourly_value_cents)
       FROM automations GROUP BY 1, 2`,
  );
  await pool.query(
    `INSERT INTO client_webhook_failures (client_id, failures)
     SELECT a.client_id, sum(w.webhook_executions) FROM workflow_execution_counts w
       JOIN automations a ON a.n8n_workflow_id = w.n8n_workflow_id WHERE w.status IN ('error', 'crashed') GROUP BY 1`,
  );
  await pool.query(
    `INSERT INTO client_daily_stats (client_id, day, workflow_runs, failures, minutes_saved)
     SELECT c.id, current_date - d, 200, d % 5, 1000 FROM clients c CROSS JOIN generate_series(0, 29) d`,
  );
  await pool.query(
    `INSERT INTO backup_runs (kind, status, started_at, finished_at, bytes)
     SELECT k, CASE WHEN g % 7 = 0 THEN 'failed' ELSE 'succeeded' END, now() - g * interval '1 hour',
            now() - g * interval '1 hour' + interval '2 minutes', CASE WHEN g % 7 <> 0 THEN 1000000 + g END
       FROM unnest(ARRAY['database', 'n8n', 'drill']) k CROSS JOIN generate_series(1, 500) g`,
  );
  await pool.query(`INSERT INTO audit_verifications (ok, rows_checked) VALUES (true, 0)`);
}

/** Adds activity events up to `total`, in batches (the counting trigger runs once per batch). */
export async function seedEvents(pool: Pool, from: number, total: number): Promise<void> {
  const batch = 500_000;
  for (let start = from; start < total; start += batch) {
    const end = Math.min(total, start + batch);
    await pool.query(
      `INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key, details)
       SELECT c.id, (ARRAY['lead.captured', 'order.placed', 'invoice.sent', 'review.received', 'booking.made'])[1 + (g / $3) % 5],
              now() - (g % 2160) * interval '1 hour', 'bench-' || g, '{}'
         FROM generate_series($1::bigint + 1, $2::bigint) g
         JOIN (SELECT id, row_number() OVER (ORDER BY slug) - 1 AS n FROM clients) c ON c.n = g % $3`,
      [start, end, CLIENTS],
    );
    log(`  ${end.toLocaleString('en')} activity events`);
  }
  await pool.query('VACUUM ANALYZE');
}

/** Answers the n8n public-API routes the exporter polls: one active workflow per automation. */
export async function startFakeN8n(pool: Pool): Promise<{ url: string; server: Server }> {
  const { rows } = await pool.query<{ id: string }>('SELECT n8n_workflow_id AS id FROM automations ORDER BY 1');
  const workflows = rows.map((r, i) => ({
    id: r.id,
    name: `Automation ${i}`,
    active: true,
    nodes: [{ type: i % 2 ? 'n8n-nodes-base.webhook' : 'n8n-nodes-base.scheduleTrigger', name: 'Trigger' }],
  }));
  const running = workflows.slice(0, 50).map((w, i) => ({
    id: String(1_000_000 + i),
    workflowId: w.id,
    status: 'running',
    startedAt: new Date(Date.now() - i * 60_000).toISOString(),
    stoppedAt: null,
  }));
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const json = (body: unknown) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    };
    if (u.pathname === '/api/v1/workflows') {
      const limit = Number(u.searchParams.get('limit') ?? 100);
      const offset = Number(u.searchParams.get('cursor') ?? 0);
      const next = offset + limit < workflows.length ? String(offset + limit) : null;
      return json({ data: workflows.slice(offset, offset + limit), nextCursor: next });
    }
    if (u.pathname === '/api/v1/executions') {
      return json({ data: u.searchParams.get('status') === 'running' ? running : [], nextCursor: null });
    }
    res.statusCode = 404;
    json({ message: 'not found' });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, server };
}

interface Daemon {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startOurs(databaseUrl: string, n8nUrl: string, logFile: string): Promise<Daemon> {
  const port = await freePort();
  const node = deployedExporterNode();
  const child = spawn(
    process.execPath,
    [...node.args, path.join(ROOT, 'cli', 'bin', 'ct.js'), 'serve', 'exporters', '--port', String(port)],
    {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: databaseUrl,
        N8N_URL: n8nUrl,
        N8N_API_KEY: 'bench',
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'warn',
        // As docker-compose.yml runs it (heap limits); BENCH_EXPORTER_NODE_OPTIONS overrides them.
        NODE_OPTIONS: process.env.BENCH_EXPORTER_NODE_OPTIONS ?? node.options,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  // Ready once the first n8n poll has rendered the workflow families.
  await waitFor(
    'ct serve exporters',
    async () => (await fetch(`${url}/metrics`).then((r) => r.text())).includes('ct_workflow_executions_total{'),
    { timeoutMs: 120_000, pid: child.pid },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${stderr}`);
  });
  writeFileSync(logFile, stderr);
  return {
    url,
    child,
    stop: () => killGroup(child.pid!),
  };
}

async function startPostgresExporter(dir: string, databaseUrl: string): Promise<Daemon> {
  const port = await freePort();
  const child = spawn(
    'prometheus-postgres-exporter',
    [
      `--web.listen-address=127.0.0.1:${port}`,
      `--extend.query-path=${path.join(__dirname, 'postgres-exporter-queries.yaml')}`,
      '--disable-default-metrics',
      '--disable-settings-metrics',
      '--no-collector.database',
      '--no-collector.bgwriter',
      '--log.level=warn',
    ],
    { env: { PATH: process.env.PATH, DATA_SOURCE_NAME: `${databaseUrl}?sslmode=disable` }, stdio: 'ignore', detached: true, cwd: dir },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor('prometheus-postgres-exporter', async () => (await httpStatus(`${url}/metrics`)) === 200, {
    timeoutMs: 20_000,
    pid: child.pid,
  });
  const first = await (await fetch(`${url}/metrics`)).text();
  if (!first.includes('ct_client_activity_events_total{'))
    throw new Error(`postgres_exporter did not run the custom queries:\n${first.slice(0, 2000)}`);
  return { url, child, stop: () => killGroup(child.pid!) };
}

interface Figures {
  median: number;
  p99: number;
  max: number;
  /** Decoded body size. */
  bytes: number;
  /** Bytes on the wire (gzip). */
  wire: number;
  series: number;
}

/**
 * One scrape as Prometheus makes it (its Accept and Accept-Encoding headers), timed until the
 * last byte of the response arrives, as sent (decompressing and parsing are the scraper's work).
 */
function timedScrape(url: string): Promise<{ ms: number; status: number; wireBytes: number }> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const req = httpGet(`${url}/metrics`, { headers: { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip' } }, (res) => {
      let wireBytes = 0;
      res.on('data', (c: Buffer) => (wireBytes += c.length));
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t) / 1e6, status: res.statusCode ?? 0, wireBytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** What runs around each scrape, outside its timing (BENCH_EXPORTERS_INGEST). */
interface Around {
  before(): Promise<void>;
  after?(): Promise<void>;
}

async function scrapeMany(url: string, n: number, around?: Around): Promise<Figures> {
  const times: number[] = [];
  let wire = 0;
  for (let i = 0; i < n + 5; i++) {
    await around?.before();
    const r = await timedScrape(url);
    await around?.after?.();
    if (r.status !== 200) throw new Error(`${url}/metrics answered ${r.status}`);
    if (i < 5) continue; // warm-up
    times.push(r.ms);
    wire = r.wireBytes;
  }
  // Size and series of the decoded body, outside the timing.
  const body = await (await fetch(`${url}/metrics`, { headers: { accept: PROMETHEUS_ACCEPT } })).text();
  const series = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!;
  return { median: at(0.5), p99: at(0.99), max: times[times.length - 1]!, bytes: body.length, wire, series };
}

/**
 * BENCH_EXPORTERS_INGEST: a webhook batch before each scrape, stored by the API's batcher (its
 * events' counters move, and their clients' last activity is touched); and after each scrape of
 * ours, a collector in this process reads the same database, to count the parts of the activity
 * figures that the changes make the exporter read again (outside the timing).
 */
class Ingestion {
  private readonly batcher: EventBatcher;
  private activity: ActivityCollector | null = null;
  private scrapes = 0;

  constructor(
    private readonly pool: Pool,
    private readonly clients: readonly string[],
  ) {
    this.batcher = new EventBatcher(pool);
  }

  /** Around the scrapes of postgres_exporter: the batches. */
  readonly batches: Around = { before: () => this.batch() };

  /** Around the scrapes of ours: the batches, and the count of what they make it read again. */
  ours(): Around {
    const activity = (this.activity = new ActivityCollector(this.pool));
    this.scrapes = 0;
    return {
      before: () => this.batch(),
      after: async () => {
        (await activity.read())();
        this.scrapes += 1;
      },
    };
  }

  /** What the last scrapes of ours read again, the first scrape (which reads everything) left out. */
  reads(): string {
    const cache = this.activity!.cache;
    const parts = (['events', 'savings', 'webhooks', 'window'] as const).map((p) => `${p} ${cache.partLoads(p) - 1}`);
    return `activity parts read again over ${this.scrapes - 1} scrapes: ${parts.join(', ')}; any part (one cache for all, as before the split) ${cache.loads - 1}`;
  }

  private async batch(): Promise<void> {
    await Promise.all(
      Array.from({ length: INGEST_EVENTS }, () =>
        this.batcher.write({
          clientId: this.clients[Math.floor(Math.random() * this.clients.length)]!,
          kind: 'lead.captured',
          occurredAt: null,
          details: '{}',
          idempotencyKey: `bench-ingest-${randomUUID()}`,
        }),
      ),
    );
  }
}

/** Peak resident memory of a process (VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The machine's 1-minute load average when the benchmark started (the figures move with it). */
const LOAD_BEFORE = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ct-bench-exporters-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const pg = await timed('postgres', () => startPostgres(dir));
    cleanups.push(() => pg.stop());
    const pool = createPool({ url: pg.url, max: 4, applicationName: 'ct-bench' });
    cleanups.push(() => pool.end());
    await migrate(pool);
    await timed(`seed ${CLIENTS} clients × ${WORKFLOWS} workflows, ${INVOICES} invoices`, () => seed(pool));
    await timed(`seed ${EVENTS_SMALL.toLocaleString('en')} events`, () => seedEvents(pool, 0, EVENTS_SMALL));
    const n8n = await startFakeN8n(pool);
    cleanups.push(() => new Promise((r) => n8n.server.close(r)));

    const ingestion = INGEST
      ? new Ingestion(
          pool,
          (await pool.query<{ id: string }>('SELECT id FROM clients')).rows.map((r) => r.id),
        )
      : null;
    const results: Record<string, Figures & { rss?: number }> = {};
    const reads: string[] = [];
    const measure = async (label: string) => {
      const ours = await startOurs(pg.url, n8n.url, path.join(dir, 'exporter.log'));
      try {
        const around = ingestion?.ours();
        results[`ct-exporters @ ${label}`] = {
          ...(await timed(`${SCRAPES} scrapes of ct-exporters @ ${label}`, () => scrapeMany(ours.url, SCRAPES, around))),
          rss: peakRssMb(ours.child.pid!),
        };
        if (ingestion) reads.push(`- ct-exporters @ ${label}: ${ingestion.reads()}`);
      } finally {
        await ours.stop();
      }
      const theirs = await startPostgresExporter(dir, pg.url);
      try {
        results[`postgres_exporter @ ${label}`] = {
          ...(await timed(`${SCRAPES} scrapes of postgres_exporter @ ${label}`, () => scrapeMany(theirs.url, SCRAPES, ingestion?.batches))),
          rss: peakRssMb(theirs.child.pid!),
        };
      } finally {
        await theirs.stop();
      }
    };
    const small = `${EVENTS_SMALL.toLocaleString('en')} events`;
    const large = `${EVENTS.toLocaleString('en')} events`;
    await measure(small);
    await timed(`seed up to ${large}`, () => seedEvents(pool, EVENTS_SMALL, EVENTS));
    await measure(large);

    const dbSize = (await pool.query<{ s: string }>('SELECT pg_size_pretty(pg_database_size(current_database())) AS s')).rows[0]!.s;
    const oursLarge = results[`ct-exporters @ ${large}`]!;
    const theirsLarge = results[`postgres_exporter @ ${large}`]!;
    const ratio = oursLarge.p99 / theirsLarge.p99;
    const growth = oursLarge.p99 / results[`ct-exporters @ ${small}`]!.p99;
    const f = (v: number) => v.toFixed(1);
    const f3 = (v: number) => v.toFixed(3);
    const table = [
      '| exporter @ activity events | series | body (KB) | on the wire, gzip (KB) | median (ms) | p99 (ms) | max (ms) | peak RSS (MB) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...Object.entries(results).map(
        ([k, r]) =>
          `| ${k} | ${r.series} | ${Math.round(r.bytes / 1024)} | ${Math.round(r.wire / 1024)} | ${f(r.median)} | ${f(r.p99)} | ${f(r.max)} | ${f(r.rss ?? NaN)} |`,
      ),
    ].join('\n');
    // Cost per series: what one more thousand series costs each exporter, in this run.
    const perSeries = (r: Figures & { rss?: number }) => {
      const k = r.series / 1000;
      return { median: r.median / k, p99: r.p99 / k, rss: (r.rss ?? NaN) / k };
    };
    const costRows = [
      ['ct-exporters', oursLarge],
      ['postgres_exporter', theirsLarge],
    ] as const;
    const costTable = [
      `| exporter @ ${large} | series | median scrape (ms) per 1,000 series | p99 scrape (ms) per 1,000 series | peak RSS (MB) per 1,000 series |`,
      '| --- | ---: | ---: | ---: | ---: |',
      ...costRows.map(([name, r]) => {
        const c = perSeries(r);
        return `| ${name} | ${r.series} | ${f3(c.median)} | ${f3(c.p99)} | ${f3(c.rss)} |`;
      }),
    ].join('\n');
    const ours = perSeries(oursLarge);
    const theirs = perSeries(theirsLarge);
    const met = (ok: boolean) => (ok ? 'met' : '**not met**');
    const summary = [
      `Seed: ${CLIENTS} clients × ${WORKFLOWS} workflows, ${INVOICES.toLocaleString('en')} invoices, ${large} (database ${dbSize}); ${SCRAPES} sequential scrapes after 5 warm-up ones, each timed until its last byte arrives${INGEST ? `, each after a webhook batch of ${INGEST_EVENTS} events for random clients` : ''}; load average before the run ${LOAD_BEFORE}.`,
      '',
      table,
      '',
      costTable,
      '',
      `- ct-exporters at ${large}: p99 ${f(oursLarge.p99)} ms (target ≤ 30: ${met(oursLarge.p99 <= 30)}), peak RSS ${f(oursLarge.rss ?? NaN)} MB (target ≤ 100: ${met((oursLarge.rss ?? Infinity) <= 100)})`,
      `- cost per series, ct-exporters / postgres_exporter: median scrape ${(ours.median / theirs.median).toFixed(2)}×, p99 ${(ours.p99 / theirs.p99).toFixed(2)}×, RSS ${(ours.rss / theirs.rss).toFixed(2)}×`,
      `- p99 ratio ct-exporters / postgres_exporter at ${large}: **${ratio.toFixed(2)}**`,
      `- ct-exporters p99 at ${large} / at ${small}: ${growth.toFixed(2)} (flat: the scrape reads counters, not events)`,
      ...reads,
    ].join('\n');
    process.stdout.write(`${summary}\n`);
    if (process.env.BENCH_WRITE_DOCS === '1') writeDocs(summary);
  } finally {
    for (const c of cleanups.reverse()) await c().catch((err: Error) => log(`cleanup: ${err.message}`));
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeDocs(summary: string): void {
  const file = path.join(ROOT, 'docs', 'benchmarks.md');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = '# Benchmarks\n';
  }
  const marker = /<!-- exporters:begin -->[\s\S]*<!-- exporters:end -->/;
  const block = `<!-- exporters:begin -->\n_Measured ${new Date().toISOString().slice(0, 16)} UTC on the 2-core bench machine._\n\n${summary}\n<!-- exporters:end -->`;
  if (marker.test(text)) text = text.replace(marker, block);
  else text = `${text.trimEnd()}\n\n## Exporters\n\n${block}\n`;
  writeFileSync(file, text);
  log(`wrote ${path.relative(ROOT, file)}`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`bench:exporters failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { N8nClient } from '@ct/lib';
import { startExporter, type RunningExporter } from '@ct/exporters';
import { startPrometheus, type PrometheusService } from '../bench/services';
import { sleep } from '../bench/process';
import { benchEnv, createTestDatabase, type TestDatabase } from '../helpers/db';

/** A real Prometheus scrapes the exporter through a generated scrape config. */
jest.setTimeout(90_000);

let dir: string;
let db: TestDatabase;
let exporter: RunningExporter;
let prometheus: PrometheusService;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-exporters-prom-'));
  db = await createTestDatabase({ prefix: 'exporters_prom' });
  const { rows } = await db.pool.query<{ id: string }>(`INSERT INTO clients (slug, name) VALUES ('pizza-shop', 'Pizza Shop') RETURNING id`);
  await db.pool.query(
    `INSERT INTO subscriptions (client_id, monthly_amount_cents, currency, started_at) VALUES ($1, 12345, 'USD', now() - interval '1 day')`,
    [rows[0]!.id],
  );
  await db.pool.query(
    `INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key) VALUES ($1, 'lead.captured', now(), 'k1'), ($1, 'lead.captured', now(), 'k2')`,
    [rows[0]!.id],
  );
  // Per-workflow families are served from the poll's cached gzip members: Prometheus must read them too.
  await db.pool.query(
    `INSERT INTO workflow_execution_counts (n8n_instance, n8n_workflow_id, status, executions, last_stopped_at)
     VALUES ('default', 'wf-seeded', 'success', 3, now()), ('default', 'wf-seeded', 'crashed', 1, now())`,
  );
  const n8n = new N8nClient({ url: benchEnv('N8N_URL'), apiKey: benchEnv('N8N_API_KEY') });
  exporter = await startExporter({ pool: db.appPool, n8n, n8nIntervalSeconds: 1, port: 0 });
  const target = new URL(exporter.url).host;
  prometheus = await startPrometheus(dir, {
    config: `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ct-exporters
    static_configs:
      - targets: ['${target}']
`,
  });
});

afterAll(async () => {
  await prometheus?.stop();
  await exporter?.stop();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`query ${promql} failed: ${JSON.stringify(body)}`);
  return body.data.result;
}

async function untilValue(promql: string, expected: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last: unknown;
  while (Date.now() < deadline) {
    const result = await query(promql);
    last = result;
    if (result.length === 1 && result[0]!.value[1] === expected) return;
    await sleep(500);
  }
  throw new Error(`${promql}: expected one series of value ${expected}, last result ${JSON.stringify(last)}`);
}

test('Prometheus scrapes the exporter and answers queries with the right values', async () => {
  await untilValue('up{job="ct-exporters"}', '1');
  await untilValue('ct_mrr{currency="USD"}', '123.45');
  await untilValue('ct_client_mrr{client="pizza-shop",currency="USD"}', '123.45');
  await untilValue('ct_clients{status="active"}', '1');
  // A counter through OpenMetrics, which Prometheus asks for first.
  await untilValue('ct_client_activity_events_total{client="pizza-shop",kind="lead.captured"}', '2');
  await untilValue('sum(ct_exporter_collector_up)', '5');
  await untilValue('ct_n8n_up', '1');
  await untilValue('ct_workflow_executions_total{client="unassigned",workflow="wf-seeded",status="success"}', '3');
  await untilValue('ct_workflow_executions_total{client="unassigned",workflow="wf-seeded",status="crashed"}', '1');
  const targets = (await (await fetch(`${prometheus.url}/api/v1/targets`)).json()) as {
    data: { activeTargets: { health: string; lastError: string }[] };
  };
  expect(targets.data.activeTargets).toEqual([expect.objectContaining({ health: 'up', lastError: '' })]);
});

test('promtool check metrics finds nothing to report on a real scrape but the one contracted name', async () => {
  const text = await (await fetch(`${exporter.url}/metrics`)).text();
  expect(text).toContain('ct_client_activity_events_total{client="pizza-shop",kind="lead.captured"} 2');
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: '', stderr: '' });
});

test('OpenMetrics when the scraper asks for it, the text format otherwise', async () => {
  const om = await fetch(`${exporter.url}/metrics`, { headers: { accept: 'application/openmetrics-text;version=1.0.0' } });
  expect(om.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
  const omText = await om.text();
  expect(omText).toContain('# TYPE ct_client_activity_events counter');
  expect(omText.endsWith('# EOF\n')).toBe(true);
  const plain = await fetch(`${exporter.url}/metrics`);
  expect(plain.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  expect(await plain.text()).toContain('# TYPE ct_client_activity_events_total counter');
  // gzip: the head compressed per scrape, the per-workflow families as cached members; decoded
  // whole, the body equals the plain one apart from the figures that change between scrapes.
  const strip = (t: string) =>
    t
      .split('\n')
      .filter((l) => !/^ct_exporter_|^ct_database_|_age_seconds|_timestamp_seconds|_activity_score/.test(l))
      .join('\n');
  const [gz, id] = await Promise.all(
    ['gzip', 'identity'].map((enc) =>
      fetch(`${exporter.url}/metrics`, { headers: { accept: 'application/openmetrics-text;version=1.0.0', 'accept-encoding': enc } }),
    ),
  );
  expect(gz!.headers.get('content-encoding')).toBe('gzip');
  expect(id!.headers.get('content-encoding')).toBeNull();
  const [gzText, idText] = [await gz!.text(), await id!.text()];
  expect(gzText).toContain('ct_workflow_executions_total{client="unassigned",workflow="wf-seeded",status="success"} 3');
  expect(gzText.endsWith('# EOF\n')).toBe(true);
  expect(strip(gzText)).toBe(strip(idText));
  const health = await fetch(`${exporter.url}/healthz`);
  expect(health.status).toBe(200);
});

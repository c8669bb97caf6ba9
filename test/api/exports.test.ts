import { Counter, Gauge, Registry } from 'prom-client';
import type { PrometheusService } from '../bench/services';
import { startExportFixture, type ExportFixture } from './export-fixture';
import { startTestApi, type TestApi } from './harness';

/**
 * Metric exports through a real Prometheus (a private one, scraping a small exporter of the
 * catalogue's metric names every second), streamed as CSV and JSON.
 */
let fixture: ExportFixture;
let prom: PrometheusService;
let api: TestApi;
const registry = new Registry();
const runs = new Counter({
  name: 'ct_workflow_executions_total',
  help: 'test',
  labelNames: ['client', 'workflow', 'status'],
  registers: [registry],
});
const mrr = new Gauge({ name: 'ct_mrr', help: 'test', labelNames: ['currency'], registers: [registry] });

beforeAll(async () => {
  fixture = await startExportFixture(registry, 'api-exports');
  ({ prom, api } = fixture);
  mrr.set({ currency: 'USD' }, 1234.5);
  // Grow the counters until Prometheus holds enough scrapes of them (slow on a busy machine).
  const samples = async () => {
    const q = encodeURIComponent('count_over_time(ct_workflow_executions_total{client="pizza-shop"}[1m])');
    const body = (await (await fetch(`${prom.url}/api/v1/query?query=${q}`)).json()) as { data: { result: { value: [number, string] }[] } };
    return Number(body.data.result[0]?.value[1] ?? 0);
  };
  const deadline = Date.now() + 45_000;
  while ((await samples()) < 8 && Date.now() < deadline) {
    runs.inc({ client: 'pizza-shop', workflow: 'w1', status: 'success' }, 3);
    runs.inc({ client: 'plumber, "joe"', workflow: 'w2', status: 'error' }, 1);
    await new Promise((r) => setTimeout(r, 500));
  }
}, 90_000);

afterAll(async () => {
  await fixture?.close();
});

const range = () => {
  const to = new Date();
  const from = new Date(to.getTime() - 20_000);
  // increase() over one step needs two scrapes in it: step 5s at a 1s scrape interval.
  return `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}&step=5s`;
};

it('streams a catalogue export as CSV with one row per series and step', async () => {
  const res = await api.call('GET', `/api/admin/exports/client_runs?${range()}&format=csv`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-disposition')).toBe('attachment; filename="client_runs.csv"');
  const lines = res.text.trim().split('\n');
  expect(lines[0]).toBe('timestamp,client,value');
  const pizza = lines.filter((l) => l.includes(',pizza-shop,'));
  expect(pizza.length).toBeGreaterThanOrEqual(1);
  expect(Number(pizza[pizza.length - 1]!.split(',')[2])).toBeGreaterThan(0);
  // Label values are CSV-quoted.
  expect(lines.some((l) => l.includes(',"plumber, ""joe""",'))).toBe(true);
  expect(res.headers.get('transfer-encoding')).toBe('chunked');
});

it('streams JSON, and answers the MRR export', async () => {
  const res = await api.call('GET', `/api/admin/exports/mrr?${range()}&format=json`);
  expect(res.status).toBe(200);
  expect(res.body.export).toBe('mrr');
  expect(res.body.count).toBe(res.body.rows.length);
  expect(res.body.rows[0]).toMatchObject({ currency: 'USD', value: 1234.5 });
});

it('refuses arbitrary queries, bad ranges and too many points; records an audit row', async () => {
  expect((await api.call('GET', `/api/admin/exports/${encodeURIComponent('up')}?${range()}`)).body.fields[0].field).toBe('name');
  const tooMany = await api.call('GET', '/api/admin/exports/mrr?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&step=1s');
  expect(tooMany.body.fields[0].field).toBe('step');
  const backwards = await api.call('GET', '/api/admin/exports/mrr?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z');
  expect(backwards.body.fields[0].field).toBe('to');
  // Rows are written when a stream ends; refused requests record nothing.
  const exported = async () =>
    (
      await api.pool.query(
        // The two exports may end in either order: their rows by name.
        "SELECT target_id, outcome, (details->>'rows')::int AS rows FROM audit_logs WHERE action = 'metrics.export' ORDER BY target_id",
      )
    ).rows;
  for (let i = 0; i < 20 && (await exported()).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  const rows = await exported();
  expect(rows.map((r) => [r.target_id, r.outcome])).toEqual([
    ['client_runs', 'success'],
    ['mrr', 'success'],
  ]);
  expect(rows[1].rows).toBeGreaterThan(0);
});

it('answers 502 when Prometheus is unreachable', async () => {
  const down = await startTestApi({ db: api.db, settings: { prometheusUrl: 'http://127.0.0.1:1' } });
  try {
    const res = await down.call('GET', `/api/admin/exports/mrr?${range()}`);
    expect(res.status).toBe(502);
    expect(res.body.message).toMatch(/Prometheus is unreachable/);
    const { rows } = await api.pool.query("SELECT outcome FROM audit_logs WHERE action = 'metrics.export' AND details ? 'error'");
    expect(rows).toEqual([{ outcome: 'failure' }]);
  } finally {
    await down.close();
  }
});

it('splits long ranges into windows without losing or repeating points', async () => {
  const to = new Date(Math.floor(Date.now() / 1000) * 1000);
  const at = (from: Date) =>
    api.call('GET', `/api/admin/exports/mrr?from=${from.toISOString()}&to=${to.toISOString()}&step=1s&format=json`);
  const short = await at(new Date(to.getTime() - 60_000)); // one query_range window
  const long = await at(new Date(to.getTime() - 2 * 3600_000)); // 7,200 steps: two windows
  expect(long.status).toBe(200);
  const ts = (r: typeof long) => r.body.rows.map((x: { timestamp: string }) => x.timestamp);
  expect(ts(short).length).toBeGreaterThan(0);
  expect(ts(long)).toEqual(ts(short));
});

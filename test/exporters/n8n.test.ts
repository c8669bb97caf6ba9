import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { N8nClient, createPool, type N8nWorkflow, type Pool } from '@ct/lib';
import { startExporter, type RunningExporter } from '@ct/exporters';
import { startN8n, type N8nService } from '../bench/services';
import { sleep } from '../bench/process';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { parseMetrics, seriesOf, valueOf, type Sample } from '../helpers/metrics';

/**
 * A private n8n (it is stopped and restarted here) running Webhook-triggered workflows for two
 * clients: one that succeeds, one whose Code node throws, one whose Code node sleeps, and one no
 * client owns. The exporter's metrics must show exactly those runs, keep counting across a
 * restart of the exporter and of n8n, and report n8n down without failing the scrape.
 */
jest.setTimeout(180_000);

const SLOW_MS = 8000;
let dir: string;
let n8n: N8nService;
let api: N8nClient;
let db: TestDatabase;
let exporter: RunningExporter;
let exporterPool: Pool;
const wf: Record<'ok' | 'fail' | 'slow' | 'unmapped', N8nWorkflow> = {} as never;
const paths: Record<string, string> = {};

function webhookWorkflow(name: string, hookPath: string, jsCode: string) {
  return {
    name,
    nodes: [
      {
        id: 'webhook',
        name: 'Webhook',
        type: 'n8n-nodes-base.webhook',
        typeVersion: 2,
        position: [0, 0],
        webhookId: hookPath,
        parameters: { httpMethod: 'POST', path: hookPath, responseMode: 'onReceived' },
      },
      { id: 'code', name: 'Code', type: 'n8n-nodes-base.code', typeVersion: 2, position: [220, 0], parameters: { jsCode } },
    ],
    connections: { Webhook: { main: [[{ node: 'Code', type: 'main', index: 0 }]] } },
    settings: { executionOrder: 'v1' },
  };
}

async function trigger(which: keyof typeof wf, body: object = {}): Promise<void> {
  const res = await fetch(`${n8n.url}/webhook/${paths[which]}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`webhook ${which} answered ${res.status}: ${await res.text()}`);
}

/** Waits until n8n lists `count` finished executions (any workflow). */
async function untilFinished(count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const all = await api.listExecutions();
    if (all.filter((e) => e.status !== 'running' && e.status !== 'new').length >= count) return;
    await sleep(250);
  }
  throw new Error(`n8n did not finish ${count} executions in time`);
}

async function scrape(): Promise<{ status: number; samples: Sample[] }> {
  const res = await fetch(`${exporter.url}/metrics`);
  return { status: res.status, samples: parseMetrics(await res.text()) };
}

/** Scrapes until `check` holds (the poll runs every second), failing with the last scrape. */
async function until(check: (s: Sample[]) => boolean, what: string): Promise<Sample[]> {
  const deadline = Date.now() + 30_000;
  let last: Sample[] = [];
  while (Date.now() < deadline) {
    last = (await scrape()).samples;
    if (check(last)) return last;
    await sleep(300);
  }
  throw new Error(
    `${what}: not reached; last ct_workflow_executions_total=${JSON.stringify(seriesOf(last, 'ct_workflow_executions_total'))}`,
  );
}

async function startOurExporter(): Promise<void> {
  exporterPool = createPool({ url: db.url, max: 5, applicationName: 'ct-exporters-test' });
  exporter = await startExporter({ pool: exporterPool, n8n: api, n8nIntervalSeconds: 1, n8nTimeoutSeconds: 5, port: 0 });
}

async function stopOurExporter(): Promise<void> {
  await exporter.stop();
  await exporterPool.end();
}

const total = (s: Sample[], w: keyof typeof wf, status: string) =>
  s.find((x) => x.name === 'ct_workflow_executions_total' && x.labels.workflow === wf[w].id && x.labels.status === status)?.value;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-exporters-n8n-'));
  // A short shutdown grace, so stopping n8n interrupts the long run instead of waiting for it.
  [n8n, db] = await Promise.all([
    startN8n(dir, { extraEnv: { N8N_GRACEFUL_SHUTDOWN_TIMEOUT: '1' } }),
    createTestDatabase({ prefix: 'exporters_n8n' }),
  ]);
  api = new N8nClient({ url: n8n.url, apiKey: n8n.apiKey, timeoutSeconds: 5 });
  const stamp = Date.now().toString(36);
  const codes = {
    ok: 'return [{ json: { ok: true } }];',
    fail: 'throw new Error("the supplier API rejected the order");',
    slow: `const ms = $input.first().json.body.ms ?? ${SLOW_MS}; await new Promise((r) => setTimeout(r, ms)); return [{ json: { ok: true } }];`,
    unmapped: 'return [{ json: { ok: true } }];',
  };
  for (const [k, code] of Object.entries(codes) as [keyof typeof wf, string][]) {
    paths[k] = `${k}-${stamp}`;
    wf[k] = await api.createWorkflow(webhookWorkflow(`ct test ${k}`, paths[k]!, code));
    await api.activateWorkflow(wf[k].id);
  }
  const clients = await db.pool.query<{ id: string; slug: string }>(
    `INSERT INTO clients (slug, name) VALUES ('pizza-shop', 'Pizza Shop'), ('plumber', 'Plumber') RETURNING id, slug`,
  );
  const id = Object.fromEntries(clients.rows.map((r) => [r.slug, r.id]));
  await db.pool.query(
    `INSERT INTO automations (client_id, n8n_workflow_id, name, minutes_saved_per_run, hourly_value_cents, currency) VALUES
       ($1, $3, 'Order intake', 15, 6000, 'USD'), ($1, $4, 'Supplier order', 10, 6000, 'USD'), ($2, $5, 'Quote builder', 60, 3000, 'USD')`,
    [id['pizza-shop'], id.plumber, wf.ok.id, wf.fail.id, wf.slow.id],
  );
  await startOurExporter();
});

afterAll(async () => {
  await stopOurExporter().catch(() => undefined);
  await n8n?.stop();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

let beforeRestarts: Sample[] = [];

test('the metrics show exactly the runs of each workflow, the long one as running until it ends', async () => {
  await until((x) => valueOf(x, 'ct_n8n_up') === 1, 'n8n polled');
  await trigger('slow'); // lowest execution id, finishes last
  for (let i = 0; i < 3; i++) await trigger('ok');
  for (let i = 0; i < 2; i++) await trigger('fail');
  await trigger('unmapped');
  await untilFinished(6);

  const s = await until((x) => total(x, 'unmapped', 'success') === 1 && total(x, 'fail', 'error') === 2, 'six runs counted');
  expect(valueOf(s, 'ct_n8n_up')).toBe(1);
  // success and error start at 0 for every known workflow; canceled and crashed once they happen.
  expect(seriesOf(s, 'ct_workflow_executions_total')).toEqual({
    [`client=pizza-shop,status=success,workflow=${wf.ok.id}`]: 3,
    [`client=pizza-shop,status=error,workflow=${wf.ok.id}`]: 0,
    [`client=pizza-shop,status=success,workflow=${wf.fail.id}`]: 0,
    [`client=pizza-shop,status=error,workflow=${wf.fail.id}`]: 2,
    [`client=plumber,status=success,workflow=${wf.slow.id}`]: 0,
    [`client=plumber,status=error,workflow=${wf.slow.id}`]: 0,
    [`client=unassigned,status=success,workflow=${wf.unmapped.id}`]: 1,
    [`client=unassigned,status=error,workflow=${wf.unmapped.id}`]: 0,
  });
  expect(valueOf(s, 'ct_workflow_running_executions', { client: 'plumber', workflow: wf.slow.id })).toBe(1);
  expect(valueOf(s, 'ct_workflow_running_executions', { client: 'pizza-shop', workflow: wf.ok.id })).toBeUndefined();
  const age = valueOf(s, 'ct_workflow_oldest_running_execution_age_seconds', { client: 'plumber', workflow: wf.slow.id })!;
  expect(age).toBeGreaterThan(0);
  expect(age).toBeLessThan(SLOW_MS / 1000 + 5);
  // Active, with the automation's name (n8n's name for the unmapped one).
  for (const [client, w, name] of [
    ['pizza-shop', 'ok', 'Order intake'],
    ['pizza-shop', 'fail', 'Supplier order'],
    ['plumber', 'slow', 'Quote builder'],
    ['unassigned', 'unmapped', 'ct test unmapped'],
  ] as const) {
    expect(valueOf(s, 'ct_workflow_active', { client, workflow: wf[w].id, name })).toBe(1);
  }
  const now = Date.now() / 1000;
  expect(valueOf(s, 'ct_workflow_last_success_timestamp_seconds', { client: 'pizza-shop', workflow: wf.ok.id })).toBeGreaterThan(now - 60);
  expect(valueOf(s, 'ct_workflow_last_failure_timestamp_seconds', { client: 'pizza-shop', workflow: wf.fail.id })).toBeGreaterThan(
    now - 60,
  );
  expect(valueOf(s, 'ct_workflow_last_failure_timestamp_seconds', { client: 'pizza-shop', workflow: wf.ok.id })).toBeUndefined();
  // Two failed deliveries of the pizza shop's webhooks; 3 runs × 15 min = 0.75 h × $60 = $45.
  expect(seriesOf(s, 'ct_client_webhook_failures_total')).toEqual({ 'client=pizza-shop': 2, 'client=plumber': 0 });
  expect(valueOf(s, 'ct_client_time_saved_seconds_total', { client: 'pizza-shop' })).toBe(0.75 * 3600);
  expect(valueOf(s, 'ct_client_roi_value_total', { client: 'pizza-shop', currency: 'USD' })).toBe(45);

  // The long run ends after the higher ids were counted: counted once, running back to 0.
  const done = await until((x) => total(x, 'slow', 'success') === 1, 'the long run counted');
  const idle = await until(
    (x) => valueOf(x, 'ct_workflow_running_executions', { client: 'plumber', workflow: wf.slow.id }) === undefined,
    'nothing running',
  );
  expect(valueOf(idle, 'ct_workflow_oldest_running_execution_age_seconds', { client: 'plumber', workflow: wf.slow.id })).toBeUndefined();
  expect(valueOf(done, 'ct_client_time_saved_seconds_total', { client: 'plumber' })).toBe(3600);
  await sleep(2500); // more polls: nothing is counted twice
  beforeRestarts = (await scrape()).samples;
  expect(seriesOf(beforeRestarts, 'ct_workflow_executions_total')).toEqual(seriesOf(done, 'ct_workflow_executions_total'));
});

test('counts stay the same across an exporter restart', async () => {
  await stopOurExporter();
  await startOurExporter();
  const s = await until((x) => valueOf(x, 'ct_n8n_up') === 1, 'n8n polled by the new exporter');
  await sleep(1500);
  const again = (await scrape()).samples;
  expect(seriesOf(s, 'ct_workflow_executions_total')).toEqual(seriesOf(beforeRestarts, 'ct_workflow_executions_total'));
  expect(seriesOf(again, 'ct_workflow_executions_total')).toEqual(seriesOf(beforeRestarts, 'ct_workflow_executions_total'));
});

test('n8n stopped: ct_n8n_up 0, the scrape still answers with the other collectors; n8n back: recovers and counts stay monotonic', async () => {
  await trigger('slow', { ms: 60_000 }); // still running when n8n goes down
  await trigger('ok');
  await until((x) => total(x, 'ok', 'success') === 4, 'the fourth ok run counted');
  await n8n.halt();

  const down = await until((x) => valueOf(x, 'ct_n8n_up') === 0, 'n8n reported down');
  const res = await scrape();
  expect(res.status).toBe(200);
  expect(seriesOf(down, 'ct_exporter_collector_up')).toEqual({
    'collector=n8n': 0,
    'collector=billing': 1,
    'collector=activity': 1,
    'collector=backups': 1,
    'collector=database': 1,
  });
  expect(valueOf(down, 'ct_database_up')).toBe(1);
  // Counters come from the database and stay served; live state is left out rather than stale.
  expect(total(down, 'ok', 'success')).toBe(4);
  expect(seriesOf(down, 'ct_workflow_running_executions')).toEqual({});

  await n8n.start();
  // n8n 2.8 marks the run it lost on restart as failed (error; older versions said crashed); the
  // exporter recovers without a restart and counts it once.
  const lost = (x: Sample[]) => (total(x, 'slow', 'error') ?? 0) + (total(x, 'slow', 'crashed') ?? 0);
  const back = await until((x) => valueOf(x, 'ct_n8n_up') === 1 && lost(x) === 1, 'n8n back and the lost run counted');
  expect(valueOf(back, 'ct_exporter_collector_up', { collector: 'n8n' })).toBe(1);
  const after = seriesOf(back, 'ct_workflow_executions_total');
  for (const [series, value] of Object.entries(seriesOf(beforeRestarts, 'ct_workflow_executions_total'))) {
    expect(after[series]).toBeGreaterThanOrEqual(value);
  }
  expect(total(back, 'ok', 'success')).toBe(4);
  expect(total(back, 'slow', 'success')).toBe(1);
  expect(total(back, 'fail', 'error')).toBe(2);
  expect(valueOf(back, 'ct_client_webhook_failures_total', { client: 'plumber' })).toBe(1);

  // n8n's own counters started again from nothing; ours did not.
  await trigger('ok');
  const later = await until((x) => total(x, 'ok', 'success') === 5, 'a run after the restart counted');
  expect(total(later, 'unmapped', 'success')).toBe(1);
  expect(lost(later)).toBe(1);
});

test('ingestion failing while n8n answers: the n8n collector reports it (ExporterCollectorFailing), not only a frozen counter', async () => {
  await db.pool.query('ALTER TABLE workflow_execution_cursor RENAME TO workflow_execution_cursor_away');
  try {
    const failing = await until(
      (x) => valueOf(x, 'ct_n8n_up') === 1 && valueOf(x, 'ct_exporter_collector_up', { collector: 'n8n' }) === 0,
      'the n8n collector failing while n8n is up',
    );
    expect(valueOf(failing, 'ct_exporter_collector_up', { collector: 'database' })).toBe(1);
  } finally {
    await db.pool.query('ALTER TABLE workflow_execution_cursor_away RENAME TO workflow_execution_cursor');
  }
  await trigger('ok');
  const healed = await until(
    (x) => valueOf(x, 'ct_exporter_collector_up', { collector: 'n8n' }) === 1 && total(x, 'ok', 'success') === 6,
    'ingestion back, the run made meanwhile counted',
  );
  expect(valueOf(healed, 'ct_n8n_up')).toBe(1);
});

import { verifyAndRecordAuditChain, writeAudit } from '@ct/lib';
import { createExporter, type Exporter } from '@ct/exporters';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { parseMetrics, seriesOf, valueOf, type Sample } from '../helpers/metrics';
import { emptyN8n } from './fixtures';

/**
 * Seeded billing, activity, backup and audit data against the exporter's scrape. Every expected
 * figure below is worked out by hand from the rows inserted here.
 */
let db: TestDatabase;
let exporter: Exporter;
const ids: Record<string, string> = {};

async function scrape(): Promise<Sample[]> {
  return parseMetrics(await exporter.scrape());
}

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'collectors' });
  const q = (sql: string, params: unknown[] = []) => db.pool.query(sql, params);
  const clients: [string, string, string][] = [
    ['pizza-shop', 'active', '60 days'],
    ['plumber', 'active', '60 days'],
    ['hvac', 'paused', '30 days'],
    ['old-bakery', 'churned', '400 days'],
    ['new-florist', 'active', '2 days'],
  ];
  for (const [slug, status, age] of clients) {
    const { rows } = await q(
      `INSERT INTO clients (slug, name, status, created_at) VALUES ($1, $1, $2, now() - $3::interval) RETURNING id`,
      [slug, status, age],
    );
    ids[slug] = rows[0].id;
  }
  const sub = (slug: string, cents: number, currency: string, started: string, canceled: string | null) =>
    q(
      `INSERT INTO subscriptions (client_id, monthly_amount_cents, currency, started_at, canceled_at)
       VALUES ($1, $2, $3, now() + $4::interval, now() + $5::interval)`,
      [ids[slug], cents, currency, started, canceled],
    );
  await sub('pizza-shop', 9900, 'USD', '-50 days', null);
  await sub('pizza-shop', 2500, 'USD', '-50 days', '-10 days'); // canceled: not in MRR
  await sub('plumber', 15000, 'USD', '-50 days', null);
  await sub('plumber', 5000, 'EUR', '5 days', null); // starts later: not yet in MRR
  await sub('hvac', 12000, 'EUR', '-20 days', null);
  await sub('old-bakery', 4000, 'USD', '-300 days', '-100 days');
  await sub('new-florist', 3000, 'USD', '-1 day', '20 days'); // cancellation scheduled: still recurring

  let n = 0;
  const invoice = (slug: string, cents: number, currency: string, status: string, due: string | null) =>
    q(
      `INSERT INTO invoices (client_id, number, amount_cents, currency, status, issued_at, due_at, paid_at)
       VALUES ($1, $2, $3, $4, $5, CASE WHEN $5 = 'draft' THEN NULL ELSE now() - interval '120 days' END,
               now() + $6::interval, CASE WHEN $5 = 'paid' THEN now() END)`,
      [ids[slug], `INV-${++n}`, cents, currency, status, due],
    );
  await invoice('pizza-shop', 9900, 'USD', 'open', '10 days'); // pending
  await invoice('pizza-shop', 9900, 'USD', 'paid', '-20 days');
  await invoice('plumber', 15000, 'USD', 'open', '-3 days'); // overdue
  await invoice('plumber', 2000, 'USD', 'open', null); // pending (no due date)
  await invoice('hvac', 12000, 'EUR', 'open', '5 days'); // pending
  await invoice('hvac', 7000, 'EUR', 'draft', null);
  await invoice('hvac', 7000, 'EUR', 'void', '-5 days');
  await invoice('old-bakery', 5000, 'USD', 'open', '-90 days'); // overdue

  const event = (slug: string, kind: string, ago: string) =>
    q(
      `INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key) VALUES ($1, $2, now() - $3::interval, gen_random_uuid()::text)`,
      [ids[slug], kind, ago],
    );
  await event('pizza-shop', 'lead.captured', '5 days');
  await event('pizza-shop', 'lead.captured', '3 days');
  await event('pizza-shop', 'lead.captured', '2 days');
  await event('pizza-shop', 'order.placed', '4 days');
  await event('plumber', 'lead.captured', '1 day');

  await q(
    `INSERT INTO automations (client_id, n8n_workflow_id, name, minutes_saved_per_run, hourly_value_cents, currency)
     VALUES ($1, 'wf-p1', 'Orders', 9, 4000, 'USD'), ($1, 'wf-p2', 'Reviews', 3, 3000, 'EUR')`,
    [ids['pizza-shop']],
  );
  // What ingestion would have accumulated (ingestion itself is tested in exporters/src/ingest.test.ts).
  await q(
    `INSERT INTO client_savings (client_id, currency, runs, minutes_saved, value_cents) VALUES ($1, 'USD', 10, 90, 6000), ($1, 'EUR', 10, 30, 1500)`,
    [ids['pizza-shop']],
  );
  await q(`INSERT INTO client_webhook_failures (client_id, failures) VALUES ($1, 4)`, [ids['pizza-shop']]);
  await q(
    `INSERT INTO workflow_execution_counts (n8n_instance, n8n_workflow_id, status, executions, webhook_executions, last_stopped_at) VALUES
       ('default', 'wf-p1', 'success', 10, 10, '2026-11-01T10:00:00Z'), ('default', 'wf-p1', 'error', 4, 3, '2026-11-02T10:00:00Z'),
       ('default', 'wf-p1', 'crashed', 1, 1, '2026-11-03T10:00:00Z'), ('default', 'wf-x', 'success', 7, 0, '2026-11-04T10:00:00.123456Z')`,
  );
  await q(
    `INSERT INTO client_daily_stats (client_id, day, workflow_runs, failures) VALUES
       ($1, current_date - 1, 6, 1), ($1, current_date - 3, 4, 1), ($1, current_date - 30, 50, 50)`,
    [ids['pizza-shop']],
  );

  const run = (kind: string, status: string, started: string, seconds: number | null, bytes: number | null) =>
    q(
      `INSERT INTO backup_runs (kind, status, started_at, finished_at, bytes)
       VALUES ($1, $2, now() - $3::interval, now() - $3::interval + make_interval(secs => $4), $5)`,
      [kind, status, started, status === 'running' ? null : seconds, bytes],
    );
  await run('database', 'succeeded', '50 hours', 100, 1000);
  await run('database', 'succeeded', '26 hours', 120, 2048);
  await run('database', 'failed', '14 hours', 5, null);
  await run('database', 'failed', '2 hours', 5, null);
  await db.pool.query(`INSERT INTO backup_runs (kind, status, started_at) VALUES ('database', 'running', now())`);
  await run('drill', 'failed', '30 hours', 10, null);
  await run('drill', 'succeeded', '6 hours', 300, null);

  exporter = createExporter({ pool: db.appPool, n8n: emptyN8n, databaseDiskCapacityBytes: 50e9 });
});
afterAll(() => db.drop());

test('billing: MRR, clients, pending and overdue invoices, per-client MRR and churn risk', async () => {
  const s = await scrape();
  expect(seriesOf(s, 'ct_mrr')).toEqual({ 'currency=USD': 279, 'currency=EUR': 120 });
  expect(seriesOf(s, 'ct_clients')).toEqual({ 'status=active': 3, 'status=paused': 1, 'status=churned': 1 });
  expect(seriesOf(s, 'ct_invoices_pending')).toEqual({ 'currency=USD': 2, 'currency=EUR': 1 });
  expect(seriesOf(s, 'ct_invoices_pending_amount')).toEqual({ 'currency=USD': 119, 'currency=EUR': 120 });
  expect(seriesOf(s, 'ct_invoices_overdue')).toEqual({ 'currency=USD': 2, 'currency=EUR': 0 });
  expect(seriesOf(s, 'ct_invoices_overdue_amount')).toEqual({ 'currency=USD': 200, 'currency=EUR': 0 });
  expect(seriesOf(s, 'ct_client_mrr')).toEqual({
    'client=pizza-shop,currency=USD': 99,
    'client=plumber,currency=USD': 150,
    'client=hvac,currency=EUR': 120,
    'client=new-florist,currency=USD': 30,
  });
  // plumber: overdue invoice; hvac: 30 days old without any activity; new-florist: too new to judge.
  expect(seriesOf(s, 'ct_client_churn_risk')).toEqual({
    'client=pizza-shop': 0,
    'client=plumber': 1,
    'client=hvac': 1,
    'client=new-florist': 0,
  });
  expect(seriesOf(s, 'ct_client_info')).toEqual({
    'client=pizza-shop,name=pizza-shop,plan=,status=active': 1,
    'client=plumber,name=plumber,plan=,status=active': 1,
    'client=hvac,name=hvac,plan=,status=paused': 1,
    'client=old-bakery,name=old-bakery,plan=,status=churned': 1,
    'client=new-florist,name=new-florist,plan=,status=active': 1,
  });
  // Open invoices per client: overdue ones included in _open; drafts, voids and paid ones in none.
  expect(seriesOf(s, 'ct_client_invoices_open')).toEqual({
    'client=pizza-shop,currency=USD': 1,
    'client=plumber,currency=USD': 2,
    'client=hvac,currency=EUR': 1,
    'client=old-bakery,currency=USD': 1,
  });
  expect(seriesOf(s, 'ct_client_invoices_open_amount')).toEqual({
    'client=pizza-shop,currency=USD': 99,
    'client=plumber,currency=USD': 170,
    'client=hvac,currency=EUR': 120,
    'client=old-bakery,currency=USD': 50,
  });
  expect(seriesOf(s, 'ct_client_invoices_overdue')).toEqual({
    'client=pizza-shop,currency=USD': 0,
    'client=plumber,currency=USD': 1,
    'client=hvac,currency=EUR': 0,
    'client=old-bakery,currency=USD': 1,
  });
  expect(seriesOf(s, 'ct_client_invoices_overdue_amount')).toEqual({
    'client=pizza-shop,currency=USD': 0,
    'client=plumber,currency=USD': 150,
    'client=hvac,currency=EUR': 0,
    'client=old-bakery,currency=USD': 50,
  });
});

test('client names are label values, escaped as the exposition format requires', async () => {
  await db.pool.query(`UPDATE clients SET name = $2, plan = 'growth' WHERE slug = $1`, ['new-florist', 'Flo\'s "Fresh" \\ Flowers']);
  try {
    const text = await exporter.scrape();
    expect(text).toContain('ct_client_info{client="new-florist",name="Flo\'s \\"Fresh\\" \\\\ Flowers",status="active",plan="growth"} 1');
    const labels = { client: 'new-florist', name: 'Flo\'s "Fresh" \\ Flowers', status: 'active', plan: 'growth' };
    expect(valueOf(parseMetrics(text), 'ct_client_info', labels)).toBe(1);
  } finally {
    await db.pool.query(`UPDATE clients SET name = slug, plan = NULL WHERE slug = 'new-florist'`);
  }
});

test('client activity: events, last activity, hours saved, ROI, webhook failures and score', async () => {
  const s = await scrape();
  expect(seriesOf(s, 'ct_client_activity_events_total')).toEqual({
    'client=pizza-shop,kind=lead.captured': 3,
    'client=pizza-shop,kind=order.placed': 1,
    'client=plumber,kind=lead.captured': 1,
  });
  const { rows } = await db.pool.query<{ t: number }>(`SELECT extract(epoch FROM now() - interval '2 days')::float8 AS t`);
  expect(valueOf(s, 'ct_client_last_activity_timestamp_seconds', { client: 'pizza-shop' })).toBeCloseTo(rows[0]!.t, -1);
  expect(valueOf(s, 'ct_client_last_activity_timestamp_seconds', { client: 'hvac' })).toBeUndefined();
  // 90 + 30 minutes = 2 hours; $60.00 and €15.00.
  expect(valueOf(s, 'ct_client_time_saved_seconds_total', { client: 'pizza-shop' })).toBe(2 * 3600);
  expect(valueOf(s, 'ct_client_time_saved_seconds_total', { client: 'plumber' })).toBe(0);
  expect(seriesOf(s, 'ct_client_roi_value_total')).toEqual({ 'client=pizza-shop,currency=USD': 60, 'client=pizza-shop,currency=EUR': 15 });
  expect(valueOf(s, 'ct_client_webhook_failures_total', { client: 'pizza-shop' })).toBe(4);
  expect(valueOf(s, 'ct_client_webhook_failures_total', { client: 'plumber' })).toBe(0);
  // pizza-shop: 2 days silent → recency 12/14; last 7 days 10 runs, 2 failures → 0.5 + 0.5 × 0.8 = 0.9.
  expect(valueOf(s, 'ct_client_activity_score', { client: 'pizza-shop' })).toBeCloseTo((12 / 14) * 0.9, 3);
  // plumber: 1 day silent, no runs → 13/14 × 1.
  expect(valueOf(s, 'ct_client_activity_score', { client: 'plumber' })).toBeCloseTo(13 / 14, 3);
  expect(valueOf(s, 'ct_client_activity_score', { client: 'hvac' })).toBe(0);
});

test('workflow counters come from the database, mapped to clients; unmapped ones are unassigned', async () => {
  // The per-workflow families are rendered by the n8n poll, right after ingestion.
  const polled = createExporter({ pool: db.appPool, n8n: emptyN8n });
  expect(
    valueOf(parseMetrics(await polled.scrape()), 'ct_workflow_executions_total', {
      client: 'unassigned',
      workflow: 'wf-x',
      status: 'success',
    }),
  ).toBeUndefined();
  await polled.poller.pollOnce();
  const s = parseMetrics(await polled.scrape());
  // success and error start at 0 for every known workflow; canceled and crashed once they happen.
  expect(seriesOf(s, 'ct_workflow_executions_total')).toEqual({
    'client=pizza-shop,status=success,workflow=wf-p1': 10,
    'client=pizza-shop,status=error,workflow=wf-p1': 4,
    'client=pizza-shop,status=crashed,workflow=wf-p1': 1,
    'client=pizza-shop,status=success,workflow=wf-p2': 0,
    'client=pizza-shop,status=error,workflow=wf-p2': 0,
    'client=unassigned,status=success,workflow=wf-x': 7,
    'client=unassigned,status=error,workflow=wf-x': 0,
  });
  expect(valueOf(s, 'ct_workflow_last_success_timestamp_seconds', { client: 'pizza-shop', workflow: 'wf-p1' })).toBe(
    Date.parse('2026-11-01T10:00:00Z') / 1000,
  );
  expect(valueOf(s, 'ct_workflow_last_failure_timestamp_seconds', { client: 'pizza-shop', workflow: 'wf-p1' })).toBe(
    Date.parse('2026-11-03T10:00:00Z') / 1000,
  );
  // To the millisecond, as a timestamp read into a Date would be.
  expect(valueOf(s, 'ct_workflow_last_success_timestamp_seconds', { client: 'unassigned', workflow: 'wf-x' })).toBe(
    Date.parse('2026-11-04T10:00:00.123Z') / 1000,
  );

  // The counted families are rendered again when a count or the client mapping changes.
  await db.pool.query(`INSERT INTO automations (client_id, n8n_workflow_id, name) VALUES ($1, 'wf-x', 'Newly mapped')`, [ids['plumber']]);
  await db.pool.query(
    `UPDATE workflow_execution_counts SET executions = executions + 1 WHERE n8n_workflow_id = 'wf-p1' AND status = 'error'`,
  );
  await polled.poller.pollOnce();
  const again = parseMetrics(await polled.scrape());
  expect(valueOf(again, 'ct_workflow_executions_total', { client: 'plumber', workflow: 'wf-x', status: 'success' })).toBe(7);
  expect(valueOf(again, 'ct_workflow_executions_total', { client: 'unassigned', workflow: 'wf-x', status: 'success' })).toBeUndefined();
  expect(valueOf(again, 'ct_workflow_executions_total', { client: 'pizza-shop', workflow: 'wf-p1', status: 'error' })).toBe(5);
  await db.pool.query(`DELETE FROM automations WHERE n8n_workflow_id = 'wf-x'`);
});

test('a bulk insert of activity events moves the counters by exactly the rows inserted (duplicates ignored)', async () => {
  await db.pool.query(
    `INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key)
     SELECT $1, 'invoice.sent', now(), 'bulk-' || g FROM generate_series(1, 250) g`,
    [ids['plumber']],
  );
  await db.pool.query(
    `INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key)
     SELECT $1, 'invoice.sent', now(), 'bulk-' || g FROM generate_series(200, 300) g ON CONFLICT (idempotency_key) DO NOTHING`,
    [ids['plumber']],
  );
  const s = await scrape();
  expect(valueOf(s, 'ct_client_activity_events_total', { client: 'plumber', kind: 'invoice.sent' })).toBe(300);
});

test("a client's kinds beyond its first 50 are counted as other, in bulk and one by one", async () => {
  const { rows } = await db.pool.query<{ id: string }>(`INSERT INTO clients (slug, name) VALUES ('chatty', 'Chatty') RETURNING id`);
  const chatty = rows[0]!.id;
  // 45 kinds in one statement, then 10 more one event at a time, then more of an early kind.
  await db.pool.query(
    `INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key)
     SELECT $1, 'order.' || lpad(g::text, 3, '0'), now(), 'chatty-a-' || g FROM generate_series(1, 45) g`,
    [chatty],
  );
  for (let g = 46; g <= 55; g++) {
    await db.pool.query(`INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key) VALUES ($1, $2, now(), $3)`, [
      chatty,
      `order.${String(g).padStart(3, '0')}`,
      `chatty-b-${g}`,
    ]);
  }
  await db.pool.query(
    `INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key)
     SELECT $1, CASE WHEN g <= 3 THEN 'order.001' ELSE 'order.' || g END, now(), 'chatty-c-' || g FROM generate_series(1, 8) g`,
    [chatty],
  );
  const series = seriesOf(await scrape(), 'ct_client_activity_events_total');
  const mine = Object.entries(series).filter(([k]) => k.includes('client=chatty'));
  expect(mine).toHaveLength(51);
  expect(series['client=chatty,kind=order.001']).toBe(4);
  expect(series['client=chatty,kind=order.050']).toBe(1);
  expect(series['client=chatty,kind=order.051']).toBeUndefined();
  // 051-055 one by one, and 4..8 of the last statement (kinds never seen, the client already full).
  expect(series['client=chatty,kind=other']).toBe(10);
  const total = mine.reduce((n, [, v]) => n + v, 0);
  expect(total).toBe(45 + 10 + 8);
});

test('backups: last success, size, duration and consecutive failures per kind, and the restore drill', async () => {
  const s = await scrape();
  const { rows } = await db.pool.query<{ kind: string; t: number }>(
    `SELECT kind, extract(epoch FROM max(finished_at))::float8 AS t FROM backup_runs WHERE status = 'succeeded' GROUP BY kind`,
  );
  const finished = Object.fromEntries(rows.map((r) => [r.kind, r.t]));
  expect(valueOf(s, 'ct_backup_last_success_timestamp_seconds', { kind: 'database' })).toBeCloseTo(finished.database!, 2);
  expect(valueOf(s, 'ct_backup_last_success_timestamp_seconds', { kind: 'n8n' })).toBe(0);
  expect(seriesOf(s, 'ct_backup_last_size_bytes')).toEqual({ 'kind=database': 2048 });
  expect(valueOf(s, 'ct_backup_last_duration_seconds', { kind: 'database' })).toBeCloseTo(120, 3);
  expect(valueOf(s, 'ct_backup_last_duration_seconds', { kind: 'drill' })).toBeCloseTo(300, 3);
  // Two failures after the last success; the run in progress is not a failure.
  expect(seriesOf(s, 'ct_backup_consecutive_failures')).toEqual({ 'kind=database': 2, 'kind=n8n': 0, 'kind=drill': 0 });
  expect(valueOf(s, 'ct_backup_restore_drill_last_success_timestamp_seconds')).toBeCloseTo(finished.drill!, 2);
});

test('backups: the latest inventory of the bucket, 0 before the first one', async () => {
  let s = await scrape();
  expect(valueOf(s, 'ct_backup_objects_missing')).toBe(0);
  expect(valueOf(s, 'ct_backup_objects_replaced')).toBe(0);
  expect(valueOf(s, 'ct_backup_inventory_last_check_timestamp_seconds')).toBe(0);
  await db.pool.query(
    "INSERT INTO backup_inventory_checks (checked_at, checked, missing, replaced) VALUES (now() - interval '2 hours', 9, 3, 3), (now(), 9, 1, 2)",
  );
  s = await scrape();
  expect(valueOf(s, 'ct_backup_objects_missing')).toBe(1);
  expect(valueOf(s, 'ct_backup_objects_replaced')).toBe(2);
  expect(valueOf(s, 'ct_backup_inventory_last_check_timestamp_seconds')).toBeCloseTo(Date.now() / 1000, -1);
});

test('platform database: up, size, capacity, connections and the latest audit chain verification', async () => {
  let s = await scrape();
  expect(valueOf(s, 'ct_database_up')).toBe(1);
  expect(valueOf(s, 'ct_database_size_bytes')).toBeGreaterThan(1e6);
  expect(valueOf(s, 'ct_database_disk_capacity_bytes')).toBe(50e9);
  expect(valueOf(s, 'ct_database_connections', { state: 'active' })).toBeGreaterThanOrEqual(1);
  expect(Object.keys(seriesOf(s, 'ct_database_connections')).sort()).toEqual(
    ['active', 'disabled', 'fastpath_function_call', 'idle', 'idle_in_transaction', 'idle_in_transaction_aborted'].map((x) => `state=${x}`),
  );
  // Never verified: no verdict rather than a false alarm, and a 0 timestamp for staleness alerts.
  expect(valueOf(s, 'ct_audit_chain_valid')).toBeUndefined();
  expect(valueOf(s, 'ct_audit_chain_last_verification_timestamp_seconds')).toBe(0);

  await writeAudit(db.pool, { actor: 'test', action: 'client.create', outcome: 'success' });
  await verifyAndRecordAuditChain(db.pool);
  s = await scrape();
  expect(valueOf(s, 'ct_audit_chain_valid')).toBe(1);
  expect(valueOf(s, 'ct_audit_chain_last_verification_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);

  await db.pool.query(`INSERT INTO audit_verifications (ok, rows_checked, first_bad_id, reason) VALUES (false, 1, 1, 'changed')`);
  s = await scrape();
  expect(valueOf(s, 'ct_audit_chain_valid')).toBe(0);
});

test('every collector reports itself up with its duration; n8n only once it has been polled', async () => {
  let s = await scrape();
  expect(valueOf(s, 'ct_exporter_collector_up', { collector: 'n8n' })).toBe(0);
  expect(valueOf(s, 'ct_n8n_up')).toBe(0);
  await exporter.poller.pollOnce();
  s = await scrape();
  expect(valueOf(s, 'ct_n8n_up')).toBe(1);
  expect(seriesOf(s, 'ct_exporter_collector_up')).toEqual({
    'collector=n8n': 1,
    'collector=billing': 1,
    'collector=activity': 1,
    'collector=backups': 1,
    'collector=database': 1,
  });
  for (const c of ['n8n', 'billing', 'activity', 'backups', 'database']) {
    expect(valueOf(s, 'ct_exporter_collector_duration_seconds', { collector: c })).toBeGreaterThan(0);
  }
});

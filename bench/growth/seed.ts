/**
 * Grows the platform database of the growth benchmark from one size of the agency to the next:
 * clients numbered from-1 … to, each with its workflows (automations and what execution ingestion
 * keeps for them), a subscription, invoices, daily figures and activity events, all in SQL with
 * generate_series. The same shape as `npm run bench:exporters` seeds, per client instead of in
 * totals, so the database can grow in place.
 */
import type { Pool } from '@ct/lib';

export interface Shape {
  workflowsPerClient: number;
  eventsPerClient: number;
  invoicesPerClient: number;
}

/** Rows of activity events per INSERT (the counting trigger runs once per statement). */
const EVENT_BATCH = 500_000;

/** The clients numbered $1+1 … $2, by slug (unique, so this is an index scan). */
const NEW_CLIENTS = `SELECT c.* FROM generate_series($1::int + 1, $2::int) g JOIN clients c ON c.slug = 'client-' || lpad(g::text, 6, '0')`;

/**
 * The platform's own rows, once: 90 days of the scheduler's history (a database and an n8n backup
 * every 6 hours, a drill a day, one run in twenty failed) and an audit verification.
 */
export async function seedPlatform(pool: Pool): Promise<void> {
  await pool.query(
    `INSERT INTO backup_runs (kind, status, started_at, finished_at, bytes)
     SELECT kind, CASE WHEN n % 20 = 3 THEN 'failed' ELSE 'succeeded' END, at, at + interval '90 seconds',
            CASE WHEN n % 20 <> 3 THEN 50000000 + n * 1000 END
       FROM (SELECT k.kind, row_number() OVER () AS n, now() - h * interval '1 hour' AS at
               FROM (VALUES ('database', 6), ('n8n', 6), ('drill', 24)) k(kind, every)
               CROSS JOIN generate_series(1, 90 * 24) h WHERE h % k.every = 0) runs`,
  );
  await pool.query(`INSERT INTO audit_verifications (ok, rows_checked) VALUES (true, 0)`);
}

/** Adds clients from+1 … to with everything a client has, then VACUUM ANALYZE and CHECKPOINT. */
export async function growTo(pool: Pool, from: number, to: number, shape: Shape, log: (line: string) => void = () => {}): Promise<void> {
  if (to <= from) return;
  const range = [from, to];
  await pool.query(
    `INSERT INTO clients (slug, name, status, created_at)
     SELECT 'client-' || lpad(g::text, 6, '0'), 'Client ' || g,
            CASE WHEN g % 20 = 0 THEN 'churned' WHEN g % 20 = 1 THEN 'paused' ELSE 'active' END,
            now() - (1 + g % 365) * interval '1 day'
       FROM generate_series($1::int + 1, $2::int) g`,
    range,
  );
  await pool.query(
    `INSERT INTO automations (client_id, n8n_workflow_id, name, minutes_saved_per_run, hourly_value_cents, currency)
     SELECT c.id, 'wf-' || c.slug || '-' || w, 'Automation ' || w, 1 + w % 15, 3000 + 100 * (w % 10),
            CASE WHEN w % 10 = 0 THEN 'EUR' ELSE 'USD' END
       FROM (${NEW_CLIENTS}) c CROSS JOIN generate_series(1, $3::int) w`,
    [...range, shape.workflowsPerClient],
  );
  await pool.query(
    `INSERT INTO subscriptions (client_id, monthly_amount_cents, currency, started_at, canceled_at)
     SELECT c.id, 5000 + (hashtext(c.slug) & 65535) % 45000, CASE WHEN c.slug LIKE '%7' THEN 'EUR' ELSE 'USD' END,
            c.created_at, CASE WHEN c.status = 'churned' THEN now() - interval '1 day' END
       FROM (${NEW_CLIENTS}) c`,
    range,
  );
  // 95 % paid, the rest open, issued over the last 400 days.
  await pool.query(
    `INSERT INTO invoices (client_id, number, amount_cents, currency, status, issued_at, due_at, paid_at)
     SELECT c.id, 'INV-' || c.slug || '-' || i, 1000 + (hashtext(c.slug) & 4095) * i % 50000,
            CASE WHEN i % 10 = 7 THEN 'EUR' ELSE 'USD' END,
            CASE WHEN i % 100 < 95 THEN 'paid' ELSE 'open' END,
            now() - (i * 4 % 400) * interval '1 day',
            now() - (i * 4 % 400) * interval '1 day' + interval '30 days',
            CASE WHEN i % 100 < 95 THEN now() - (i * 4 % 400) * interval '1 day' + interval '10 days' END
       FROM (${NEW_CLIENTS}) c CROSS JOIN generate_series(1, $3::int) i`,
    [...range, shape.invoicesPerClient],
  );
  // What execution ingestion accumulates: every workflow has successes, a quarter has failures.
  await pool.query(
    `INSERT INTO workflow_execution_counts (n8n_instance, n8n_workflow_id, status, executions, webhook_executions, last_stopped_at)
     SELECT 'default', a.n8n_workflow_id, s.status, 1 + (hashtext(a.n8n_workflow_id || s.status) & 4095),
            CASE WHEN s.status = 'error' THEN 1 ELSE 0 END, now() - interval '1 hour'
       FROM (${NEW_CLIENTS}) c JOIN automations a ON a.client_id = c.id
      CROSS JOIN (VALUES ('success'), ('error'), ('crashed')) s(status)
      WHERE s.status = 'success' OR (s.status = 'error' AND hashtext(a.n8n_workflow_id) % 4 = 0)
         OR (s.status = 'crashed' AND hashtext(a.n8n_workflow_id) % 50 = 0)`,
    range,
  );
  await pool.query(
    `INSERT INTO client_savings (client_id, currency, runs, minutes_saved, value_cents)
     SELECT a.client_id, a.currency, 100 * count(*), 100 * sum(a.minutes_saved_per_run), 100 * sum(a.minutes_saved_per_run / 60 * a.hourly_value_cents)
       FROM (${NEW_CLIENTS}) c JOIN automations a ON a.client_id = c.id GROUP BY 1, 2`,
    range,
  );
  await pool.query(
    `INSERT INTO client_webhook_failures (client_id, failures)
     SELECT a.client_id, sum(w.webhook_executions)
       FROM (${NEW_CLIENTS}) c JOIN automations a ON a.client_id = c.id
       JOIN workflow_execution_counts w ON w.n8n_workflow_id = a.n8n_workflow_id
      WHERE w.status IN ('error', 'crashed') GROUP BY 1`,
    range,
  );
  await pool.query(
    `INSERT INTO client_daily_stats (client_id, day, workflow_runs, failures, minutes_saved)
     SELECT c.id, current_date - d, 200, d % 5, 1000 FROM (${NEW_CLIENTS}) c CROSS JOIN generate_series(0, 29) d`,
    range,
  );
  // Activity events, clients interleaved within each statement as webhooks would deliver them,
  // spread over the last 90 days.
  const perBatch = Math.max(1, Math.floor(EVENT_BATCH / shape.eventsPerClient));
  for (let start = from; start < to; start += perBatch) {
    const end = Math.min(to, start + perBatch);
    await pool.query(
      `INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key, details)
       SELECT c.id, (ARRAY['lead.captured', 'order.placed', 'invoice.sent', 'review.received', 'booking.made'])[1 + e % 5],
              now() - ((e * 7 + length(c.slug)) % 2160) * interval '1 hour', 'seed-' || c.slug || '-' || e, '{}'
         FROM generate_series(1, $3::int) e CROSS JOIN (${NEW_CLIENTS}) c`,
      [start, end, shape.eventsPerClient],
    );
    if (to - from > perBatch) log(`  events of clients ${start + 1}–${end}`);
  }
  await pool.query('VACUUM ANALYZE');
  // What seeding left dirty is written back now, not by a checkpoint during a measurement.
  await pool.query('CHECKPOINT');
}

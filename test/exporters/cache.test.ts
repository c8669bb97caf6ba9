import { Registry } from 'prom-client';
import {
  ActivityCollector,
  BillingCollector,
  createExporter,
  decodedText,
  TableFingerprints,
  type Collector,
  type Exporter,
} from '@ct/exporters';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { sleep } from '../bench/process';
import { parseMetrics, valueOf, type Sample } from '../helpers/metrics';
import { emptyN8n } from './fixtures';

/**
 * The per-client billing and activity families are read and rendered again only when a
 * fingerprint of their tables changes (or a figure is due to change with the clock). What must
 * hold: a scrape right after any committed change shows it, as docs/metrics.md says ("computed at
 * scrape time"); a scrape with nothing changed reads nothing again.
 */
let db: TestDatabase;
let exporter: Exporter;
let client: string;

const q = (sql: string, params: unknown[] = []) => db.pool.query(sql, params);
async function scrape(): Promise<Sample[]> {
  return parseMetrics(await exporter.scrape());
}
/** Reads a collector the way a scrape does; returns how many times it went back to its tables. */
async function readCount(c: Collector & { cache: { loads: number } }): Promise<number> {
  (await c.read())();
  return c.cache.loads;
}

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'exporter_cache' });
  const { rows } = await q(
    `INSERT INTO clients (slug, name, created_at) VALUES ('bakery', 'Bakery', now() - interval '30 days') RETURNING id`,
  );
  client = rows[0].id;
  await q(
    `INSERT INTO subscriptions (client_id, monthly_amount_cents, currency, started_at) VALUES ($1, 10000, 'USD', now() - interval '10 days')`,
    [client],
  );
  await q(
    `INSERT INTO invoices (client_id, number, amount_cents, currency, status, issued_at, due_at)
     VALUES ($1, 'C-1', 5000, 'USD', 'open', now() - interval '1 day', now() + interval '10 days')`,
    [client],
  );
  await q(
    `INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key) VALUES ($1, 'order.placed', now() - interval '1 hour', 'c-1')`,
    [client],
  );
  exporter = createExporter({ pool: db.appPool, n8n: emptyN8n });
});
afterAll(() => db.drop());

test('with nothing changed, a scrape reads neither the billing nor the activity tables again', async () => {
  const billing = new BillingCollector(new Registry(), db.appPool);
  const activity = new ActivityCollector(db.appPool);
  expect(await readCount(billing)).toBe(1);
  expect(await readCount(activity)).toBe(1);
  expect(await readCount(billing)).toBe(1);
  expect(await readCount(activity)).toBe(1);
  // A row written to a table neither reads changes nothing.
  await q(`INSERT INTO backup_runs (kind, status, started_at) VALUES ('database', 'running', now())`);
  expect(await readCount(billing)).toBe(1);
  expect(await readCount(activity)).toBe(1);
  // Any committed change to one of their tables makes the next scrape read again.
  await q(`UPDATE clients SET plan = 'growth' WHERE id = $1`, [client]);
  expect(await readCount(billing)).toBe(2);
  expect(await readCount(activity)).toBe(2);
  await q(`UPDATE client_activity_counts SET events = events WHERE client_id = $1`, [client]); // same values, new row version
  expect(await readCount(billing)).toBe(3);
  expect(await readCount(activity)).toBe(3);
  // A failed read forgets what was kept.
  billing.reset();
  expect(await readCount(billing)).toBe(4);
});

test('a scrape right after a change shows it: invoice, subscription, client, activity, savings', async () => {
  let s = await scrape();
  expect(valueOf(s, 'ct_client_invoices_open', { client: 'bakery', currency: 'USD' })).toBe(1);
  expect(valueOf(s, 'ct_client_mrr', { client: 'bakery', currency: 'USD' })).toBe(100);
  expect(valueOf(s, 'ct_client_activity_events_total', { client: 'bakery', kind: 'order.placed' })).toBe(1);

  await q(`UPDATE invoices SET status = 'paid', paid_at = now() WHERE number = 'C-1'`);
  s = await scrape();
  expect(valueOf(s, 'ct_client_invoices_open', { client: 'bakery', currency: 'USD' })).toBeUndefined();
  expect(valueOf(s, 'ct_invoices_pending', { currency: 'USD' })).toBe(0);

  await q(`UPDATE subscriptions SET monthly_amount_cents = 12500 WHERE client_id = $1`, [client]);
  s = await scrape();
  expect(valueOf(s, 'ct_client_mrr', { client: 'bakery', currency: 'USD' })).toBe(125);
  expect(valueOf(s, 'ct_mrr', { currency: 'USD' })).toBe(125);

  await q(`UPDATE clients SET name = 'Bakery & Co' WHERE id = $1`, [client]);
  s = await scrape();
  expect(valueOf(s, 'ct_client_info', { client: 'bakery', name: 'Bakery & Co', status: 'active', plan: 'growth' })).toBe(1);

  await q(`INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key) VALUES ($1, 'order.placed', now(), 'c-2')`, [
    client,
  ]);
  s = await scrape();
  expect(valueOf(s, 'ct_client_activity_events_total', { client: 'bakery', kind: 'order.placed' })).toBe(2);

  await q(`INSERT INTO client_savings (client_id, currency, runs, minutes_saved, value_cents) VALUES ($1, 'USD', 1, 30, 2500)`, [client]);
  s = await scrape();
  expect(valueOf(s, 'ct_client_time_saved_seconds_total', { client: 'bakery' })).toBe(1800);
  expect(valueOf(s, 'ct_client_roi_value_total', { client: 'bakery', currency: 'USD' })).toBe(25);

  await q(`INSERT INTO client_daily_stats (client_id, day, workflow_runs, failures) VALUES ($1, current_date, 4, 4)`, [client]);
  s = await scrape();
  // Active minutes ago, every run of the week failed: recency ≈ 1 × (0.5 + 0.5 × 0).
  expect(valueOf(s, 'ct_client_activity_score', { client: 'bakery' })).toBeCloseTo(0.5, 3);
});

test('a figure that changes with the clock alone changes at the next scrape after that moment', async () => {
  await q(
    `INSERT INTO invoices (client_id, number, amount_cents, currency, status, issued_at, due_at)
     VALUES ($1, 'C-2', 7000, 'USD', 'open', now() - interval '1 day', now() + interval '2 seconds')`,
    [client],
  );
  let s = await scrape();
  expect(valueOf(s, 'ct_client_invoices_overdue', { client: 'bakery', currency: 'USD' })).toBe(0);
  expect(valueOf(s, 'ct_client_churn_risk', { client: 'bakery' })).toBe(0);
  s = await scrape(); // nothing changed: served from what was kept, still not due
  expect(valueOf(s, 'ct_client_invoices_overdue', { client: 'bakery', currency: 'USD' })).toBe(0);
  await sleep(2500);
  s = await scrape();
  expect(valueOf(s, 'ct_client_invoices_overdue', { client: 'bakery', currency: 'USD' })).toBe(1);
  expect(valueOf(s, 'ct_client_invoices_overdue_amount', { client: 'bakery', currency: 'USD' })).toBe(70);
  expect(valueOf(s, 'ct_invoices_overdue', { currency: 'USD' })).toBe(1);
  expect(valueOf(s, 'ct_client_churn_risk', { client: 'bakery' })).toBe(1);
});

test('the activity score moves with the clock at every scrape, without a change to any row', async () => {
  const first = valueOf(await scrape(), 'ct_client_activity_score', { client: 'bakery' })!;
  await sleep(1100);
  const second = valueOf(await scrape(), 'ct_client_activity_score', { client: 'bakery' })!;
  expect(second).toBeLessThan(first);
});

test('billing reads again only the parts whose tables changed, and each change shows at the next scrape', async () => {
  const billing = new BillingCollector(new Registry(), db.appPool);
  const loads = async () => {
    (await billing.read())();
    return { revenue: billing.cache.partLoads('revenue'), risk: billing.cache.partLoads('risk') };
  };
  expect(await loads()).toEqual({ revenue: 1, risk: 1 });
  expect(await loads()).toEqual({ revenue: 1, risk: 1 });
  // Activity events move the churn risk only: the invoices and subscriptions are not read again.
  await q(`INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key) VALUES ($1, 'order.placed', now(), 'c-parts-1')`, [
    client,
  ]);
  expect(await loads()).toEqual({ revenue: 1, risk: 2 });
  // Nor does the touch of a client's last activity that comes with them from the webhook path.
  await q(`UPDATE clients SET last_activity_at = now() WHERE id = $1`, [client]);
  expect(await loads()).toEqual({ revenue: 1, risk: 3 });
  await q(`UPDATE subscriptions SET monthly_amount_cents = monthly_amount_cents + 100 WHERE client_id = $1`, [client]);
  expect(await loads()).toEqual({ revenue: 2, risk: 3 });
  // An open invoice feeds both: the invoice figures and the risk (overdue).
  await q(
    `INSERT INTO invoices (client_id, number, amount_cents, currency, status, issued_at, due_at)
     VALUES ($1, 'C-parts', 900, 'USD', 'open', now() - interval '40 days', now() - interval '1 day')`,
    [client],
  );
  expect(await loads()).toEqual({ revenue: 3, risk: 4 });
  await q(`UPDATE clients SET plan = 'parts' WHERE id = $1`, [client]);
  expect(await loads()).toEqual({ revenue: 4, risk: 5 });

  // Through a whole scrape: a change to each table shows in the next one.
  let s = await scrape();
  expect(valueOf(s, 'ct_client_churn_risk', { client: 'bakery' })).toBe(1);
  expect(valueOf(s, 'ct_client_invoices_overdue', { client: 'bakery', currency: 'USD' })).toBeGreaterThanOrEqual(1);
  await q(`UPDATE invoices SET status = 'paid', paid_at = now() WHERE client_id = $1 AND status = 'open'`, [client]);
  s = await scrape();
  expect(valueOf(s, 'ct_client_churn_risk', { client: 'bakery' })).toBe(0);
  expect(valueOf(s, 'ct_client_invoices_overdue', { client: 'bakery', currency: 'USD' })).toBeUndefined();
  expect(valueOf(s, 'ct_invoices_overdue', { currency: 'USD' })).toBe(0);
  await q(`UPDATE clients SET last_activity_at = now() - interval '20 days', created_at = now() - interval '40 days' WHERE id = $1`, [
    client,
  ]);
  await q(`UPDATE client_activity_counts SET last_occurred_at = now() - interval '20 days' WHERE client_id = $1`, [client]);
  s = await scrape();
  expect(valueOf(s, 'ct_client_churn_risk', { client: 'bakery' })).toBe(1);
  await q(`INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key) VALUES ($1, 'order.placed', now(), 'c-parts-2')`, [
    client,
  ]);
  s = await scrape();
  expect(valueOf(s, 'ct_client_churn_risk', { client: 'bakery' })).toBe(0);
  await q(`UPDATE subscriptions SET monthly_amount_cents = 20000 WHERE client_id = $1`, [client]);
  s = await scrape();
  expect(valueOf(s, 'ct_client_mrr', { client: 'bakery', currency: 'USD' })).toBe(200);
  expect(valueOf(s, 'ct_mrr', { currency: 'USD' })).toBe(200);
});

test('activity reads again only the parts whose tables changed, and serves what a collector started afresh renders', async () => {
  const fingerprints = new TableFingerprints(db.appPool);
  const activity = new ActivityCollector(db.appPool, fingerprints);
  const parts = ['events', 'savings', 'webhooks', 'window'] as const;
  let before = parts.map(() => 0);
  /**
   * Reads as a scrape does, side by side with a collector started afresh (the same fingerprints,
   * so the same clock for the score): both must serve the same bytes. Returns the parts read again.
   */
  const reread = async () => {
    const fresh = new ActivityCollector(db.appPool, fingerprints);
    (await Promise.all([activity.read(), fresh.read()])).forEach((apply) => apply());
    for (const openMetrics of [true, false]) {
      expect(decodedText(activity.families, openMetrics)).toBe(decodedText(fresh.families, openMetrics));
    }
    const loads = parts.map((p) => activity.cache.partLoads(p));
    const read = parts.filter((_, i) => loads[i] !== before[i]);
    before = loads;
    return read;
  };
  const { rows } = await q(`INSERT INTO clients (slug, name) VALUES ('florist', 'Florist') RETURNING id`);
  const florist: string = rows[0].id;
  expect(await reread()).toEqual(parts);
  expect(await reread()).toEqual([]);

  // A webhook batch, as the API writes it: events inserted, their clients' last activity touched.
  for (const key of ['w-1', 'w-2']) {
    await q(
      `WITH ins AS (INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key, source)
                    VALUES ($1, 'lead.captured', now(), $2, 'webhook') ON CONFLICT (idempotency_key) DO NOTHING RETURNING client_id)
       UPDATE clients SET last_activity_at = now() WHERE id IN (SELECT client_id FROM ins)`,
      [florist, key],
    );
    expect(await reread()).toEqual(['events']);
  }
  // Execution ingestion: each summary table alone, then all three in one transaction.
  const savings = `INSERT INTO client_savings AS s (client_id, currency, runs, minutes_saved, value_cents) VALUES ($1, 'EUR', 1, 12, 900)
                   ON CONFLICT (client_id, currency) DO UPDATE SET runs = s.runs + 1, minutes_saved = s.minutes_saved + 12, value_cents = s.value_cents + 900`;
  const failures = `INSERT INTO client_webhook_failures AS f (client_id, failures) VALUES ($1, 1)
                    ON CONFLICT (client_id) DO UPDATE SET failures = f.failures + 1`;
  const days = `INSERT INTO client_daily_stats AS d (client_id, day, workflow_runs, failures) VALUES ($1, current_date, 3, 1)
                ON CONFLICT (client_id, day) DO UPDATE SET workflow_runs = d.workflow_runs + 3, failures = d.failures + 1`;
  await q(savings, [florist]);
  expect(await reread()).toEqual(['savings']);
  await q(failures, [florist]);
  expect(await reread()).toEqual(['webhooks']);
  await q(days, [florist]);
  expect(await reread()).toEqual(['window']);
  const writer = await db.appPool.connect();
  try {
    await writer.query('BEGIN');
    for (const sql of [savings, failures, days]) await writer.query(sql, [florist]);
    await writer.query('COMMIT');
  } finally {
    writer.release();
  }
  expect(await reread()).toEqual(['savings', 'webhooks', 'window']);
  const s = parseMetrics(decodedText(activity.families, false));
  expect(valueOf(s, 'ct_client_time_saved_seconds_total', { client: 'florist' })).toBe(24 * 60);
  expect(valueOf(s, 'ct_client_webhook_failures_total', { client: 'florist' })).toBe(2);
  expect(valueOf(s, 'ct_client_activity_events_total', { client: 'florist', kind: 'lead.captured' })).toBe(2);

  // Clients themselves feed every part but the score's window.
  await q(`UPDATE clients SET slug = 'flower-shop' WHERE id = $1`, [florist]);
  expect(await reread()).toEqual(['events', 'savings', 'webhooks']);
  await q(`INSERT INTO clients (slug, name) VALUES ('roofer', 'Roofer')`);
  expect(await reread()).toEqual(['events', 'savings', 'webhooks']);
  await q(`DELETE FROM clients WHERE slug = 'roofer'`);
  expect(await reread()).toEqual(['events', 'savings', 'webhooks']);
});

test('when savings and webhook failures are both read again, the clients are read once for them', async () => {
  const texts: string[] = [];
  const pool = new Proxy(db.appPool, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
      return (config: string | { text: string }, ...rest: unknown[]) => {
        texts.push(typeof config === 'string' ? config : config.text);
        return (target.query as (...a: unknown[]) => unknown)(config, ...rest);
      };
    },
  });
  const activity = new ActivityCollector(pool);
  (await activity.read())();
  await q(`UPDATE clients SET name = name || '.' WHERE id = $1`, [client]); // moves both parts' key
  texts.length = 0;
  (await activity.read())();
  expect(['savings', 'webhooks'].map((p) => activity.cache.partLoads(p as 'savings' | 'webhooks'))).toEqual([2, 2]);
  expect(texts.filter((t) => /^SELECT id, slug FROM clients ORDER BY slug$/.test(t))).toHaveLength(1);
});

test('a client reaching 14 days without activity is at churn risk at the next scrape after that moment', async () => {
  await q(
    `INSERT INTO clients (slug, name, created_at) VALUES ('quiet-shop', 'Quiet shop', now() - interval '14 days' + interval '2 seconds')`,
  );
  let s = await scrape();
  expect(valueOf(s, 'ct_client_churn_risk', { client: 'quiet-shop' })).toBe(0);
  s = await scrape(); // nothing changed: served from what was kept
  expect(valueOf(s, 'ct_client_churn_risk', { client: 'quiet-shop' })).toBe(0);
  await sleep(2500);
  s = await scrape();
  expect(valueOf(s, 'ct_client_churn_risk', { client: 'quiet-shop' })).toBe(1);
});

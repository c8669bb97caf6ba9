import { Registry } from 'prom-client';
import {
  ActivityCollector,
  BillingCollector,
  PRUNE_AT,
  TableFingerprints,
  type FingerprintedTable,
  type Fingerprints,
} from '@ct/exporters';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

/**
 * The fingerprints the billing and activity figures are cached by (exporters/src/fingerprints.ts).
 * Every table they read is fingerprinted from the record of the statements that changed it
 * (migration 024). What must hold: any committed change moves its table's fingerprint, an
 * uncommitted or rolled-back one does not; the record stays small without a change being lost;
 * writers never wait on each other or on pruning; ct_app cannot write the record except through
 * its triggers and the pruning function.
 */
let db: TestDatabase;
let client: string;
const q = (sql: string, params: unknown[] = []) => db.pool.query(sql, params);
const recordedRows = async (table: string) =>
  Number((await q('SELECT count(*) AS n FROM table_changes WHERE table_name = $1', [table])).rows[0].n);

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'exporter_fingerprints' });
  const { rows } = await q(`INSERT INTO clients (slug, name) VALUES ('plumber', 'Plumber') RETURNING id`);
  client = rows[0].id;
});
afterAll(() => db.drop());

/** One committed change to each recorded table, as its writers make it. */
const CHANGES: Record<Exclude<FingerprintedTable, 'clients_except_last_activity'>, () => Promise<unknown>> = {
  clients: () => q(`UPDATE clients SET name = name || '.' WHERE id = $1`, [client]),
  client_activity_counts: () =>
    q(
      `INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key) VALUES ($1, 'lead.captured', now(), gen_random_uuid()::text)`,
      [client],
    ),
  subscriptions: () => q(`INSERT INTO subscriptions (client_id, monthly_amount_cents, currency) VALUES ($1, 5000, 'USD')`, [client]),
  invoices: () =>
    q(
      `INSERT INTO invoices (client_id, number, amount_cents, currency, status, issued_at)
       VALUES ($1, 'F-' || gen_random_uuid(), 100, 'USD', 'open', now())`,
      [client],
    ),
  client_daily_stats: () =>
    q(
      `INSERT INTO client_daily_stats (client_id, day, workflow_runs, failures) VALUES ($1, current_date, 1, 0)
       ON CONFLICT (client_id, day) DO UPDATE SET workflow_runs = client_daily_stats.workflow_runs + 1`,
      [client],
    ),
  client_savings: () =>
    q(
      `INSERT INTO client_savings (client_id, currency, runs, minutes_saved, value_cents) VALUES ($1, 'USD', 1, 5, 100)
       ON CONFLICT (client_id, currency) DO UPDATE SET runs = client_savings.runs + 1`,
      [client],
    ),
  client_webhook_failures: () =>
    q(
      `INSERT INTO client_webhook_failures (client_id, failures) VALUES ($1, 1)
       ON CONFLICT (client_id) DO UPDATE SET failures = client_webhook_failures.failures + 1`,
      [client],
    ),
};

const changed = (a: Fingerprints, b: Fingerprints) =>
  (Object.keys(a.tables) as FingerprintedTable[]).filter((t) => a.tables[t] !== b.tables[t]).sort();

test.each(Object.keys(CHANGES) as (keyof typeof CHANGES)[])(
  'a committed change to %s moves its fingerprint and no other',
  async (table) => {
    const fp = new TableFingerprints(db.appPool);
    const before = await fp.take();
    expect(changed(before, await fp.take())).toEqual([]);
    await CHANGES[table]();
    // A change of clients other than their last activity moves both records of clients.
    expect(changed(before, await fp.take())).toEqual(table === 'clients' ? ['clients', 'clients_except_last_activity'] : [table]);
  },
);

test("a touch of clients' last activity alone moves clients, not clients_except_last_activity; any other change of clients both", async () => {
  const fp = new TableFingerprints(db.appPool);
  const { rows } = await q(`INSERT INTO clients (slug, name) VALUES ('hvac', 'HVAC') RETURNING id`);
  const other = rows[0].id;
  await q(`UPDATE clients SET name = 'Plumber' WHERE id = $1`, [client]);
  let before = await fp.take();
  // As the webhook batch touches them: several clients in one statement.
  await q(`UPDATE clients SET last_activity_at = now() WHERE id = ANY($1::uuid[])`, [[client, other]]);
  expect(changed(before, await fp.take())).toEqual(['clients']);
  before = await fp.take();
  await q(`UPDATE clients SET name = name WHERE id = $1`, [client]); // a new row version, the same values
  expect(changed(before, await fp.take())).toEqual(['clients']);
  for (const sql of [
    `UPDATE clients SET last_activity_at = now(), status = 'paused' WHERE id = '${other}'`,
    // Two clients' names swapped: the same values as before, on other clients.
    `UPDATE clients SET name = CASE id WHEN '${client}' THEN 'HVAC' ELSE 'Plumber' END WHERE slug IN ('plumber', 'hvac')`,
    `INSERT INTO clients (slug, name) VALUES ('electrician', 'Electrician')`,
    `DELETE FROM clients WHERE slug = 'electrician'`,
  ]) {
    before = await fp.take();
    await q(sql);
    expect({ sql, moved: changed(before, await fp.take()) }).toEqual({ sql, moved: ['clients', 'clients_except_last_activity'] });
  }
  await q(`DELETE FROM clients WHERE id = $1`, [other]);
  await q(`UPDATE clients SET name = 'Plumber' WHERE id = $1`, [client]);
});

test('a statement that changes no row leaves the fingerprints as they were', async () => {
  const fp = new TableFingerprints(db.appPool);
  await q(`INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key) VALUES ($1, 'order.placed', now(), 'dup-1')`, [
    client,
  ]);
  const before = await fp.take();
  // A batch of duplicate events, as the webhook batcher sends it: nothing inserted, no counter moved,
  // and no client's last activity to touch.
  await q(
    `WITH ins AS (INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key) VALUES ($1, 'order.placed', now(), 'dup-1')
                  ON CONFLICT (idempotency_key) DO NOTHING RETURNING client_id)
     UPDATE clients SET last_activity_at = now() WHERE id IN (SELECT client_id FROM ins)`,
    [client],
  );
  await q(`DELETE FROM invoices WHERE false`);
  await q(`TRUNCATE client_webhook_failures`); // a TRUNCATE is recorded, rows or not
  expect(changed(before, await fp.take())).toEqual(['client_webhook_failures']);
});

test('a change is seen once committed, not before; a rolled-back one never', async () => {
  const fp = new TableFingerprints(db.appPool);
  const writer = await db.appPool.connect();
  try {
    const before = await fp.take();
    await writer.query('BEGIN');
    await writer.query(`UPDATE invoices SET amount_cents = amount_cents + 1 WHERE client_id = $1`, [client]);
    expect(changed(before, await fp.take())).toEqual([]);
    await writer.query('ROLLBACK');
    expect(changed(before, await fp.take())).toEqual([]);

    await writer.query('BEGIN');
    await writer.query(`UPDATE invoices SET amount_cents = amount_cents + 1 WHERE client_id = $1`, [client]);
    expect(changed(before, await fp.take())).toEqual([]);
    await writer.query('COMMIT');
    expect(changed(before, await fp.take())).toEqual(['invoices']);
  } finally {
    writer.release();
  }
});

test('the record is pruned once crowded, to a fingerprint never seen before, keeping what is still uncommitted', async () => {
  const fp = new TableFingerprints(db.appPool);
  const seen = new Set<string>();
  seen.add((await fp.take()).tables.client_savings);
  for (let i = 0; i < PRUNE_AT + 5; i++) {
    await CHANGES.client_savings();
    seen.add((await fp.take()).tables.client_savings);
  }
  // Every change gave a new fingerprint, the one pruned on the way included.
  expect(seen.size).toBe(PRUNE_AT + 6);
  expect(await recordedRows('client_savings')).toBeLessThan(PRUNE_AT);

  // Fill up again, with one writer's change still open while the pruning runs.
  while ((await recordedRows('client_savings')) < PRUNE_AT) await CHANGES.client_savings();
  const writer = await db.appPool.connect();
  try {
    await writer.query('BEGIN');
    await writer.query(`UPDATE client_savings SET runs = runs + 1 WHERE client_id = $1`, [client]);
    const pruned = await fp.take();
    expect(await recordedRows('client_savings')).toBe(1); // the pruning's own row; the open one is invisible
    expect(seen.has(pruned.tables.client_savings)).toBe(false);
    seen.add(pruned.tables.client_savings);
    await writer.query('COMMIT');
    const after = await fp.take();
    expect(changed(pruned, after)).toEqual(['client_savings']);
    expect(await recordedRows('client_savings')).toBe(2);
  } finally {
    writer.release();
  }
});

test('writers never wait on each other through the record, nor on its pruning', async () => {
  const [a, b] = [await db.appPool.connect(), await db.appPool.connect()];
  try {
    for (const c of [a, b]) await c.query(`SET lock_timeout = '500ms'`);
    await a.query('BEGIN');
    await a.query(`UPDATE invoices SET amount_cents = amount_cents + 1 WHERE client_id = $1`, [client]);
    await a.query(`INSERT INTO client_webhook_failures (client_id, failures) VALUES ($1, 1) ON CONFLICT (client_id) DO NOTHING`, [client]);
    // Another writer, on some of the same tables, then pruning, while the first is open: none waits.
    await b.query('BEGIN');
    await b.query(`INSERT INTO subscriptions (client_id, monthly_amount_cents, currency) VALUES ($1, 1, 'USD')`, [client]);
    await b.query(
      `INSERT INTO invoices (client_id, number, amount_cents, currency, status, issued_at) VALUES ($1, 'W-' || gen_random_uuid(), 1, 'USD', 'open', now())`,
      [client],
    );
    await b.query(`SELECT ct_prune_table_changes('invoices')`);
    await b.query('COMMIT');
    await a.query('COMMIT');
  } finally {
    a.release();
    b.release();
  }
});

test('ct_app reads the record and prunes it through the function only', async () => {
  for (const sql of [
    `INSERT INTO table_changes (table_name) VALUES ('invoices')`,
    `DELETE FROM table_changes`,
    `UPDATE table_changes SET table_name = 'x'`,
    `TRUNCATE table_changes`,
    `SELECT ct_record_table_change()`,
    `SELECT ct_record_clients_change()`,
  ]) {
    await expect(db.appPool.query(sql)).rejects.toMatchObject({ code: '42501' });
  }
  await expect(db.appPool.query(`SELECT ct_prune_table_changes('invoices') AS n`)).resolves.toMatchObject({ rowCount: 1 });
});

test('billing and activity reading side by side share one fingerprint query', async () => {
  const fp = new TableFingerprints(db.appPool);
  const billing = new BillingCollector(new Registry(), db.appPool, fp);
  const activity = new ActivityCollector(db.appPool, fp);
  const scrape = async () => (await Promise.all([billing.read(), activity.read()])).forEach((apply) => apply());
  await scrape();
  await scrape();
  expect(fp.taken).toBe(2);
  expect([billing.cache.loads, activity.cache.loads]).toEqual([1, 1]);
  await CHANGES.client_daily_stats(); // feeds the activity score, not billing
  await scrape();
  expect([billing.cache.loads, activity.cache.loads]).toEqual([1, 2]);
  await CHANGES.invoices(); // feeds billing only
  await scrape();
  expect([billing.cache.loads, activity.cache.loads]).toEqual([2, 2]);
});

import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { signWebhook } from '@ct/api';
import { EventBatcher, type ActivityEventRow } from '../../api/src/event-batcher';
import { startTestApi, type TestApi } from './harness';

/**
 * Group commit of webhook events: concurrent posts share one INSERT and one commit, and each is
 * still answered as if it had been written alone.
 */
let api: TestApi;
let clientId: string;
let otherId: string;
let secret: string;

beforeAll(async () => {
  api = await startTestApi();
  const res = await api.call('POST', '/api/clients', { body: { slug: 'batch-pizza', name: 'Batch Pizza' } });
  clientId = res.body.client.id;
  secret = res.body.webhookSecret;
  otherId = (await api.call('POST', '/api/clients', { body: { slug: 'batch-bakery', name: 'Batch Bakery' } })).body.client.id;
});
afterAll(() => api.close());

const row = (over: Partial<ActivityEventRow> = {}): ActivityEventRow => ({
  clientId,
  kind: 'order.placed',
  occurredAt: null,
  details: JSON.stringify({ n: randomUUID() }),
  idempotencyKey: `${clientId}:${randomUUID()}`,
  ...over,
});
const rowsOf = async (keys: string[]) =>
  (
    await api.pool.query<{ id: string; idempotency_key: string; details: unknown }>(
      'SELECT id::text, idempotency_key, details FROM activity_events WHERE idempotency_key = ANY($1)',
      [keys],
    )
  ).rows;

function post(body: unknown, raw = JSON.stringify(body)) {
  return api.call('POST', '/api/webhooks/n8n/batch-pizza', {
    key: null,
    raw,
    headers: { 'content-type': 'application/json', ...signWebhook(secret, raw) },
  });
}
const metric = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

describe('EventBatcher', () => {
  it('writes the first event at once and what arrives meanwhile as one batch, in batches of at most maxBatch', async () => {
    const sizes: number[] = [];
    const batcher = new EventBatcher(api.db.appPool, { maxBatch: 4, onBatch: (n) => sizes.push(n) });
    const rows = Array.from({ length: 11 }, () => row());
    const results = await Promise.all(rows.map((r) => batcher.write(r)));
    expect(sizes).toEqual([1, 4, 4, 2]);
    const stored = new Map((await rowsOf(rows.map((r) => r.idempotencyKey))).map((r) => [r.idempotency_key, r]));
    expect(stored.size).toBe(11);
    rows.forEach((r, i) => {
      const result = results[i]!;
      expect(result.stored).toBe(true);
      expect(result.stored && result.id).toBe(stored.get(r.idempotencyKey)!.id);
      expect(stored.get(r.idempotencyKey)!.details).toEqual(JSON.parse(r.details));
    });
  });

  it('stores two posts of one key in one batch once: the first is stored, the second a duplicate', async () => {
    const sizes: number[] = [];
    const batcher = new EventBatcher(api.db.appPool, { onBatch: (n) => sizes.push(n) });
    const lead = batcher.write(row());
    const a = row({ details: '{"copy":"first"}' });
    const b = { ...a, details: '{"copy":"second"}' };
    const c = row();
    const [, ra, rb, rc, again] = await Promise.all([lead, batcher.write(a), batcher.write(b), batcher.write(c), batcher.write(c)]);
    expect(sizes).toEqual([1, 4]);
    const stored = await rowsOf([a.idempotencyKey]);
    expect(stored).toEqual([{ id: ra.stored ? ra.id : 'not stored', idempotency_key: a.idempotencyKey, details: { copy: 'first' } }]);
    expect(rb).toEqual({ stored: false });
    expect(rc.stored).toBe(true);
    expect(again).toEqual({ stored: false });
    // And against a row committed by an earlier batch.
    expect(await batcher.write(b)).toEqual({ stored: false });
  });

  it('fails only the bad event of a batch; its neighbours are stored', async () => {
    const sizes: number[] = [];
    const batcher = new EventBatcher(api.db.appPool, { onBatch: (n) => sizes.push(n) });
    const lead = batcher.write(row());
    const good1 = row();
    const nul = row({ details: '{"text":"a\\u0000b"}' }); // valid JSON that jsonb refuses (22P05)
    const badKind = row({ kind: 'Not A Kind' }); // the table's check constraint (23514)
    const good2 = row({ clientId: otherId, idempotencyKey: `${otherId}:${randomUUID()}` });
    const settled = await Promise.allSettled([lead, ...[good1, nul, badKind, good2].map((r) => batcher.write(r))]);
    expect(sizes).toEqual([1, 4]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((settled[2] as PromiseRejectedResult).reason.code).toBe('22P05');
    expect((settled[3] as PromiseRejectedResult).reason.code).toBe('23514');
    const stored = (await rowsOf([good1, nul, badKind, good2].map((r) => r.idempotencyKey))).map((r) => r.idempotency_key).sort();
    expect(stored).toEqual([good1.idempotencyKey, good2.idempotencyKey].sort());
  });

  it('touches last_activity_at of the clients with a stored event in the batch, and only theirs', async () => {
    const batcher = new EventBatcher(api.db.appPool);
    const dup = row({ clientId: otherId, idempotencyKey: `${otherId}:${randomUUID()}` });
    await batcher.write(dup);
    await api.pool.query('UPDATE clients SET last_activity_at = NULL WHERE id = ANY($1)', [[clientId, otherId]]);
    // The other client's only event of the second batch is a duplicate: its row is left alone.
    const lead = batcher.write(row());
    await Promise.all([lead, batcher.write(row()), batcher.write(row()), batcher.write(dup)]);
    const { rows } = await api.pool.query<{ id: string; touched: boolean }>(
      "SELECT id, coalesce(last_activity_at > now() - interval '1 minute', false) AS touched FROM clients WHERE id = ANY($1)",
      [[clientId, otherId]],
    );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.touched]))).toEqual({ [clientId]: true, [otherId]: false });
  });
});

describe('signed webhook posts, grouped', () => {
  it('stores 200 concurrent posts exactly once each, answering each with its own row id', async () => {
    const before = await api.scrape();
    const events = Array.from({ length: 200 }, (_, i) => ({ id: randomUUID(), type: 'lead.captured', data: { i } }));
    const answers = await Promise.all(events.map((e) => post(e)));
    expect(answers.map((a) => a.status)).toEqual(events.map(() => 201));
    const keys = events.map((e) => `${clientId}:${e.id}`);
    const stored = new Map((await rowsOf(keys)).map((r) => [r.idempotency_key, r]));
    expect(stored.size).toBe(200);
    events.forEach((e, i) => {
      const r = stored.get(`${clientId}:${e.id}`)!;
      expect(answers[i]!.body).toEqual({ status: 'stored', id: r.id, secretVersion: 1 });
      expect(r.details).toEqual({ i });
    });
    const after = await api.scrape();
    const delta = (name: string) => metric(after, name) - metric(before, name);
    expect(delta('ct_webhook_events_total\\{client="batch-pizza",result="stored"\\}')).toBe(200);
    expect(delta('ct_webhook_batch_events_sum')).toBe(200);
    // Grouped: fewer statements than events.
    expect(delta('ct_webhook_batch_events_count')).toBeLessThan(200);
  });

  it('answers concurrent repeats of one event once 201, otherwise 200 duplicate', async () => {
    const before = await api.scrape();
    const events = Array.from({ length: 20 }, () => ({ id: randomUUID(), type: 'lead.captured' }));
    const raws = events.flatMap((e) => Array.from({ length: 5 }, () => JSON.stringify(e)));
    const answers = await Promise.all(raws.map((raw) => post(null, raw)));
    for (const e of events) {
      const mine = answers.filter((_, i) => JSON.parse(raws[i]!).id === e.id);
      expect(mine.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 201]);
    }
    expect(await rowsOf(events.map((e) => `${clientId}:${e.id}`))).toHaveLength(20);
    const after = await api.scrape();
    const delta = (result: string) =>
      metric(after, `ct_webhook_events_total\\{client="batch-pizza",result="${result}"\\}`) -
      metric(before, `ct_webhook_events_total\\{client="batch-pizza",result="${result}"\\}`);
    expect([delta('stored'), delta('duplicate')]).toEqual([20, 80]);
  });

  it('answers a post PostgreSQL refuses 400 and stores its concurrent neighbours', async () => {
    const events = Array.from({ length: 30 }, (_, i) => ({
      id: randomUUID(),
      type: 'lead.captured',
      data: { text: i % 10 === 3 ? 'a\u0000b' : 'fine' },
    }));
    const answers = await Promise.all(events.map((e) => post(e)));
    expect(answers.map((a) => a.status)).toEqual(events.map((_, i) => (i % 10 === 3 ? 400 : 201)));
    expect(await rowsOf(events.map((e) => `${clientId}:${e.id}`))).toHaveLength(27);
  });

  it('answers every post of a batch 503 when the database goes away mid-batch, and stores none of it', async () => {
    const before = await api.scrape();
    // Hold the events table so the first write waits inside PostgreSQL while the next ones queue.
    const holder = new Client({ connectionString: api.db.ownerUrl });
    // Watches and ends the writers' sessions; outside the holder's transaction, which would see
    // pg_stat_activity as it was when the transaction began.
    const killer = new Client({ connectionString: api.db.ownerUrl });
    await Promise.all([holder.connect(), killer.connect()]);
    const events = Array.from({ length: 12 }, () => ({ id: randomUUID(), type: 'lead.captured' }));
    let answers: Awaited<ReturnType<typeof post>>[];
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE activity_events IN SHARE MODE');
      const first = post(events[0]);
      await waitForBlockedWrites(killer, 1);
      const rest = events.slice(1).map((e) => post(e));
      await new Promise((r) => setTimeout(r, 300)); // the others arrive and queue behind it
      // The server ends each write's session, as a restart would: the one in flight, then the
      // queued batch, whose write starts on another connection and waits on the lock too.
      const all = Promise.all([first, ...rest]);
      let settled = false;
      void all.then(
        () => (settled = true),
        () => (settled = true),
      );
      while (!settled) {
        await killer.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
        );
        await new Promise((r) => setTimeout(r, 50));
      }
      answers = await all;
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await Promise.all([holder.end(), killer.end()]);
    }
    expect(answers.map((a) => a.status)).toEqual(events.map(() => 503));
    expect(answers[0]!.headers.get('retry-after')).toBe('5');
    expect(await rowsOf(events.map((e) => `${clientId}:${e.id}`))).toEqual([]);
    const after = await api.scrape();
    const name = 'ct_webhook_events_total\\{client="batch-pizza",result="unavailable"\\}';
    expect(metric(after, name) - metric(before, name)).toBe(12);
    // And the same events are stored once the database is back.
    expect((await Promise.all(events.map((e) => post(e)))).map((a) => a.status)).toEqual(events.map(() => 201));
  });
});

async function waitForBlockedWrites(db: Client, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
    );
    if (rows[0]!.n >= n) return;
    if (Date.now() > deadline) throw new Error('no write waited on the lock');
    await new Promise((r) => setTimeout(r, 20));
  }
}

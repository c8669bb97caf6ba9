import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool, type Pool } from '@ct/lib';
import { signWebhook } from '@ct/api';
import { startPostgres, type PostgresService } from '../bench/services';
import { appUrlOf, migrateAsOwner } from '../helpers/db';
import { startTestApi, type TestApi } from './harness';

/**
 * PostgreSQL restarted in the middle of a stream of signed webhook posts: every request answered
 * 2xx is stored exactly once; the others got 5xx (503) and left nothing partial.
 */
let dir: string;
let pg: PostgresService;
let pool: Pool;
let api: TestApi;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-api-pgrestart-'));
  pg = await startPostgres(dir);
  pool = createPool({ url: pg.url, max: 10, connectTimeoutSeconds: 2 });
  await migrateAsOwner(pool);
  const appPool = createPool({ url: appUrlOf(pg.url), max: 10, connectTimeoutSeconds: 2 });
  const db = { name: 'ct', url: appUrlOf(pg.url), ownerUrl: pg.url, pool, appPool, drop: () => appPool.end() };
  api = await startTestApi({ db });
}, 120_000);

afterAll(async () => {
  await api?.close();
  await api?.db.drop().catch(() => undefined);
  await pool?.end().catch(() => undefined);
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('keeps every acknowledged event exactly once across a database restart', async () => {
  const created = await api.call('POST', '/api/clients', { body: { slug: 'restart-co', name: 'Restart Co' } });
  const { id: clientId } = created.body.client;
  const secret: string = created.body.webhookSecret;
  const sent = new Map<string, { status: number; payload: string }>();
  let stop = false;

  const worker = async () => {
    while (!stop) {
      const key = randomUUID();
      const payload = randomUUID();
      const raw = JSON.stringify({ id: key, type: 'order.placed', data: { payload } });
      let status: number;
      try {
        const res = await fetch(`${api.url}/api/webhooks/n8n/restart-co`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...signWebhook(secret, raw) },
          body: raw,
          signal: AbortSignal.timeout(15_000),
        });
        await res.arrayBuffer();
        status = res.status;
      } catch {
        status = -1;
      }
      sent.set(key, { status, payload });
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  await new Promise((r) => setTimeout(r, 1500));
  const beforeHalt = sent.size;
  await pg.halt();
  await new Promise((r) => setTimeout(r, 2000));
  await pg.start();
  await new Promise((r) => setTimeout(r, 2500));
  stop = true;
  await Promise.all(workers);

  const statuses = [...sent.values()].map((s) => s.status);
  const ok = [...sent.entries()].filter(([, s]) => s.status >= 200 && s.status < 300);
  const failed = [...sent.entries()].filter(([, s]) => s.status >= 500);
  // Every request got an HTTP answer, either a success or a 5xx: nothing else.
  expect(statuses.filter((s) => !((s >= 200 && s < 300) || s >= 500))).toEqual([]);
  expect(beforeHalt).toBeGreaterThan(10);
  expect(failed.length).toBeGreaterThan(0); // the outage was seen
  expect(failed.every(([, s]) => s.status === 503)).toBe(true);
  expect(ok.length).toBeGreaterThan(beforeHalt); // and ingest resumed after it

  const { rows } = await pool.query<{ idempotency_key: string; payload: string; n: number }>(
    `SELECT idempotency_key, details->>'payload' AS payload, count(*) OVER (PARTITION BY idempotency_key)::int AS n
       FROM activity_events WHERE client_id = $1`,
    [clientId],
  );
  const byKey = new Map(rows.map((r) => [r.idempotency_key.slice(clientId.length + 1), r]));
  for (const [key, s] of ok) {
    const row = byKey.get(key);
    expect(row).toBeDefined();
    expect(row!.n).toBe(1);
    expect(row!.payload).toBe(s.payload);
  }
  // A 503 may have committed just before the connection dropped (a retry then gets 200
  // "duplicate"); what is stored is complete, and nothing was stored that was never sent.
  for (const r of rows) expect(sent.get(r.idempotency_key.slice(clientId.length + 1))?.payload).toBe(r.payload);
  expect((await api.internal('/readyz')).status).toBe(200);
}, 60_000);

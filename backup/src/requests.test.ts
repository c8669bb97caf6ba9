import type { Pool, PoolClient } from '@ct/lib';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db';
import { requestDatabaseBackup, serveBackupRequests } from './requests';
import { getRun } from './runs';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'requests' });
});
afterAll(() => db.drop());

/**
 * `pool`, except that each client it lends runs `after` when a query whose text contains `match`
 * has answered, before the caller sees the answer: a way to put another session's work exactly
 * between two statements of the caller's transaction.
 */
function between(pool: Pool, match: string, after: (rowCount: number) => Promise<void>): Pool {
  const wrap = (client: PoolClient): PoolClient =>
    new Proxy(client, {
      get(target, prop) {
        if (prop !== 'query') return Reflect.get(target, prop, target) as unknown;
        return async (text: string, values?: unknown[]) => {
          const res = await target.query(text, values);
          if (typeof text === 'string' && text.includes(match)) await after(res.rowCount ?? 0);
          return res;
        };
      },
    });
  return new Proxy(pool, {
    get(target, prop) {
      if (prop === 'connect') return async () => wrap(await target.connect());
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

it('a click whose pending request is taken before it reads it back records a new one, answered by the run going', async () => {
  // The first click's request, waiting for a scheduler.
  const first = await db.pool.query<{ id: string }>(
    "INSERT INTO backup_requests (kind, actor, actor_type) VALUES ('database', 'first', 'user') RETURNING id",
  );
  let runId: string | undefined;
  const taken: string[] = [];
  let served: Awaited<ReturnType<typeof serveBackupRequests>> | undefined;
  // The second click gives way to it; before it reads it back, a scheduler takes it and starts a
  // run (the scheduler that answers the rest of this test starts only now, with nothing pending).
  const pool = between(db.pool, 'ON CONFLICT', async (inserted) => {
    if (inserted !== 0 || runId) return;
    runId = (await db.pool.query<{ id: string }>("INSERT INTO backup_runs (kind) VALUES ('database') RETURNING id")).rows[0]!.id;
    await db.pool.query("UPDATE backup_requests SET status = 'started', picked_at = now(), run_id = $2 WHERE id = $1", [
      first.rows[0]!.id,
      runId,
    ]);
    served = await serveBackupRequests({
      pool: db.pool,
      start: async (requester) => {
        taken.push(requester.actor ?? '');
        const run = (await getRun(db.pool, runId!))!;
        return { run, alreadyRunning: true, done: Promise.resolve(run) };
      },
    });
  });
  try {
    const answer = await requestDatabaseBackup({ pool, actor: 'second', actorType: 'user', waitMs: 10_000 });
    expect(runId).toBeDefined();
    expect(answer).toMatchObject({ alreadyRunning: true, run: { id: runId, status: 'running' } });
    expect(taken).toEqual(['second']);
    const { rows } = await db.pool.query('SELECT actor, status, run_id FROM backup_requests ORDER BY requested_at');
    expect(rows).toEqual([
      { actor: 'first', status: 'started', run_id: runId },
      { actor: 'second', status: 'started', run_id: runId },
    ]);
  } finally {
    await served?.stop();
  }
});

it('a scheduler stopped while it reconnects leaves no connection listening', async () => {
  // Lends connections as db.pool does, except that once armed, connect() waits for the test.
  let armed = false;
  let connecting: (() => void) | undefined;
  const reconnecting = new Promise<void>((resolve) => (connecting = resolve));
  let letConnect: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (letConnect = resolve));
  const pool = new Proxy(db.pool, {
    get(target, prop) {
      if (prop === 'connect')
        return async () => {
          if (armed) {
            connecting!();
            await gate;
          }
          return target.connect();
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const listening = async () =>
    Number(
      (
        await db.pool.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'",
        )
      ).rows[0]!.n,
    );
  const served = await serveBackupRequests({ pool, start: () => Promise.reject(new Error('nothing is requested in this test')) });
  expect(await listening()).toBe(1);

  // The listening connection is lost; the scheduler reconnects (after a second) and is stopped
  // while its new connection is still being made.
  armed = true;
  await db.pool.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'",
  );
  await reconnecting;
  const stopping = served.stop();
  letConnect();
  await stopping;
  // A reconnection that outlived stop() would LISTEN just after it: give it the time to.
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(await listening()).toBe(0);
  expect(db.pool.totalCount).toBe(db.pool.idleCount);
});

import { checkout, withTransaction } from '@ct/lib';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a connection lost while checked out fails the call, not the process', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ prefix: 'lostconn', migrate: false });
  });
  afterAll(() => db.drop());

  const terminate = (pid: number) => db.pool.query('SELECT pg_terminate_backend($1)', [pid]);

  it('withTransaction: the transaction fails with a connection error, and the pool goes on', async () => {
    await expect(
      withTransaction(db.pool, async (tx) => {
        const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await terminate(rows[0]!.pid);
        await sleep(200); // the connection ends while the client is idle in its transaction
        await tx.query('SELECT 1');
      }),
    ).rejects.toThrow(/connection error|terminat/i);
    expect((await db.pool.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });

  it('checkout: the lost client is destroyed, not handed out again, and leaves no listener behind', async () => {
    const first = await checkout(db.pool);
    const { rows } = await first.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await terminate(rows[0]!.pid);
    await sleep(200);
    first.done();
    const second = await checkout(db.pool);
    try {
      const again = await second.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect(again.rows[0]!.pid).not.toBe(rows[0]!.pid);
      expect(second.client.listenerCount('error')).toBe(1); // its own, none left by the first
    } finally {
      second.done();
    }
  });
});

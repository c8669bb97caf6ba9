import { withTransaction } from '@ct/lib';
import { createAdminUser, hashPassword } from '@ct/api';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestApi, type TestApi } from '../api/harness';
import { address, callFrom, scrape } from './from-address';

/**
 * Password guessing against one account from many addresses: the per-address limit cannot stop
 * it, the per-account throttle does; unknown accounts answer exactly like known ones; every
 * failed login is in the audit log with its reason and address.
 */
// Every login attempt hashes at scrypt N = 2^17: seconds on a busy machine.
jest.setTimeout(180_000);
let api: TestApi;
let n = 0;
const login = (email: string, password: string) => callFrom(api.url, address(n++), 'POST', '/api/auth/login', { email, password });

beforeAll(async () => {
  // Generous per-address limit: each guess below comes from an address of its own anyway.
  api = await startTestApi({ settings: { rateLimitPerIp: 2, loginFreeFailures: 3, loginLockoutSeconds: 60, loginLockoutMaxSeconds: 600 } });
});
afterAll(() => api?.close());

it('slows then refuses guesses at one account from many addresses, the right password included, and audits each', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await login(ADMIN_EMAIL, `wrong guess number ${i}`)).status);
  // Three free failures (the third starts the wait), then every attempt waits, from any address.
  expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);

  const right = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
  expect(right.status).toBe(429);
  expect(right.body.message).toMatch(/too many failed logins for this account/);
  expect(Number(right.headers['retry-after'])).toBeGreaterThan(30);
  expect(right.body.accessToken).toBeUndefined();

  const { rows } = await api.pool.query(
    `SELECT actor, actor_type, outcome, details->>'reason' AS reason, host(source_ip) AS ip FROM audit_logs WHERE action = 'auth.login' ORDER BY id`,
  );
  expect(rows).toHaveLength(7);
  expect(rows.map((r) => r.reason)).toEqual([...Array(3).fill('wrong_password'), ...Array(4).fill('account_locked')]);
  expect(rows.every((r) => r.actor === ADMIN_EMAIL && r.actor_type === 'user' && r.outcome === 'denied')).toBe(true);
  expect(new Set(rows.map((r) => r.ip)).size).toBe(7); // each from its own address, recorded as such
  expect(await scrape(api)).toMatch(/ct_auth_failures_total\{reason="login_failed"\} 7/);

  // The wait ends: the right password works again, and clears the count.
  await api.pool.query(`UPDATE login_throttle SET locked_until = now() - interval '1 second'`);
  const after = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
  expect(after.status).toBe(200);
  expect((await api.pool.query('SELECT 1 FROM login_throttle')).rowCount).toBe(0);
});

it('doubles the wait at each further attempt, up to the maximum', async () => {
  const email = 'doubling@agency.test';
  const waits: number[] = [];
  for (let i = 0; i < 7; i++) {
    const res = await login(email, 'not the password');
    if (i >= 2) {
      // Both set by the attempt's one statement: the wait it imposed, whatever the time since.
      const { rows } = await api.pool.query(
        `SELECT round(extract(epoch FROM locked_until - last_failure_at))::int AS s FROM login_throttle WHERE account = $1`,
        [email],
      );
      waits.push(rows[0].s);
      await api.pool.query(`UPDATE login_throttle SET locked_until = now() - interval '1 second' WHERE account = $1`, [email]);
    }
    expect(res.status).toBe(401);
  }
  expect(waits).toEqual([60, 120, 240, 480, 600]);
});

it('gives nothing away about which accounts exist: same answers, same lockout, similar time', async () => {
  const fresh = await startTestApi({ db: api.db, settings: { rateLimitPerIp: 1000, loginFreeFailures: 3, loginLockoutSeconds: 60 } });
  try {
    await withTransaction(api.pool, async (tx) =>
      createAdminUser(tx, { email: 'known@agency.test', passwordHash: await hashPassword('the real password') }, { actor: 'test' }),
    );
    const since = (await api.pool.query<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM audit_logs')).rows[0]!.id;
    const attempt = (email: string) => callFrom(fresh.url, address(n++), 'POST', '/api/auth/login', { email, password: 'wrong password' });
    const known: Awaited<ReturnType<typeof attempt>>[] = [];
    const unknown: typeof known = [];
    for (let i = 0; i < 5; i++) {
      known.push(await attempt('known@agency.test'));
      unknown.push(await attempt('nobody@agency.test'));
    }
    const shape = (r: (typeof known)[number]) => [r.status, r.body.error, String(r.body.message).replace(/\d+ seconds/, 'N seconds')];
    expect(known.map(shape)).toEqual(unknown.map(shape));
    expect(known.map((r) => r.status)).toEqual([401, 401, 401, 429, 429]);
    // The password is checked (a hash at today's cost) whether or not the account exists.
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const k = median(known.slice(0, 3).map((r) => r.ms));
    const u = median(unknown.slice(0, 3).map((r) => r.ms));
    expect(u).toBeGreaterThan(k * 0.5);
    expect(k).toBeGreaterThan(u * 0.5);
    const { rows } = await api.pool.query(
      `SELECT actor, details->>'reason' AS reason FROM audit_logs WHERE action = 'auth.login' AND details->>'reason' = 'unknown_account' AND id > $1`,
      [since],
    );
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.actor === 'unknown')).toBe(true); // never the name typed (it may be a password)
  } finally {
    await fresh.close();
  }
});

it('holds across API processes sharing the database', async () => {
  const other = await startTestApi({ db: api.db, settings: { loginFreeFailures: 3, loginLockoutSeconds: 60 } });
  try {
    const email = 'shared@agency.test';
    for (const target of [api, other, api])
      await callFrom(target.url, address(n++), 'POST', '/api/auth/login', { email, password: 'nope nope' });
    const res = await callFrom(other.url, address(n++), 'POST', '/api/auth/login', { email, password: 'nope nope' });
    expect(res.status).toBe(429);
  } finally {
    await other.close();
  }
});

it('parallel guesses cannot overtake the count', async () => {
  const email = 'parallel@agency.test';
  const answers = await Promise.all(
    Array.from({ length: 8 }, () => callFrom(api.url, address(n++), 'POST', '/api/auth/login', { email, password: 'guess guess' })),
  );
  expect(answers.filter((a) => a.status === 401)).toHaveLength(3);
  expect(answers.filter((a) => a.status === 429)).toHaveLength(5);
});

it('rewrites a hash of an older scrypt cost at the next successful login', async () => {
  const email = 'old-hash@agency.test';
  await withTransaction(api.pool, async (tx) =>
    createAdminUser(tx, { email, passwordHash: await hashPassword('a password from 2024', { N: 16384, r: 8, p: 1 }) }, { actor: 'test' }),
  );
  const hashOf = async () =>
    (await api.pool.query<{ h: string }>('SELECT password_hash AS h FROM admin_users WHERE email = $1', [email])).rows[0]!.h;
  const before = await hashOf();
  expect(before).toMatch(/^scrypt\$16384\$8\$1\$/);
  expect((await login(email, 'not the password at all')).status).toBe(401);
  expect(await hashOf()).toBe(before); // a failed login rewrites nothing
  expect((await login(email, 'a password from 2024')).status).toBe(200);
  const after = await hashOf();
  expect(after).toMatch(/^scrypt\$131072\$8\$1\$[\w-]{22}\$[\w-]{86}$/);
  expect((await login(email, 'a password from 2024')).status).toBe(200);
  expect(await hashOf()).toBe(after); // rewritten once
});

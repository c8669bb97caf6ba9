import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { verifyAuditChain, withTransaction } from '@ct/lib';
import { createAdminUser, hashPassword, loadApiConfig } from '@ct/api';
import { ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET, startTestApi, type TestApi } from '../api/harness';
import { runCt } from '../helpers/cli';

/**
 * Sessions and credentials, attacked: a replayed refresh token, a session kept alive forever, an
 * access token of a disabled user, an access token outliving its session; and the operator
 * commands (API and CLI) that answer them.
 */
// Each login hashes at scrypt N = 2^17 (a second or more on a busy machine), the CLI test starts processes.
jest.setTimeout(480_000);
let api: TestApi;
let fakeNow = Date.now();

beforeAll(async () => {
  // The session-state cache runs on an injected clock: the bound is shown without waiting for it.
  api = await startTestApi({ settings: { sessionCheckIntervalSeconds: 30, clock: () => fakeNow } });
});
afterAll(() => api?.close());

const login = async (email = ADMIN_EMAIL, password = ADMIN_PASSWORD) => {
  const res = await api.call('POST', '/api/auth/login', { key: null, body: { email, password } });
  if (res.status !== 200) throw new Error(`login ${res.status}: ${res.text}`);
  return res.body as { accessToken: string; refreshToken: string; sessionExpiresAt: string };
};
const refresh = (refreshToken: string) => api.call('POST', '/api/auth/refresh', { key: null, body: { refreshToken } });
const me = (token: string) => api.call('GET', '/api/auth/me', { key: token });

async function newUser(email: string, password = 'a long enough password'): Promise<string> {
  return (
    await withTransaction(api.pool, async (tx) =>
      createAdminUser(tx, { email, passwordHash: await hashPassword(password) }, { actor: 'test' }),
    )
  ).id;
}

describe('refresh tokens', () => {
  it('a replayed refresh token ends its whole family: the newer tokens and the access tokens die too', async () => {
    const first = await login();
    const second = await refresh(first.refreshToken);
    expect(second.status).toBe(200);
    expect((await me(second.body.accessToken)).status).toBe(200);

    // The attacker (or the victim) presents the already-used first token.
    const replay = await refresh(first.refreshToken);
    expect(replay.status).toBe(401);
    expect(replay.body.message).toMatch(/already used; the session is ended/);

    // Whoever held the newer token is out as well: its refresh token and its access token.
    expect((await refresh(second.body.refreshToken)).status).toBe(401);
    const access = await me(second.body.accessToken);
    expect(access.status).toBe(401);
    expect(access.body.message).toMatch(/session ended \(refresh_token_reuse\)/);
    expect((await me(first.accessToken)).status).toBe(401);

    const { rows } = await api.pool.query(`SELECT actor, outcome, details FROM audit_logs WHERE action = 'auth.refresh_token_reuse'`);
    expect(rows).toEqual([expect.objectContaining({ actor: ADMIN_EMAIL, outcome: 'denied' })]);
    // Other sessions of the same user live on.
    expect((await me((await login()).accessToken)).status).toBe(200);
  });

  it('no refresh extends a session past its absolute lifetime', async () => {
    const short = await startTestApi({ db: api.db, settings: { sessionMaxAgeSeconds: 3, refreshTtlSeconds: 86400 } });
    try {
      const res = await short.call('POST', '/api/auth/login', { key: null, body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
      expect(Date.parse(res.body.sessionExpiresAt) - Date.now()).toBeLessThanOrEqual(3000);
      const r1 = await short.call('POST', '/api/auth/refresh', { key: null, body: { refreshToken: res.body.refreshToken } });
      expect(r1.status).toBe(200);
      // The refresh tokens die with the session, not in a day.
      const { rows } = await api.pool.query(
        `SELECT t.expires_at <= s.expires_at AS bounded FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
          WHERE date_trunc('milliseconds', s.expires_at) = $1::timestamptz`,
        [res.body.sessionExpiresAt],
      );
      expect(rows).toEqual([{ bounded: true }, { bounded: true }]);
      await new Promise((r) => setTimeout(r, 3200));
      const r2 = await short.call('POST', '/api/auth/refresh', { key: null, body: { refreshToken: r1.body.refreshToken } });
      expect(r2.status).toBe(401);
      expect((await short.call('GET', '/api/auth/me', { key: r1.body.accessToken })).status).toBe(401);
    } finally {
      await short.close();
    }
  });

  it('bounds the token lifetimes in the configuration', () => {
    const env = {
      DATABASE_URL: 'postgres://u@127.0.0.1/db',
      SECRETS_KEY: 'k'.repeat(32),
      N8N_URL: 'http://127.0.0.1:5678',
      N8N_API_KEY: 'x',
      API_JWT_SECRET: JWT_SECRET,
    };
    expect(() => loadApiConfig({ ...env, API_ACCESS_TOKEN_TTL: '2h' })).toThrow(/API_ACCESS_TOKEN_TTL: must be at most 3600 seconds/);
    expect(() => loadApiConfig({ ...env, API_SESSION_CHECK_INTERVAL: '5m' })).toThrow(/API_SESSION_CHECK_INTERVAL: must be at most 60/);
    expect(() => loadApiConfig({ ...env, API_SESSION_MAX_AGE: '1y' })).toThrow(/API_SESSION_MAX_AGE/);
    const cfg = loadApiConfig({ ...env, API_ACCESS_TOKEN_TTL: '10m' });
    expect(cfg).toMatchObject({ API_ACCESS_TOKEN_TTL: 600, API_SESSION_MAX_AGE: 30 * 86400, API_SESSION_CHECK_INTERVAL: 30 });
  });

  it('refuses an access token without a session, even correctly signed', async () => {
    const { rows } = await api.pool.query<{ id: string }>('SELECT id FROM admin_users WHERE email = $1', [ADMIN_EMAIL]);
    const signed = (claims: Record<string, string>) =>
      new SignJWT({ email: ADMIN_EMAIL, scope: 'admin', ...claims })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(rows[0]!.id)
        .setIssuer('ct-api')
        .setAudience('ct-api')
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(JWT_SECRET));
    expect((await me(await signed({}))).status).toBe(401); // signed before sessions existed: no sid
    expect((await me(await signed({ sid: randomUUID() }))).status).toBe(401);
  });
});

describe('access tokens follow the user state', () => {
  it('a user disabled elsewhere (another API process, SQL) is refused within the check interval (30 s)', async () => {
    await newUser('leaver@agency.test');
    const s = await login('leaver@agency.test', 'a long enough password');
    expect((await me(s.accessToken)).status).toBe(200);
    // Disabled behind this process's back: only the periodic re-check can notice.
    await api.pool.query(`UPDATE admin_users SET disabled_at = now() WHERE email = 'leaver@agency.test'`);
    fakeNow += 29_000;
    expect((await me(s.accessToken)).status).toBe(200); // within the bound, the cached state still answers
    fakeNow += 1_500;
    const refused = await me(s.accessToken);
    expect(refused.status).toBe(401);
    expect(refused.body.message).toMatch(/user disabled/);
    expect((await refresh(s.refreshToken)).status).toBe(401);
  });
});

describe('operator commands', () => {
  it('disable, enable, revoke sessions and reset a password through the API, each audited', async () => {
    const id = await newUser('temp@agency.test');
    const s = await login('temp@agency.test', 'a long enough password');

    const list = await api.call('GET', '/api/auth/users');
    expect(list.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ id, email: 'temp@agency.test', activeSessions: 1 })]));

    const disabled = await api.call('POST', `/api/auth/users/temp@agency.test/disable`);
    expect(disabled.body).toMatchObject({ changed: true, sessionsEnded: 1 });
    expect((await me(s.accessToken)).status).toBe(401); // at once in this process
    expect(
      (await api.call('POST', '/api/auth/login', { key: null, body: { email: 'temp@agency.test', password: 'a long enough password' } }))
        .status,
    ).toBe(401);
    expect((await api.call('POST', `/api/auth/users/${id}/enable`)).body).toMatchObject({ changed: true });
    const s2 = await login('temp@agency.test', 'a long enough password');

    const revoked = await api.call('POST', `/api/auth/users/${id}/revoke-sessions`);
    expect(revoked.body).toMatchObject({ sessionsEnded: 1, user: { activeSessions: 0 } });
    expect((await me(s2.accessToken)).status).toBe(401);
    expect((await refresh(s2.refreshToken)).status).toBe(401);

    const s3 = await login('temp@agency.test', 'a long enough password');
    const reset = await api.call('POST', `/api/auth/users/${id}/reset-password`);
    expect(reset.body.password).toMatch(/^[\w-]{24}$/);
    expect((await me(s3.accessToken)).status).toBe(401); // a new password ends every session
    expect(
      (await api.call('POST', '/api/auth/login', { key: null, body: { email: 'temp@agency.test', password: 'a long enough password' } }))
        .status,
    ).toBe(401);
    await login('temp@agency.test', reset.body.password);

    const { rows } = await api.pool.query(
      `SELECT action, actor, details FROM audit_logs WHERE target_id = $1 AND action LIKE 'admin_user.%' ORDER BY id`,
      [id],
    );
    expect(rows.map((r) => r.action)).toEqual([
      'admin_user.create',
      'admin_user.disable',
      'admin_user.enable',
      'admin_user.revoke_sessions',
      'admin_user.reset_password',
    ]);
    expect(rows[1].actor).toMatch(/^api_key:admin/);
    // The password is in that one answer: never in the audit log or the logs.
    expect(JSON.stringify(rows)).not.toContain(reset.body.password);
    expect(api.logLines.join('\n')).not.toContain(reset.body.password);
    expect((await verifyAuditChain(api.pool)).ok).toBe(true);
  });

  it('ct user and ct apikey do the same from the command line', async () => {
    const env = { ...process.env, DATABASE_URL: api.db.url, LOG_LEVEL: 'warn' };
    await newUser('cli@agency.test');
    const s = await login('cli@agency.test', 'a long enough password');

    const listed = await runCt(['user', 'list'], { env, timeoutMs: 120_000 });
    expect(listed.stdout).toMatch(/cli@agency\.test {2}enabled {2}last login \S+ {2}sessions 1/);
    const disabled = await runCt(['user', 'disable', 'cli@agency.test'], { env, timeoutMs: 120_000 });
    expect(disabled.stdout).toMatch(/cli@agency.test: disable; sessions ended: 1/);
    expect((await me(s.accessToken)).status).toBe(401);
    expect((await runCt(['user', 'enable', 'CLI@agency.test'], { env, timeoutMs: 120_000 })).stdout).toMatch(/enable; sessions ended: 0/);
    expect((await runCt(['user', 'disable', 'nobody@agency.test'], { env, timeoutMs: 120_000 })).stderr).toMatch(
      /admin user nobody@agency.test not found/,
    );

    const s2 = await login('cli@agency.test', 'a long enough password');
    expect((await runCt(['user', 'revoke-sessions', 'cli@agency.test'], { env, timeoutMs: 120_000 })).stdout).toMatch(/sessions ended: 1/);
    expect((await refresh(s2.refreshToken)).status).toBe(401);

    const piped = await runCt(['user', 'reset-password', 'cli@agency.test'], { env, input: 'another long password\n', timeoutMs: 120_000 });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toBe('');
    await login('cli@agency.test', 'another long password');
    const generated = await runCt(['user', 'reset-password', 'cli@agency.test', '--generate'], { env, timeoutMs: 120_000 });
    const password = generated.stdout.trim();
    expect(password).toMatch(/^[\w-]{24}$/);
    await login('cli@agency.test', password);

    const keys = await runCt(['apikey', 'list'], { env, timeoutMs: 120_000 });
    const prefix = api.keys.read.slice(0, 15); // what the key's own prefix is: ct_ and 12 characters
    expect(keys.stdout).toContain(`${prefix}…  read  read  owner test`);
    expect(keys.stdout).not.toContain(api.keys.read);
    const revoked = await runCt(['apikey', 'revoke', prefix], { env, timeoutMs: 120_000 });
    expect(revoked.stdout).toBe(`API key ${prefix}… revoked\n`);
    const refused = await api.call('GET', '/api/clients', { key: api.keys.read });
    expect([refused.status, refused.body.message]).toEqual([401, 'this API key was revoked']);
    expect((await runCt(['apikey', 'list', '--all'], { env, timeoutMs: 120_000 })).stdout).toMatch(/revoked/);

    const { rows } = await api.pool.query(`SELECT action, actor_type FROM audit_logs WHERE actor LIKE 'cli:%' ORDER BY id`);
    expect(rows.map((r) => r.action)).toEqual([
      'admin_user.disable',
      'admin_user.enable',
      'admin_user.revoke_sessions',
      'admin_user.reset_password',
      'admin_user.reset_password',
      'api_key.revoke',
    ]);
  });

  it('the OpenAPI document lists the operator routes, admin scope', async () => {
    const doc = (await api.call('GET', '/api/openapi.json', { key: null })).body;
    for (const p of ['disable', 'enable', 'revoke-sessions', 'reset-password'])
      expect(doc.paths[`/api/auth/users/{user}/${p}`].post['x-required-scope']).toBe('admin');
    expect(doc.paths['/api/auth/users'].get['x-required-scope']).toBe('admin');
  });
});

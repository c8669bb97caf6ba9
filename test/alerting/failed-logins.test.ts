import { ADMIN_EMAIL, startTestApi, type TestApi } from '../api/harness';

/**
 * FailedLoginsHigh counts `ct_auth_failures_total{reason="login_failed"}`: the API gives refused
 * logins (POST /api/auth/login) that reason of their own, and every other refused credential a
 * different one, so missing keys, scope errors and webhook signatures never read as failed logins.
 */

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api.close());

const failures = async () => {
  const text = await api.scrape();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^ct_auth_failures_total\{reason="([^"]+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
};

it('counts refused logins under reason="login_failed" and nothing else there', async () => {
  const before = await failures();
  const login = (email: string, password: string) => api.call('POST', '/api/auth/login', { key: null, body: { email, password } });
  expect((await login(ADMIN_EMAIL, 'wrong password here')).status).toBe(401);
  expect((await login('nobody@agency.test', 'wrong password here')).status).toBe(401);
  // other refusals: a missing credential, an unknown API key
  expect((await api.call('GET', '/api/clients', { key: null })).status).toBe(401);
  expect((await api.call('GET', '/api/clients', { key: 'ct_not-a-key' })).status).toBe(401);
  const after = await failures();
  expect((after.login_failed ?? 0) - (before.login_failed ?? 0)).toBe(2);
  const others = Object.keys(after).filter((r) => r !== 'login_failed');
  expect(others.reduce((n, r) => n + after[r]! - (before[r] ?? 0), 0)).toBe(2);
});

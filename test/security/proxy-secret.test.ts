import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GRAFANA_PROXY_ROUTES } from '@ct/api';
import { operations, PROXY_SECRET, startTestApi, type TestApi } from '../api/harness';

/**
 * The Grafana proxy secret names any user an admin: whoever learns it must still reach only
 * what the admin app plugin calls — never API keys, users, or client creation — and rotating
 * it must not cut Grafana off.
 */
const PREVIOUS = 'the-previous-grafana-proxy-secret-0123456789';
const PLUGIN = path.resolve(__dirname, '..', '..', 'grafana-plugins', 'ct-admin-app', 'src');
let api: TestApi;
const as = (secret: string) => ({ key: null, headers: { 'x-ct-proxy-secret': secret, 'x-grafana-user': 'mallory' } });

beforeAll(async () => {
  api = await startTestApi({ settings: { grafanaProxySecretPrevious: PREVIOUS } });
});
afterAll(() => api?.close());

it('refuses creating API keys, managing users and keys, and creating clients with the proxy secret', async () => {
  const attempts: [string, string, unknown?][] = [
    ['POST', '/api/auth/api-keys', { name: 'backdoor', scopes: ['admin'] }],
    ['GET', '/api/auth/api-keys'],
    ['DELETE', `/api/auth/api-keys/00000000-0000-4000-8000-000000000000`],
    ['GET', '/api/auth/users'],
    ['POST', '/api/auth/users/ops@agency.test/reset-password', {}],
    ['POST', '/api/auth/users/ops@agency.test/disable'],
    ['POST', '/api/auth/users/ops@agency.test/revoke-sessions'],
    ['POST', '/api/clients', { slug: 'sneaky', name: 'Sneaky' }],
    // The same, dressed up: case, trailing slash, encoded characters.
    ['POST', '/API/AUTH/API-KEYS', { name: 'backdoor', scopes: ['admin'] }],
    ['POST', '/api/auth/api-keys/', { name: 'backdoor', scopes: ['admin'] }],
    ['POST', '/api/auth/%61pi-keys', { name: 'backdoor', scopes: ['admin'] }],
    ['POST', '/api/clients/x/../../auth/api-keys', { name: 'backdoor', scopes: ['admin'] }],
  ];
  for (const secret of [PROXY_SECRET, PREVIOUS]) {
    for (const [method, p, body] of attempts) {
      const res = await api.call(method, p, { ...as(secret), body });
      expect([method, p, res.status]).toEqual([method, p, 403]);
    }
  }
  expect((await api.pool.query(`SELECT 1 FROM api_keys WHERE name = 'backdoor'`)).rowCount).toBe(0);
  expect((await api.pool.query(`SELECT 1 FROM clients WHERE slug = 'sneaky'`)).rowCount).toBe(0);
  const users = await api.pool.query(`SELECT disabled_at FROM admin_users`);
  expect(users.rows.every((u) => u.disabled_at === null)).toBe(true);
});

it('reaches every call the admin app plugin makes, with the current and the previous secret; a third secret fails', async () => {
  // What the plugin calls: its declared operations (src/api/client.ts), each checked against the API.
  const source = readFileSync(path.join(PLUGIN, 'api', 'client.ts'), 'utf8');
  const calls = [...source.matchAll(/declare\('(get|post|patch|delete)', '([^']+)'\)/g)].map((m) => [m[1]!.toUpperCase(), m[2]!]);
  expect(calls.length).toBeGreaterThan(10);
  expect(calls.map(([m, p]) => `${m} ${p}`).sort()).toEqual(GRAFANA_PROXY_ROUTES.map(([m, p]) => `${m} ${p}`).sort());

  const documented = new Set((await operations(api)).map((o) => `${o.method} ${o.template}`));
  // The API's document says the same: the proxy scheme is on exactly these operations.
  const doc = (await api.call('GET', '/api/openapi.json', { key: null })).body as {
    paths: Record<string, Record<string, { security: Record<string, unknown>[] }>>;
  };
  const proxied = Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.entries(ops)
      .filter(([, op]) => op.security.some((x) => 'grafanaProxy' in x))
      .map(([m]) => `${m.toUpperCase()} ${p}`),
  );
  expect(proxied.sort()).toEqual(GRAFANA_PROXY_ROUTES.map(([m, p]) => `${m} ${p}`).sort());
  for (const [method, template] of calls) expect(documented).toContain(`${method} ${template}`);

  await api.pool.query(`INSERT INTO clients (slug, name) VALUES ('proxied', 'Proxied')`);
  for (const secret of [PROXY_SECRET, PREVIOUS]) {
    expect((await api.call('GET', '/api/auth/me', as(secret))).body).toMatchObject({ actor: 'grafana:mallory', scopes: ['admin'] });
    expect((await api.call('GET', '/api/clients', as(secret))).status).toBe(200);
    expect((await api.call('GET', '/api/clients/proxied', as(secret))).status).toBe(200);
    expect((await api.call('POST', '/api/clients/proxied/pause', as(secret))).status).toBe(200);
    expect((await api.call('GET', '/api/admin/audit?limit=5', as(secret))).status).toBe(200);
  }
  const third = await api.call('GET', '/api/auth/me', as('a-third-secret-nobody-configured-0123456789'));
  expect(third.status).toBe(401);
  const noPrevious = await startTestApi({ db: api.db });
  try {
    expect((await noPrevious.call('GET', '/api/auth/me', as(PREVIOUS))).status).toBe(401); // once unset, the old one is dead
    expect((await noPrevious.call('GET', '/api/auth/me', as(PROXY_SECRET))).status).toBe(200);
  } finally {
    await noPrevious.close();
  }
});

it('the plugin routes of plugin.json forward nothing the API would take from the proxy beyond that list', () => {
  const plugin = JSON.parse(readFileSync(path.join(PLUGIN, 'plugin.json'), 'utf8')) as { routes: { path: string; method: string }[] };
  // Every proxied call of the allow-list has a plugin route (else the plugin could not make it).
  for (const [method, template] of GRAFANA_PROXY_ROUTES) {
    const p = template.replace(/^\//, '');
    const routed = plugin.routes.some(
      (r) => r.method === method && (r.path === p || (r.path.endsWith('/*') && p.startsWith(r.path.slice(0, -1)))),
    );
    expect([method, template, routed]).toEqual([method, template, true]);
  }
});

import { randomUUID } from 'node:crypto';
import { signWebhook } from '@ct/api';
import { ADMIN_EMAIL, ADMIN_PASSWORD, operations, startTestApi, type Res, type TestApi } from '../api/harness';

/**
 * What the public listener gives away. The attacks: read /metrics (every client's slug, request
 * rates, refusals) or /readyz from outside, under any spelling express would route; read a
 * token, an API key or a webhook secret back out of a browser or proxy cache.
 */
let api: TestApi;
const SLUG = 'quiet-bakery';
let webhookSecret: string;

beforeAll(async () => {
  api = await startTestApi();
  const created = await api.call('POST', '/api/clients', { body: { slug: SLUG, name: 'Quiet Bakery' } });
  webhookSecret = created.body.webhookSecret;
  // The client's slug is now in the API's metrics.
  const raw = JSON.stringify({ id: randomUUID(), type: 'order.placed' });
  const posted = await api.call('POST', `/api/webhooks/n8n/${SLUG}`, {
    key: null,
    raw,
    headers: { 'content-type': 'application/json', ...signWebhook(webhookSecret, raw) },
  });
  expect(posted.status).toBe(201);
});
afterAll(() => api.close());

describe('/metrics and /readyz are on the internal listener only', () => {
  const SPELLINGS = [
    '/metrics',
    '/metrics/',
    '/METRICS',
    '/Metrics/',
    '/metrics?format=prometheus',
    '/metrics//',
    '//metrics',
    '/metrics;',
    '/metrics.',
    '/%6Detrics',
    '/metrics%2F',
    '/%2Fmetrics',
    '/api/../metrics',
    '/readyz',
    '/readyz/',
    '/READYZ',
    '/ReadyZ/',
    '/readyz?x=1',
  ];

  it.each(SPELLINGS)('the public listener answers 404 to GET and HEAD %s, with or without a key', async (path) => {
    for (const key of [null, api.keys.admin]) {
      for (const method of ['GET', 'HEAD']) {
        const res = await api.call(method, path, { key });
        expect([method, path, key ? 'key' : 'none', res.status]).toEqual([method, path, key ? 'key' : 'none', 404]);
        expect(res.text).not.toContain('ct_api_');
        expect(res.text).not.toContain(SLUG);
        expect(res.text).not.toContain('database');
      }
    }
  });

  it('the internal listener serves them, and the public one keeps /healthz for probes', async () => {
    const scrape = await api.internal('/metrics');
    expect(scrape.status).toBe(200);
    expect(scrape.text).toContain(`client="${SLUG}"`);
    expect((await api.internal('/readyz')).body).toEqual({ status: 'ready', database: 'reachable' });
    expect((await api.internal('/healthz')).status).toBe(200);
    expect((await api.call('GET', '/healthz', { key: null })).body).toEqual({ status: 'ok' });
    // Only the exact paths there, too.
    for (const path of ['/METRICS', '/metrics/', '/api/clients']) expect([path, (await api.internal(path)).status]).toEqual([path, 404]);
  });
});

describe('Cache-Control: no-store', () => {
  const noStore = (what: string, res: Res) => expect([what, res.headers.get('cache-control')]).toEqual([what, 'no-store']);

  it('on every answer that carries a token, an API key or a webhook secret', async () => {
    const login = await api.call('POST', '/api/auth/login', { key: null, body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
    expect(login.body.accessToken).toEqual(expect.any(String));
    noStore('login', login);
    const refresh = await api.call('POST', '/api/auth/refresh', { key: null, body: { refreshToken: login.body.refreshToken } });
    expect(refresh.body.refreshToken).toEqual(expect.any(String));
    noStore('refresh', refresh);
    const key = await api.call('POST', '/api/auth/api-keys', { body: { name: 'cache-test', scopes: ['read'] } });
    expect(key.body.key).toMatch(/^ct_/);
    noStore('api key creation', key);
    const client = await api.call('POST', '/api/clients', { body: { slug: 'cached-co', name: 'Cached Co' } });
    expect(client.body.webhookSecret).toEqual(expect.any(String));
    noStore('client creation', client);
    const rotated = await api.call('POST', `/api/admin/clients/cached-co/rotate-secret`, { body: {} });
    expect(rotated.status).toBe(200);
    noStore('secret rotation', rotated);
    // The restart-stuck dry run answers a review token.
    noStore('restart-stuck dry run', await api.call('POST', '/api/admin/executions/restart-stuck', { body: { dryRun: true } }));
    // Refusals and limits too: what an error says is nobody's to cache.
    noStore('401', await api.call('GET', '/api/clients', { key: 'ct_not-a-real-key' }));
    noStore('404', await api.call('GET', '/api/nothing-here'));
  });

  it('on every operation of the OpenAPI document, and on a 429', async () => {
    let checked = 0;
    for (const op of await operations(api)) {
      const path = op.template.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'client' ? 'cached-co' : randomUUID()));
      // Every route answers, whatever the outcome (a 4xx for a made-up id is fine): the header is on it.
      const res = await api.call(op.method, path, op.method === 'GET' || op.method === 'DELETE' ? {} : { body: {} });
      noStore(`${op.method} ${op.template} (${res.status})`, res);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
    const limited = await startTestApi({ db: api.db, settings: { rateLimitPerIp: 1 } });
    try {
      await limited.call('GET', '/api/clients');
      const res = await limited.call('GET', '/api/clients');
      expect(res.status).toBe(429);
      noStore('429', res);
    } finally {
      await limited.close();
    }
  });
});

import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { verifyAuditChain } from '@ct/lib';
import { signWebhook } from '@ct/api';
import { ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET, operations, PROXY_SECRET, startTestApi, type TestApi } from './harness';

const INJECTIONS = ["x'); DROP TABLE clients; --", "' OR '1'='1", '%_\\%', '$1::text', 'Robert"; DELETE FROM audit_logs; --'];
const HUGE = 'A'.repeat(100_000);

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api.close());

describe('SQL injection and oversized strings', () => {
  it('every string query parameter and body field of every route answers 2xx/4xx, never 5xx', async () => {
    let sent = 0;
    for (const { method: m, template, query: queryParams, body: bodyProps } of await operations(api)) {
      const method = m.toLowerCase();
      if (template.startsWith('/api/webhooks')) continue;
      const path = template.replace(/\{(\w+)\}/g, (_m, name) => (name === 'client' ? 'pizza-shop' : randomUUID()));
      for (const value of [...INJECTIONS, HUGE]) {
        for (const q of queryParams) {
          const res = await api.call(method.toUpperCase(), `${path}?${q}=${encodeURIComponent(value)}`);
          if (res.status >= 500) throw new Error(`${method} ${template}?${q} answered ${res.status}: ${res.text}`);
          sent++;
        }
        for (const field of bodyProps) {
          const res = await api.call(method.toUpperCase(), path, { body: { [field]: value } });
          if (res.status >= 500) throw new Error(`${method} ${template} body.${field} answered ${res.status}: ${res.text}`);
          sent++;
        }
        // The path parameters themselves.
        if (template.includes('{')) {
          const res = await api.call(
            method.toUpperCase(),
            template.replace(/\{\w+\}/g, encodeURIComponent(value.slice(0, 2000))),
            method === 'get' ? {} : { body: {} },
          );
          if (res.status >= 500) throw new Error(`${method} ${template} path answered ${res.status}: ${res.text}`);
        }
      }
    }
    expect(sent).toBeGreaterThan(200);
    const { rows } = await api.pool.query("SELECT to_regclass('clients') AS c, to_regclass('audit_logs') AS a");
    expect(rows[0]).toEqual({ c: 'clients', a: 'audit_logs' });
    expect((await verifyAuditChain(api.pool)).ok).toBe(true);
  });

  it('stores hostile text verbatim where it is allowed, and filters match it literally', async () => {
    const name = INJECTIONS[0]!;
    const created = await api.call('POST', '/api/clients', { body: { slug: 'bobby-tables', name } });
    expect(created.status).toBe(201);
    expect((await api.call('GET', '/api/clients/bobby-tables')).body.name).toBe(name);
    const plan = await api.call('POST', '/api/billing/plans', { body: { code: 'odd', name: INJECTIONS[4], monthlyAmountCents: 1 } });
    expect(plan.body.name).toBe(INJECTIONS[4]);
    const inv = await api.call('POST', '/api/billing/invoices', {
      body: { client: 'bobby-tables', number: INJECTIONS[1], amountCents: 5 },
    });
    expect(inv.body.number).toBe(INJECTIONS[1]);
    // A LIKE wildcard or a quote in the filter is a literal: it matches only what contains it.
    const all = await api.call('GET', `/api/clients?q=${encodeURIComponent("' OR '1'='1")}`);
    expect(all.body.data).toEqual([]);
    const pct = await api.call('GET', `/api/clients?q=${encodeURIComponent('%')}`);
    expect(pct.body.data).toEqual([]);
    const hit = await api.call('GET', `/api/clients?q=${encodeURIComponent('DROP TABLE')}`);
    expect(hit.body.data.map((c: { slug: string }) => c.slug)).toEqual(['bobby-tables']);
    const audit = await api.call('GET', `/api/admin/audit?actor=${encodeURIComponent("' OR 1=1 --")}`);
    expect(audit.body.data).toEqual([]);
  });

  it('answers 400, not 500, to a path that is not valid percent-encoding', async () => {
    for (const path of ['/api/clients/%E0', '/api/billing/invoices/%ZZ/pay']) {
      const res = await api.call(path.endsWith('/pay') ? 'POST' : 'GET', path, {});
      expect([path, res.status, res.body.error]).toEqual([path, 400, 'bad_request']);
    }
  });

  it('refuses a slug shaped like a UUID, which paths would read as an id', async () => {
    const res = await api.call('POST', '/api/clients', { body: { slug: 'deadbeef-dead-beef-dead-beefdeadbeef', name: 'Sneaky' } });
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('body slug: must not have the shape of a UUID');
  });

  it('rejects oversized strings with 400 naming the field', async () => {
    const res = await api.call('POST', '/api/clients', { body: { slug: 'big-one', name: HUGE.slice(0, 201) } });
    expect(res.status).toBe(400);
    expect(res.body.fields[0]).toMatchObject({ in: 'body', field: 'name' });
    const body = await api.call('POST', '/api/clients', { body: { slug: 'big-two', name: HUGE + HUGE } });
    expect(body.status).toBe(413);
  });
});

describe('authentication', () => {
  it('logs in, refreshes once per refresh token, and refuses wrong passwords', async () => {
    const bad = await api.call('POST', '/api/auth/login', { key: null, body: { email: ADMIN_EMAIL, password: 'wrong password!' } });
    expect(bad.status).toBe(401);
    const unknown = await api.call('POST', '/api/auth/login', { key: null, body: { email: 'who@nowhere.test', password: 'whatever123' } });
    expect(unknown.status).toBe(401);
    const ok = await api.call('POST', '/api/auth/login', {
      key: null,
      body: { email: ADMIN_EMAIL.toUpperCase(), password: ADMIN_PASSWORD },
    });
    expect(ok.status).toBe(200);
    const me = await api.call('GET', '/api/auth/me', { key: ok.body.accessToken });
    expect(me.body).toMatchObject({ actor: ADMIN_EMAIL, actorType: 'user', scopes: ['admin'] });
    const r1 = await api.call('POST', '/api/auth/refresh', { key: null, body: { refreshToken: ok.body.refreshToken } });
    expect(r1.status).toBe(200);
    const reuse = await api.call('POST', '/api/auth/refresh', { key: null, body: { refreshToken: ok.body.refreshToken } });
    expect(reuse.status).toBe(401);
  });

  it('refuses expired, forged and malformed tokens, and revoked API keys', async () => {
    const key = new TextEncoder().encode(JWT_SECRET);
    const expired = await new SignJWT({ email: 'x@y.z' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u')
      .setIssuer('ct-api')
      .setAudience('ct-api')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
      .sign(key);
    const r = await api.call('GET', '/api/auth/me', { key: expired });
    expect(r.status).toBe(401);
    expect(r.body.message).toMatch(/expired/);
    const forged = await new SignJWT({ email: 'x@y.z' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u')
      .setIssuer('ct-api')
      .setAudience('ct-api')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-another-secret-1234567'));
    expect((await api.call('GET', '/api/auth/me', { key: forged })).status).toBe(401);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"u","email":"a@b.c"}').toString('base64url')}.`;
    expect((await api.call('GET', '/api/auth/me', { key: none })).status).toBe(401);
    expect((await api.call('GET', '/api/auth/me', { key: null, headers: { authorization: 'Basic abc' } })).status).toBe(401);
    expect((await api.call('GET', '/api/auth/me', { key: `${api.keys.read.slice(0, -2)}zz` })).status).toBe(401);
    const created = await api.call('POST', '/api/auth/api-keys', { body: { name: 'short-lived', scopes: ['read'] } });
    expect((await api.call('GET', '/api/clients', { key: created.body.key })).status).toBe(200);
    await api.call('DELETE', `/api/auth/api-keys/${created.body.id}`);
    const revoked = await api.call('GET', '/api/clients', { key: created.body.key });
    expect(revoked.status).toBe(401);
    expect(revoked.body.message).toMatch(/revoked/);
    expect((await api.call('GET', '/api/clients', { key: null, headers: { 'x-api-key': api.keys.read } })).status).toBe(200);
  });

  it('marks an API key used, asking the database once a minute rather than once a request', async () => {
    const created = await api.call('POST', '/api/auth/api-keys', { body: { name: 'busy-reader', scopes: ['read'] } });
    const touches = jest.spyOn(api.db.appPool, 'query');
    try {
      for (let i = 0; i < 20; i++) expect((await api.call('GET', '/api/clients', { key: created.body.key })).status).toBe(200);
      const updates = touches.mock.calls.filter(([sql]) => typeof sql === 'string' && /^\s*UPDATE api_keys SET last_used_at/.test(sql));
      expect(updates).toHaveLength(1);
    } finally {
      touches.mockRestore();
    }
    const listed = await api.call('GET', '/api/auth/api-keys');
    const mine = listed.body.data.find((k: { id: string }) => k.id === created.body.id);
    expect(mine.lastUsedAt).not.toBeNull();
    expect(Date.now() - Date.parse(mine.lastUsedAt)).toBeLessThan(60_000);
  });

  it('sends no ETag: every answer is no-store, so hashing each body would be wasted', async () => {
    const res = await api.call('GET', '/api/clients');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('etag')).toBeNull();
  });

  it('trusts the Grafana proxy secret as admin on the admin app routes and records X-Grafana-User as the actor', async () => {
    const headers = { 'x-ct-proxy-secret': PROXY_SECRET, 'x-grafana-user': 'alice' };
    const created = await api.call('POST', '/api/clients', { body: { slug: 'via-grafana', name: 'Via Grafana' } });
    const res = await api.call('POST', '/api/clients/via-grafana/pause', { key: null, headers });
    expect(res.status).toBe(200);
    const { rows } = await api.pool.query("SELECT actor, actor_type FROM audit_logs WHERE action = 'client.pause' AND client_id = $1", [
      created.body.client.id,
    ]);
    expect(rows).toEqual([{ actor: 'grafana:alice', actor_type: 'grafana' }]);
    expect((await api.call('POST', '/api/admin/audit/verify', { key: null, headers })).status).toBe(200);
    expect(
      (await api.call('GET', '/api/clients', { key: null, headers: { ...headers, 'x-ct-proxy-secret': 'x'.repeat(41) } })).status,
    ).toBe(401);
    expect((await api.call('GET', '/api/clients', { key: null, headers: { 'x-ct-proxy-secret': PROXY_SECRET } })).status).toBe(401);
  });
});

describe('middleware', () => {
  it('sets security headers, a request id, and no CORS headers by default', async () => {
    const res = await api.call('GET', '/api/clients', { headers: { origin: 'https://evil.example', 'x-request-id': 'trace-123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toBeTruthy();
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('never logs bodies, secrets or tokens', async () => {
    const secretName = `secret-${randomUUID()}`;
    await api.call('POST', '/api/auth/login', { key: null, body: { email: ADMIN_EMAIL, password: secretName } });
    const created = await api.call('POST', '/api/clients', { body: { slug: 'log-check', name: secretName } });
    const lines = api.logLines.join('\n');
    expect(lines).toContain('"route":"/api/clients"');
    for (const s of [secretName, api.keys.admin, created.body.webhookSecret, ADMIN_PASSWORD]) expect(lines).not.toContain(s);
  });

  it('answers /healthz and /readyz', async () => {
    expect((await api.call('GET', '/healthz', { key: null })).status).toBe(200);
    expect((await api.internal('/readyz')).body).toMatchObject({ database: 'reachable' });
  });
});

describe('rate limits, CORS allow-list, backups not wired', () => {
  let small: TestApi;
  beforeAll(async () => {
    small = await startTestApi({
      db: api.db,
      settings: { rateLimitPerIp: 1000, rateLimitPerKey: 5, webhookRateLimit: 3, corsOrigins: ['https://grafana.agency.test'] },
    });
  });
  afterAll(() => small.close());

  it('limits per API key with 429 and Retry-After, and counts it', async () => {
    for (let i = 0; i < 5; i++) expect((await small.call('GET', '/api/clients', { key: small.keys.read })).status).toBe(200);
    const limited = await small.call('GET', '/api/clients', { key: small.keys.read });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another key is not affected.
    expect((await small.call('GET', '/api/clients', { key: small.keys.write })).status).toBe(200);
    expect(await small.scrape()).toMatch(/ct_rate_limited_total [1-9]/);
  });

  it('limits per IP', async () => {
    const perIp = await startTestApi({ db: api.db, settings: { rateLimitPerIp: 3 } });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++)
        statuses.push((await perIp.call('GET', '/api/clients', { key: i % 2 ? perIp.keys.read : perIp.keys.write })).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await perIp.close();
    }
  });

  it('limits webhook posts per client', async () => {
    const c = await small.call('POST', '/api/clients', { key: small.keys.admin, body: { slug: 'busy-client', name: 'Busy' } });
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const raw = JSON.stringify({ id: randomUUID(), type: 'ping' });
      statuses.push(
        (
          await small.call('POST', '/api/webhooks/n8n/busy-client', {
            key: null,
            raw,
            headers: { 'content-type': 'application/json', ...signWebhook(c.body.webhookSecret, raw) },
          })
        ).status,
      );
    }
    expect(statuses).toEqual([201, 201, 201, 429]);
    // The same client under another spelling of its path shares that limit.
    for (const path of ['busy%2Dclient', 'busy-client/', 'bus%79-client']) {
      const raw = JSON.stringify({ id: randomUUID(), type: 'ping' });
      const res = await small.call('POST', `/api/webhooks/n8n/${path}`, {
        key: null,
        raw,
        headers: { 'content-type': 'application/json', ...signWebhook(c.body.webhookSecret, raw) },
      });
      expect([path, res.status]).toEqual([path, 429]);
    }
  });

  it("refused webhook posts use up the sender's allowance for that client, never the client's own nor another client's", async () => {
    const perIp = await startTestApi({ db: api.db, settings: { rateLimitPerIp: 3, webhookRateLimit: 2 } });
    try {
      const c = await perIp.call('POST', '/api/clients', { key: perIp.keys.admin, body: { slug: 'calm-client', name: 'Calm' } });
      const other = await perIp.call('POST', '/api/clients', { key: perIp.keys.admin, body: { slug: 'other-client', name: 'Other' } });
      const post = (secret: string, path = 'calm-client') => {
        const raw = JSON.stringify({ id: randomUUID(), type: 'ping' });
        return perIp.call('POST', `/api/webhooks/n8n/${path}`, {
          key: null,
          raw,
          headers: { 'content-type': 'application/json', ...signWebhook(secret, raw) },
        });
      };
      // Two forged posts to the client: refused, and they leave the client's two posts free.
      expect([(await post('whsec_forged')).status, (await post('whsec_forged')).status]).toEqual([401, 401]);
      expect([(await post(c.body.webhookSecret)).status, (await post(c.body.webhookSecret)).status]).toEqual([201, 201]);
      expect((await post(c.body.webhookSecret)).status).toBe(429);
      // That 429 was the third refusal from this address for this client: its posts to it now wait,
      // while its posts to other clients (the same n8n server posts for all of them) go on.
      expect((await post(c.body.webhookSecret)).status).toBe(429);
      expect((await post('whsec_forged', 'no-such-client')).status).toBe(401);
      expect((await post(other.body.webhookSecret, 'other-client')).status).toBe(201);
    } finally {
      await perIp.close();
    }
  });

  it('answers 404 for any other path under /api/webhooks without looking at credentials', async () => {
    for (const key of [null, 'ct_not-a-real-key', small.keys.read]) {
      const res = await small.call('GET', '/api/webhooks/anything', { key });
      expect([key, res.status, res.body.error]).toEqual([key, 404, 'not_found']);
    }
  });

  it('a flood naming a Grafana user with a wrong proxy secret does not lock that user out', async () => {
    const forged = { 'x-ct-proxy-secret': 'y'.repeat(41), 'x-grafana-user': 'alice' };
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await small.call('GET', '/api/clients', { key: null, headers: forged })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    const real = await small.call('GET', '/api/clients', {
      key: null,
      headers: { 'x-ct-proxy-secret': PROXY_SECRET, 'x-grafana-user': 'alice' },
    });
    expect(real.status).toBe(200);
  });

  it('allows only the configured CORS origins', async () => {
    const ok = await small.call('OPTIONS', '/api/clients', {
      key: null,
      headers: { origin: 'https://grafana.agency.test', 'access-control-request-method': 'GET' },
    });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://grafana.agency.test');
    const no = await small.call('OPTIONS', '/api/clients', {
      key: null,
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(no.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers 501 with a clear message when no backup module is wired', async () => {
    const res = await small.call('POST', '/api/admin/backups', { key: small.keys.admin });
    expect(res.status).toBe(501);
    expect(res.body.message).toMatch(/backups are not configured/);
  });
});

describe('own metrics', () => {
  it('serve a scrape that promtool check metrics accepts, with route templates only', async () => {
    await api.call('GET', '/api/clients/some-client');
    await api.call('GET', '/api/nothing-here');
    const scrape = await api.scrape();
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: scrape, encoding: 'utf8' });
    expect(`${lint.stdout}${lint.stderr}`.trim()).toBe('');
    expect(lint.status).toBe(0);
    for (const name of [
      'ct_api_request_duration_seconds_bucket',
      'ct_auth_failures_total',
      'ct_rate_limited_total',
      'ct_quick_actions_total',
    ]) {
      expect(scrape).toContain(name);
    }
    expect(scrape).toContain('route="/api/clients/:client"');
    expect(scrape).toContain('route="unmatched"');
    expect(scrape).not.toContain('some-client');
  });

  it('label an error answered by a route with its whole template, not its path under the mount', async () => {
    // An error leaving an express router resets req.baseUrl: these were "/:client", "/" and "/n8n/:client".
    const before = await api.scrape();
    expect((await api.call('GET', '/api/clients/no-such-client')).status).toBe(404);
    expect((await api.call('POST', '/api/clients', { body: { slug: 'x' } })).status).toBe(400);
    expect((await api.call('POST', '/api/webhooks/n8n/no-such-client', { body: {} })).status).toBe(401);
    const after = await api.scrape();
    const count = (text: string, series: string) =>
      Number(new RegExp(`^ct_api_request_duration_seconds_count\\{${series}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    for (const series of [
      'method="GET",route="/api/clients/:client",status="404"',
      'method="POST",route="/api/clients",status="400"',
      'method="POST",route="/api/webhooks/n8n/:client",status="401"',
    ])
      expect({ series, added: count(after, series) - count(before, series) }).toEqual({ series, added: 1 });
    expect(after).not.toMatch(/route="\/(?:n8n\/)?(?::client)?"/);
  });

  it('label a request refused before routing with the mount it was aimed at, as AdminAuthFailureBurst expects', async () => {
    const before = await api.scrape();
    const count = (text: string) =>
      Number(/ct_api_request_duration_seconds_count\{method="POST",route="\/api\/admin\/\*",status="401"\} (\d+)/.exec(text)?.[1] ?? 0);
    for (const key of ['ct_guessed-key-1', 'ct_guessed-key-2'])
      expect((await api.call('POST', '/api/admin/backups', { key })).status).toBe(401);
    const after = await api.scrape();
    expect(count(after) - count(before)).toBe(2);
    // The alert's selector takes that series.
    const rules = readFileSync(path.resolve(__dirname, '../../alerting/rules/alerts.yml'), 'utf8');
    const selector = /AdminAuthFailureBurst[\s\S]*?route=~"([^"]+)"/.exec(rules)![1]!;
    expect('/api/admin/*').toMatch(new RegExp(`^(?:${selector})$`));
  });
});

describe('force backup through the injected backup function', () => {
  it('answers the running backup to a second request, and audits each request; a failing start is a 502', async () => {
    let running: { id: string; status: string; startedAt: string } | null = null;
    let fail = false;
    const withBackup = await startTestApi({
      db: api.db,
      forceBackup: async () => {
        if (fail) throw new Error('S3 bucket unreachable');
        const alreadyRunning = running !== null;
        running ??= { id: randomUUID(), status: 'running', startedAt: new Date().toISOString() };
        return { run: running, alreadyRunning };
      },
    });
    try {
      const first = await withBackup.call('POST', '/api/admin/backups');
      expect(first.status).toBe(202);
      expect(first.body.alreadyRunning).toBe(false);
      const second = await withBackup.call('POST', '/api/admin/backups');
      expect(second.body).toEqual({ alreadyRunning: true, run: first.body.run });
      fail = true;
      const broken = await withBackup.call('POST', '/api/admin/backups');
      expect(broken.status).toBe(502);
      expect(broken.body.message).toMatch(/S3 bucket unreachable/);
      const { rows } = await api.pool.query("SELECT outcome, details FROM audit_logs WHERE action = 'backup.force' ORDER BY id");
      expect(rows).toEqual([
        { outcome: 'success', details: { alreadyRunning: false } },
        { outcome: 'success', details: { alreadyRunning: true } },
        { outcome: 'failure', details: { error: 'S3 bucket unreachable' } },
      ]);
    } finally {
      await withBackup.close();
    }
  });

  it('a backup that started is never reported as failing to start, even if auditing it fails', async () => {
    let starts = 0;
    const withBackup = await startTestApi({
      db: api.db,
      forceBackup: async () => {
        starts++;
        return { run: { id: randomUUID(), status: 'running', startedAt: new Date().toISOString() }, alreadyRunning: false };
      },
    });
    await api.pool.query(`CREATE FUNCTION refuse_force_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.action = 'backup.force' THEN RAISE EXCEPTION 'audit refused for this test'; END IF; RETURN NEW; END $$`);
    await api.pool.query(
      'CREATE TRIGGER refuse_force_audit BEFORE INSERT ON audit_logs FOR EACH ROW EXECUTE FUNCTION refuse_force_audit()',
    );
    try {
      const res = await withBackup.call('POST', '/api/admin/backups');
      expect(starts).toBe(1);
      expect(res.status).toBe(500);
      expect(res.body.error).toBe('internal');
      expect(res.text).not.toMatch(/could not start/);
    } finally {
      await api.pool.query('DROP TRIGGER refuse_force_audit ON audit_logs; DROP FUNCTION refuse_force_audit()');
      await withBackup.close();
    }
  });
});

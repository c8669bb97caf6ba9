import { randomBytes } from 'node:crypto';
import { verifyAuditChain, withTransaction } from '@ct/lib';
import { createApiKey } from '@ct/api';
import { ADMIN_EMAIL, ADMIN_PASSWORD, expectField, n8nFromBench, startTestApi, type Res, type TestApi } from './harness';

/**
 * Every route of the API: the happy path, no credentials → 401, a key without the needed scope
 * → 403, and bad input → 400 naming the field. A final check fails if a route has no case.
 */

type Key = 'admin' | 'write' | 'read' | 'none';
interface Case {
  route: string; // "METHOD /template", as registered
  path: () => string;
  query?: () => string;
  body?: () => unknown;
  key?: Key;
  status: number;
  check?: (res: Res) => void | Promise<void>;
  /** Credentials with too small a scope; undefined for public and any-authenticated routes. */
  forbidden?: Key;
  public?: boolean;
  bad?: { path?: () => string; query?: () => string; body?: () => unknown; field: string };
}

let api: TestApi;
let noneKey: string;
const fx: Record<string, string> = {};
const n8n = n8nFromBench();
const uniq = () => randomBytes(4).toString('hex');

async function newClient(): Promise<{ id: string; slug: string }> {
  const res = await api.call('POST', '/api/clients', { body: { slug: `c-${uniq()}`, name: 'Fixture' } });
  return res.body.client;
}
async function newInvoice(status: 'draft' | 'open' = 'open'): Promise<string> {
  const res = await api.call('POST', '/api/billing/invoices', {
    body: { client: fx.client, number: `INV-${uniq()}`, amountCents: 1000, status },
  });
  return res.body.id;
}

beforeAll(async () => {
  api = await startTestApi({
    forceBackup: async () => ({
      run: { id: '00000000-0000-4000-8000-000000000001', status: 'running', startedAt: new Date().toISOString() },
      alreadyRunning: false,
    }),
  });
  noneKey = (await withTransaction(api.pool, (tx) => createApiKey(tx, { name: 'none', scopes: [] as never, owner: 't' }, { actor: 't' })))
    .key;
  const c = await newClient();
  fx.client = c.slug;
  fx.clientId = c.id;
  const wf = await n8n.createWorkflow({
    name: `routes-${uniq()}`,
    nodes: [{ id: 'm', name: 'Start', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} }] as never,
    connections: {},
  });
  fx.workflowId = wf.id;
  const wf2 = await n8n.createWorkflow({ name: `routes2-${uniq()}`, nodes: wf.nodes, connections: {} });
  fx.workflowId2 = wf2.id;
  fx.automation = (
    await api.call('POST', '/api/automations', {
      body: { client: fx.client, n8nWorkflowId: wf.id, minutesSavedPerRun: 5, hourlyValueCents: 3000 },
    })
  ).body.id;
  fx.plan = (
    await api.call('POST', '/api/billing/plans', { body: { code: `p-${uniq()}`, name: 'Basic', monthlyAmountCents: 9900 } })
  ).body.id;
  fx.planCode = (await api.call('GET', '/api/billing/plans')).body.data[0].code;
  const s = await api.call('POST', '/api/billing/subscriptions', { body: { client: fx.client, plan: fx.planCode } });
  fx.subscription = s.body.id;
  const login = await api.call('POST', '/api/auth/login', { key: null, body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
  fx.refresh = login.body.refreshToken;
  fx.apiKeyId = (await api.call('POST', '/api/auth/api-keys', { body: { name: 'to-revoke', scopes: ['read'] } })).body.id;
});

afterAll(async () => {
  await api.call('DELETE', `/api/automations/${fx.automation}`).catch(() => undefined);
  for (const id of [fx.workflowId, fx.workflowId2]) if (id) await n8n.deleteWorkflow(id).catch(() => undefined);
  await api.close();
});

const today = new Date().toISOString().slice(0, 10);
const hourAgo = () => new Date(Date.now() - 3600_000).toISOString();
const now = () => new Date().toISOString();
const badUuid = () => 'not-a-uuid';

const cases: Case[] = [
  // ------------------------------------------------------------- auth
  {
    route: 'POST /api/auth/login',
    public: true,
    path: () => '/api/auth/login',
    body: () => ({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
    key: 'none',
    status: 200,
    check: (r) => {
      expect(r.body.tokenType).toBe('Bearer');
      expect(r.body.refreshToken).toMatch(/^ctr_/);
    },
    bad: { body: () => ({ email: 'not-an-email', password: 'x' }), field: 'email' },
  },
  {
    route: 'POST /api/auth/refresh',
    public: true,
    path: () => '/api/auth/refresh',
    body: () => ({ refreshToken: fx.refresh }),
    key: 'none',
    status: 200,
    check: (r) => {
      expect(r.body.refreshToken).not.toBe(fx.refresh);
      fx.refresh = r.body.refreshToken;
    },
    bad: { body: () => ({ refreshToken: '' }), field: 'refreshToken' },
  },
  {
    route: 'POST /api/auth/logout',
    path: () => '/api/auth/logout',
    body: () => ({ refreshToken: fx.refresh }),
    status: 200,
    check: async () => {
      const again = await api.call('POST', '/api/auth/refresh', { key: null, body: { refreshToken: fx.refresh } });
      expect(again.status).toBe(401);
    },
    bad: { body: () => ({ refreshToken: 42 }), field: 'refreshToken' },
  },
  {
    route: 'GET /api/auth/me',
    path: () => '/api/auth/me',
    key: 'read',
    status: 200,
    check: (r) => expect(r.body.scopes).toEqual(['read']),
  },
  {
    route: 'POST /api/auth/api-keys',
    path: () => '/api/auth/api-keys',
    body: () => ({ name: 'ci', scopes: ['read', 'write'] }),
    status: 201,
    forbidden: 'write',
    check: async (r) => {
      expect(r.body.key).toMatch(/^ct_/);
      const me = await api.call('GET', '/api/auth/me', { key: r.body.key });
      expect(me.body.scopes.sort()).toEqual(['read', 'write']);
    },
    bad: { body: () => ({ name: 'ci', scopes: ['root'] }), field: 'scopes.0' },
  },
  {
    route: 'GET /api/auth/api-keys',
    path: () => '/api/auth/api-keys',
    status: 200,
    forbidden: 'write',
    check: (r) => {
      expect(r.body.data.length).toBeGreaterThanOrEqual(3);
      expect(JSON.stringify(r.body)).not.toMatch(/key_hash|keyHash/);
    },
    bad: { query: () => 'includeRevoked=maybe', field: 'includeRevoked' },
  },
  {
    route: 'DELETE /api/auth/api-keys/:id',
    path: () => `/api/auth/api-keys/${fx.apiKeyId}`,
    status: 200,
    forbidden: 'write',
    check: (r) => expect(r.body.revokedAt).toBeTruthy(),
    bad: { path: () => `/api/auth/api-keys/${badUuid()}`, field: 'id' },
  },
  {
    route: 'GET /api/auth/users',
    path: () => '/api/auth/users',
    status: 200,
    forbidden: 'write',
    check: (r) => {
      expect(r.body.data).toEqual([expect.objectContaining({ email: ADMIN_EMAIL, disabledAt: null })]);
      expect(JSON.stringify(r.body)).not.toMatch(/password|scrypt/);
    },
  },
  {
    route: 'POST /api/auth/users/:user/disable',
    path: () => `/api/auth/users/${ADMIN_EMAIL}/disable`,
    status: 200,
    forbidden: 'write',
    check: (r) => expect(r.body.user.disabledAt).toBeTruthy(),
    bad: { path: () => '/api/auth/users/not-a-user/disable', field: 'user' },
  },
  {
    route: 'POST /api/auth/users/:user/enable',
    path: () => `/api/auth/users/${ADMIN_EMAIL}/enable`,
    status: 200,
    forbidden: 'write',
    check: (r) => expect(r.body).toMatchObject({ changed: true, user: { disabledAt: null } }),
    bad: { path: () => '/api/auth/users/not-a-user/enable', field: 'user' },
  },
  {
    route: 'POST /api/auth/users/:user/revoke-sessions',
    path: () => `/api/auth/users/${ADMIN_EMAIL}/revoke-sessions`,
    status: 200,
    forbidden: 'write',
    check: (r) => expect(r.body.user.activeSessions).toBe(0),
    bad: { path: () => '/api/auth/users/not-a-user/revoke-sessions', field: 'user' },
  },
  {
    route: 'POST /api/auth/users/:user/reset-password',
    path: () => `/api/auth/users/${ADMIN_EMAIL}/reset-password`,
    body: () => ({ password: ADMIN_PASSWORD }),
    status: 200,
    forbidden: 'write',
    check: (r) => expect(r.body.password).toBeUndefined(),
    bad: { body: () => ({ password: 'short' }), field: 'password' },
  },
  // ------------------------------------------------------------- clients
  {
    route: 'GET /api/clients',
    path: () => '/api/clients',
    query: () => 'status=active&limit=10',
    key: 'read',
    status: 200,
    forbidden: 'none',
    check: (r) => expect(r.body.data.some((c: { slug: string }) => c.slug === fx.client)).toBe(true),
    bad: { query: () => 'limit=0', field: 'limit' },
  },
  {
    route: 'POST /api/clients',
    path: () => '/api/clients',
    body: () => ({ slug: `new-${uniq()}`, name: 'HVAC Co', contactEmail: 'Boss@HVAC.test', timezone: 'America/Chicago' }),
    key: 'write',
    status: 201,
    forbidden: 'read',
    check: (r) => {
      expect(r.body.webhookSecret).toMatch(/^whsec_/);
      expect(r.body.client.contactEmail).toBe('boss@hvac.test');
    },
    bad: { body: () => ({ slug: 'ok-slug', name: 'x', timezone: 'Mars/Olympus' }), field: 'timezone' },
  },
  {
    route: 'GET /api/clients/:client',
    path: () => `/api/clients/${fx.client}`,
    key: 'read',
    status: 200,
    forbidden: 'none',
    check: (r) => expect(r.body.id).toBe(fx.clientId),
    bad: { path: () => '/api/clients/NOT_A_SLUG', field: 'client' },
  },
  {
    route: 'PATCH /api/clients/:client',
    path: () => `/api/clients/${fx.client}`,
    body: () => ({ name: 'Pizza Shop Downtown', contactPhone: '+1 555 0100' }),
    key: 'write',
    status: 200,
    forbidden: 'read',
    check: (r) => expect(r.body.name).toBe('Pizza Shop Downtown'),
    bad: { body: () => ({ contactPhone: 'call me' }), field: 'contactPhone' },
  },
  {
    route: 'POST /api/clients/:client/pause',
    path: () => `/api/clients/${fx.client}/pause`,
    key: 'write',
    status: 200,
    forbidden: 'read',
    check: async (r) => {
      expect(r.body.status).toBe('paused');
      const again = await api.call('POST', `/api/clients/${fx.client}/pause`);
      expect(again.body.changed).toBe(false);
    },
    bad: { path: () => '/api/clients/x/pause', field: 'client' },
  },
  {
    route: 'POST /api/clients/:client/resume',
    path: () => `/api/clients/${fx.client}/resume`,
    key: 'write',
    status: 200,
    forbidden: 'read',
    check: (r) => expect(r.body.status).toBe('active'),
    bad: { path: () => '/api/clients/A/resume', field: 'client' },
  },
  {
    route: 'POST /api/clients/:client/churn',
    path: () => `/api/clients/${fx.churnable}/churn`,
    key: 'write',
    status: 200,
    forbidden: 'read',
    check: async (r) => {
      expect(r.body.status).toBe('churned');
      const back = await api.call('POST', `/api/clients/${fx.churnable}/pause`);
      expect(back.status).toBe(409);
    },
    bad: { path: () => '/api/clients/-/churn', field: 'client' },
  },
  // ------------------------------------------------------------- automations
  {
    route: 'GET /api/automations',
    path: () => '/api/automations',
    query: () => `client=${fx.client}`,
    key: 'read',
    status: 200,
    forbidden: 'none',
    check: (r) => expect(r.body.data[0].n8nWorkflowId).toBe(fx.workflowId),
    bad: { query: () => 'cursor=garbage', field: 'cursor' },
  },
  {
    route: 'GET /api/automations/workflows',
    path: () => '/api/automations/workflows',
    query: () => `client=${fx.client}`,
    key: 'read',
    status: 200,
    forbidden: 'none',
    check: (r) => {
      expect(r.body.data[0].n8n.id).toBe(fx.workflowId);
      expect(r.body.data[0].missingInN8n).toBe(false);
    },
    bad: { query: () => '', field: 'client' },
  },
  {
    route: 'GET /api/automations/:id',
    path: () => `/api/automations/${fx.automation}`,
    key: 'read',
    status: 200,
    forbidden: 'none',
    check: (r) => expect(r.body.minutesSavedPerRun).toBe(5),
    bad: { path: () => `/api/automations/${badUuid()}`, field: 'id' },
  },
  {
    route: 'POST /api/automations',
    path: () => '/api/automations',
    body: () => ({ client: fx.client, n8nWorkflowId: fx.workflowId2, minutesSavedPerRun: 2.5, hourlyValueCents: 4000 }),
    key: 'write',
    status: 201,
    forbidden: 'read',
    check: (r) => {
      expect(r.body.name).toMatch(/^routes2-/); // taken from n8n
      fx.automation2 = r.body.id;
    },
    bad: {
      body: () => ({ client: fx.client, n8nWorkflowId: 'doesNotExist123', minutesSavedPerRun: 1, hourlyValueCents: 1 }),
      field: 'n8nWorkflowId',
    },
  },
  {
    route: 'PATCH /api/automations/:id',
    path: () => `/api/automations/${fx.automation}`,
    body: () => ({ minutesSavedPerRun: 7.25, enabled: false }),
    key: 'write',
    status: 200,
    forbidden: 'read',
    check: (r) => expect(r.body).toMatchObject({ minutesSavedPerRun: 7.25, enabled: false }),
    bad: { body: () => ({ hourlyValueCents: -1 }), field: 'hourlyValueCents' },
  },
  {
    route: 'DELETE /api/automations/:id',
    path: () => `/api/automations/${fx.automation2}`,
    key: 'write',
    status: 200,
    forbidden: 'read',
    check: async () => expect((await api.call('GET', `/api/automations/${fx.automation2}`)).status).toBe(404),
    bad: { path: () => '/api/automations/123', field: 'id' },
  },
  // ------------------------------------------------------------- usage
  {
    route: 'GET /api/metrics/usage',
    path: () => '/api/metrics/usage',
    query: () => `client=${fx.client}&from=${today}&to=${today}`,
    key: 'read',
    status: 200,
    forbidden: 'none',
    check: (r) => expect(r.body.data[0]).toMatchObject({ client: fx.client, runs: 3, failures: 1, hoursSaved: 1 }),
    bad: { query: () => `from=${today}&to=2000-01-01`, field: 'to' },
  },
  // ------------------------------------------------------------- billing
  {
    route: 'GET /api/billing/plans',
    path: () => '/api/billing/plans',
    key: 'read',
    status: 200,
    forbidden: 'none',
    check: (r) => expect(r.body.data.length).toBeGreaterThan(0),
  },
  {
    route: 'POST /api/billing/plans',
    path: () => '/api/billing/plans',
    body: () => ({ code: `pro-${uniq()}`, name: 'Pro', monthlyAmountCents: 29900, currency: 'EUR' }),
    key: 'write',
    status: 201,
    forbidden: 'read',
    check: (r) => expect(r.body.currency).toBe('EUR'),
    bad: { body: () => ({ code: 'pro-x', name: 'Pro', monthlyAmountCents: 1.5 }), field: 'monthlyAmountCents' },
  },
  {
    route: 'PATCH /api/billing/plans/:id',
    path: () => `/api/billing/plans/${fx.plan}`,
    body: () => ({ name: 'Basic (2026)' }),
    key: 'write',
    status: 200,
    forbidden: 'read',
    check: (r) => expect(r.body.name).toBe('Basic (2026)'),
    bad: { body: () => ({ active: 'yes' }), field: 'active' },
  },
  {
    route: 'GET /api/billing/subscriptions',
    path: () => '/api/billing/subscriptions',
    query: () => `client=${fx.client}&active=true`,
    key: 'read',
    status: 200,
    forbidden: 'none',
    check: (r) => expect(r.body.data[0].id).toBe(fx.subscription),
    bad: { query: () => 'active=1', field: 'active' },
  },
  {
    route: 'POST /api/billing/subscriptions',
    path: () => '/api/billing/subscriptions',
    body: () => ({ client: fx.subClient, plan: fx.planCode, monthlyAmountCents: 5000 }),
    key: 'write',
    status: 201,
    forbidden: 'read',
    check: (r) => expect(r.body.monthlyAmountCents).toBe(5000),
    bad: { body: () => ({ client: fx.client, plan: 'no-such-plan' }), field: 'plan' },
  },
  {
    route: 'POST /api/billing/subscriptions/:id/cancel',
    path: () => `/api/billing/subscriptions/${fx.subscription}/cancel`,
    key: 'write',
    status: 200,
    forbidden: 'read',
    check: (r) => expect(r.body.canceledAt).toBeTruthy(),
    bad: { path: () => '/api/billing/subscriptions/zzz/cancel', field: 'id' },
  },
  {
    route: 'GET /api/billing/mrr',
    path: () => '/api/billing/mrr',
    key: 'read',
    status: 200,
    forbidden: 'none',
    check: (r) => expect(r.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ currency: 'USD' })])),
  },
  {
    route: 'GET /api/billing/invoices',
    path: () => '/api/billing/invoices',
    query: () => `client=${fx.client}&status=open`,
    key: 'read',
    status: 200,
    forbidden: 'none',
    check: (r) => expect(r.body.data.length).toBeGreaterThan(0),
    bad: { query: () => 'status=late', field: 'status' },
  },
  {
    route: 'POST /api/billing/invoices',
    path: () => '/api/billing/invoices',
    body: () => ({
      client: fx.client,
      number: `INV-${uniq()}`,
      amountCents: 9900,
      status: 'open',
      dueAt: new Date(Date.now() + 86400_000).toISOString(),
    }),
    key: 'write',
    status: 201,
    forbidden: 'read',
    check: (r) => expect(r.body.issuedAt).toBeTruthy(),
    bad: { body: () => ({ client: fx.client, number: 'X', amountCents: 1, issuedAt: now(), dueAt: hourAgo() }), field: 'dueAt' },
  },
  {
    route: 'POST /api/billing/invoices/:id/pay',
    path: () => `/api/billing/invoices/${fx.invoicePay}/pay`,
    body: () => ({}),
    key: 'write',
    status: 200,
    forbidden: 'read',
    check: async (r) => {
      expect(r.body).toMatchObject({ status: 'paid', changed: true });
      const again = await api.call('POST', `/api/billing/invoices/${fx.invoicePay}/pay`, { body: {} });
      expect(again.body.changed).toBe(false);
      expect((await api.call('POST', `/api/billing/invoices/${fx.invoicePay}/void`)).status).toBe(409);
    },
    bad: { body: () => ({ paidAt: 'yesterday' }), field: 'paidAt' },
  },
  {
    route: 'POST /api/billing/invoices/:id/void',
    path: () => `/api/billing/invoices/${fx.invoiceVoid}/void`,
    key: 'write',
    status: 200,
    forbidden: 'read',
    check: (r) => expect(r.body.status).toBe('void'),
    bad: { path: () => '/api/billing/invoices/1/void', field: 'id' },
  },
  // ------------------------------------------------------------- admin
  {
    route: 'POST /api/admin/executions/restart-stuck',
    path: () => '/api/admin/executions/restart-stuck',
    body: () => ({ client: fx.client, olderThan: '1h' }),
    status: 200,
    forbidden: 'write',
    check: (r) => expect(r.body).toEqual({ dryRun: true, stuck: [], reviewToken: expect.any(String), reviewExpiresAt: expect.any(String) }),
    bad: { body: () => ({ olderThan: 'forever' }), field: 'olderThan' },
  },
  {
    route: 'POST /api/admin/clients/:client/rotate-secret',
    path: () => `/api/admin/clients/${fx.client}/rotate-secret`,
    body: () => ({ grace: '1h' }),
    status: 200,
    forbidden: 'write',
    check: (r) => expect(r.body).toMatchObject({ version: 2, previousVersion: 1 }),
    bad: { body: () => ({ grace: '90d' }), field: 'grace' },
  },
  {
    route: 'POST /api/admin/backups',
    path: () => '/api/admin/backups',
    status: 202,
    forbidden: 'write',
    check: (r) => expect(r.body).toMatchObject({ alreadyRunning: false, run: { status: 'running' } }),
  },
  {
    route: 'GET /api/admin/audit',
    path: () => '/api/admin/audit',
    query: () => `action=client.create&client=${fx.client}`,
    status: 200,
    forbidden: 'write',
    check: (r) =>
      expect(r.body.data[0]).toMatchObject({
        action: 'client.create',
        clientId: fx.clientId,
        actor: expect.stringContaining('api_key:admin'),
      }),
    bad: { query: () => 'from=last-week', field: 'from' },
  },
  {
    route: 'POST /api/admin/audit/verify',
    path: () => '/api/admin/audit/verify',
    status: 200,
    forbidden: 'write',
    check: (r) => expect(r.body).toMatchObject({ ok: true, firstBadId: null }),
  },
  {
    route: 'GET /api/admin/status',
    path: () => '/api/admin/status',
    key: 'read',
    status: 200,
    check: (r) => expect(r.body).toMatchObject({ platform: { status: 'ok' }, database: { status: 'ok', reachable: true } }),
  },
  {
    route: 'GET /api/admin/exports',
    path: () => '/api/admin/exports',
    status: 200,
    forbidden: 'write',
    check: (r) => expect(r.body.data.map((e: { name: string }) => e.name)).toContain('client_runs'),
  },
  {
    route: 'GET /api/admin/exports/:name',
    path: () => '/api/admin/exports/client_runs',
    query: () => `from=${encodeURIComponent(hourAgo())}&to=${encodeURIComponent(now())}&step=5m&format=csv`,
    status: 200,
    forbidden: 'write',
    check: (r) => {
      expect(r.headers.get('content-type')).toMatch(/text\/csv/);
      expect(r.text.split('\n')[0]).toBe('timestamp,client,value');
    },
    bad: {
      path: () => '/api/admin/exports/arbitrary_promql',
      query: () => `from=${encodeURIComponent(hourAgo())}&to=${encodeURIComponent(now())}`,
      field: 'name',
    },
  },
];

const keyOf = (k: Key | undefined) => (k === 'none' ? noneKey : api.keys[k ?? 'admin']);
const run = (c: Case, o: { key?: string | null; path?: string; query?: string; body?: unknown } = {}) => {
  const q = 'query' in o ? o.query : c.query?.();
  const body = 'body' in o ? o.body : c.body?.();
  return api.call(c.route.split(' ')[0]!, `${o.path ?? c.path()}${q ? `?${q}` : ''}`, { key: 'key' in o ? o.key : keyOf(c.key), body });
};

describe('every route', () => {
  beforeAll(async () => {
    fx.churnable = (await newClient()).slug;
    fx.subClient = (await newClient()).slug;
    fx.invoicePay = await newInvoice('open');
    fx.invoiceVoid = await newInvoice('draft');
    await api.pool.query(
      `INSERT INTO client_daily_stats (client_id, day, workflow_runs, failures, minutes_saved) VALUES ($1, $2, 3, 1, 60)`,
      [fx.clientId, today],
    );
  });

  describe.each(cases.map((c) => [c.route, c] as const))('%s', (_name, c) => {
    it('happy path', async () => {
      const res = await run(c);
      if (res.status !== c.status) throw new Error(`expected ${c.status}, got ${res.status}: ${res.text.slice(0, 400)}`);
      await c.check?.(res);
    });
    if (!c.public) {
      it('401 without credentials', async () => {
        const res = await run(c, { key: null });
        expect(res.status).toBe(401);
        expect(res.body.error).toBe('unauthorized');
      });
    }
    if (c.forbidden) {
      it(`403 with a ${c.forbidden}-scoped key`, async () => {
        const res = await run(c, { key: keyOf(c.forbidden) });
        expect(res.status).toBe(403);
      });
    }
    if (c.bad) {
      it(`400 naming ${c.bad.field}`, async () => {
        const bad = c.bad!;
        const res = await run(c, {
          ...(bad.path ? { path: bad.path() } : {}),
          ...(bad.query ? { query: bad.query() } : {}),
          ...(bad.body ? { body: bad.body() } : {}),
        });
        expectField(res, bad.field);
      });
    }
  });

  it('covers every registered route and the OpenAPI document lists exactly them', async () => {
    const doc = (await api.call('GET', '/api/openapi.json', { key: null })).body;
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const tested = cases.map((c) => c.route);
    expect(documented.filter((r) => !r.startsWith('POST /api/webhooks')).sort()).toEqual([...tested].sort());
    // Mutating routes of the doc carry their request schema, with the same limits as validation.
    expect(doc.paths['/api/clients'].post.requestBody.content['application/json'].schema.properties.name).toMatchObject({ maxLength: 200 });
    expect(doc.paths['/api/clients/{client}'].get.parameters[0]).toMatchObject({ name: 'client', in: 'path', required: true });
  });

  it('answers unknown routes with 404 JSON and bad JSON with 400', async () => {
    expect((await api.call('GET', '/api/nope')).status).toBe(404);
    const res = await api.call('POST', '/api/clients', { raw: '{"slug":', headers: { 'content-type': 'application/json' } });
    expectField(res, 'body');
  });

  it('leaves a valid audit chain with one row per change', async () => {
    expect(await verifyAuditChain(api.pool)).toMatchObject({ ok: true });
    const { rows } = await api.pool.query<{ action: string }>("SELECT action FROM audit_logs WHERE action LIKE 'client.%'");
    expect(rows.map((r) => r.action)).toEqual(
      expect.arrayContaining(['client.create', 'client.update', 'client.pause', 'client.churn', 'client.rotate_secret']),
    );
  });
});

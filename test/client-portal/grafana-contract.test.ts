import { CONTRACT_VIOLATION_STATUS, GrafanaContractFake } from './grafana-contract';

/**
 * The contract fake's own tests: it refuses what Grafana's published API document does not
 * describe (path, method, authentication scheme, query parameter, body field or type, Grafana's own
 * headers), and keeps state the way Grafana does for what org sync relies on.
 */

let fake: GrafanaContractFake;

beforeEach(async () => {
  fake = await GrafanaContractFake.start({ serviceAccounts: { 'glsa_test-token': { orgId: 1, role: 'Admin' } } });
});
afterEach(() => fake.close());

function basic(login = fake.adminLogin, password = fake.adminPassword): string {
  return `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`;
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> & { message?: string } }> {
  const res = await fetch(`${fake.url}${path}`, {
    method,
    headers: { Authorization: basic(), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('refuses what the document does not describe', () => {
  test('an undocumented path', async () => {
    const r = await call('GET', '/api/orgs/1/datasources');
    expect(r.status).toBe(CONTRACT_VIOLATION_STATUS);
    expect(r.body.message).toMatch(/no such path/);
    expect(fake.violations()).toHaveLength(1);
  });

  test('a path outside the base path /api', async () => {
    const r = await call('GET', '/orgs');
    expect(r.status).toBe(CONTRACT_VIOLATION_STATUS);
    expect(r.body.message).toMatch(/base path/);
  });

  test('a documented path with a method it does not document', async () => {
    const r = await call('DELETE', '/api/orgs');
    expect(r.status).toBe(CONTRACT_VIOLATION_STATUS);
    expect(r.body.message).toMatch(/DELETE \/orgs: method not documented \(the document has GET, POST\)/);
  });

  test('a body field of the wrong type', async () => {
    const r = await call('POST', '/api/orgs', { name: 42 });
    expect(r.status).toBe(CONTRACT_VIOLATION_STATUS);
    expect(r.body.message).toMatch(/createOrg\) body: \/name must be string/);
    expect(fake.state.orgs.size).toBe(1);
  });

  test('a body field the schema does not name', async () => {
    const r = await call('POST', '/api/orgs', { name: 'Acme', orgId: 3 });
    expect(r.status).toBe(CONTRACT_VIOLATION_STATUS);
    expect(r.body.message).toMatch(/must NOT have additional properties 'orgId'/);
  });

  test('a value outside an enum, nested', async () => {
    const r = await call('POST', '/api/orgs/1/users', { loginOrEmail: 'admin', role: 'Owner' });
    expect(r.status).toBe(CONTRACT_VIOLATION_STATUS);
    expect(r.body.message).toMatch(/\/role must be equal to one of the allowed values/);
  });

  test('a body that is not JSON, or sent to an operation that takes none', async () => {
    expect((await call('POST', '/api/orgs', '{not json')).status).toBe(CONTRACT_VIOLATION_STATUS);
    const r = await call('POST', '/api/orgs', 'x', { 'Content-Type': 'text/plain' });
    expect(r.body.message).toMatch(/takes application\/json, not 'text\/plain'/);
    expect((await call('DELETE', '/api/dashboards/uid/x', { name: 'x' })).body.message).toMatch(/takes no request body/);
  });

  test('a missing required body', async () => {
    expect((await call('POST', '/api/orgs')).body.message).toMatch(/requires a JSON body/);
  });

  test('an undeclared or mistyped query parameter, and a missing required one', async () => {
    expect((await call('GET', '/api/orgs?limit=5')).body.message).toMatch(/has no query parameter 'limit'/);
    expect((await call('GET', '/api/orgs?perpage=lots')).body.message).toMatch(/perpage must be an integer/);
    expect((await call('GET', '/api/search?type=dashboard')).body.message).toMatch(/must be equal to one of the allowed values/);
    expect((await call('GET', '/api/users/lookup')).body.message).toMatch(/requires query parameter loginOrEmail/);
  });

  test('a mistyped path parameter', async () => {
    const r = await call('GET', '/api/orgs/abc/users');
    expect(r.status).toBe(CONTRACT_VIOLATION_STATUS);
    expect(r.body.message).toMatch(/path parameter org_id must be an integer/);
  });

  test('an authentication scheme the operation does not accept', async () => {
    // The document marks the org routes basic-only: a service account token is not described there.
    const r = await call('GET', '/api/orgs', undefined, { Authorization: 'Bearer glsa_test-token' });
    expect(r.status).toBe(CONTRACT_VIOLATION_STATUS);
    expect(r.body.message).toMatch(/GET \/orgs \(searchOrgs\) accepts basic authentication, not api_key/);
    // ... while the datasource routes accept it.
    expect((await call('GET', '/api/datasources', undefined, { Authorization: 'Bearer glsa_test-token' })).status).toBe(200);
  });

  test('X-Grafana-Org-Id, which the document does not declare', async () => {
    const r = await call('GET', '/api/datasources', undefined, { 'X-Grafana-Org-Id': '1' });
    expect(r.status).toBe(CONTRACT_VIOLATION_STATUS);
    expect(r.body.message).toMatch(/does not document header x-grafana-org-id/);
  });

  test('documented requests are not violations and are recorded', async () => {
    expect((await call('GET', '/api/orgs?perpage=10&page=1')).status).toBe(200);
    expect((await call('GET', '/api/search?type=dash-db&dashboardUIDs=a&dashboardUIDs=b')).status).toBe(200);
    expect(fake.violations()).toEqual([]);
    expect(fake.requests.map((r) => [r.method, r.template, r.operationId])).toEqual([
      ['GET', '/orgs', 'searchOrgs'],
      ['GET', '/search', 'search'],
    ]);
    expect(fake.writes()).toEqual([]);
  });
});

describe('keeps state like Grafana', () => {
  test('wrong credentials are 401, not a violation', async () => {
    const r = await call('GET', '/api/orgs', undefined, { Authorization: basic('admin', 'wrong') });
    expect(r.status).toBe(401);
    expect(fake.violations()).toEqual([]);
  });

  test('an org: created once, its creator its Admin, name taken is 409, found by name', async () => {
    const created = await call('POST', '/api/orgs', { name: 'CT — Acme' });
    expect(created.status).toBe(200);
    const orgId = created.body.orgId as number;
    expect((await call('POST', '/api/orgs', { name: 'CT — Acme' })).status).toBe(409);
    expect((await call('GET', `/api/orgs/name/${encodeURIComponent('CT — Acme')}`)).body).toMatchObject({ id: orgId, name: 'CT — Acme' });
    expect(fake.orgMembers(orgId)).toEqual([{ user: expect.objectContaining({ login: 'admin' }), role: 'Admin' }]);
  });

  test('org-scoped calls act on the org the user switched to', async () => {
    const orgId = (await call('POST', '/api/orgs', { name: 'Other' })).body.orgId as number;
    const ds = { name: 'A', type: 'prometheus', access: 'proxy', url: 'http://x', secureJsonData: { httpHeaderValue1: 'Bearer s' } };
    expect((await call('POST', '/api/datasources', ds)).status).toBe(200);
    expect(fake.datasourcesOf(1)).toHaveLength(1);
    expect((await call('POST', `/api/user/using/${orgId}`)).status).toBe(200);
    expect((await call('POST', '/api/datasources', ds)).status).toBe(200);
    expect(fake.datasourcesOf(orgId)).toHaveLength(1);
    // A user cannot switch into an org it is not a member of.
    const user = await call('POST', '/api/admin/users', { login: 'v', email: 'v@x.test', password: 'pw-123456', orgId });
    expect(user.status).toBe(200);
    const asViewer = { Authorization: basic('v', 'pw-123456') };
    expect((await call('POST', '/api/user/using/1', undefined, asViewer)).status).toBe(401);
    // ... nor create an org (users.allow_org_create is off, as in production) ...
    expect((await call('POST', '/api/orgs', { name: 'Mine' }, asViewer)).status).toBe(403);
    // ... and a Viewer cannot write datasources.
    expect((await call('POST', '/api/datasources', { ...ds, name: 'B' }, asViewer)).status).toBe(403);
  });

  test('datasource secrets are write-only, kept across updates, and versions are checked', async () => {
    const ds = {
      name: 'A',
      type: 'prometheus',
      access: 'proxy',
      url: 'http://x',
      uid: 'u1',
      secureJsonData: { httpHeaderValue1: 'Bearer s' },
    };
    const created = await call('POST', '/api/datasources', ds);
    expect(JSON.stringify(created.body)).not.toContain('Bearer s');
    expect(created.body.datasource).toMatchObject({ uid: 'u1', version: 1, secureJsonFields: { httpHeaderValue1: true } });
    const upd = await call('PUT', '/api/datasources/uid/u1', {
      name: 'A',
      type: 'prometheus',
      access: 'proxy',
      url: 'http://y',
      version: 1,
    });
    expect(upd.status).toBe(200);
    expect(fake.state.datasources[0]).toMatchObject({ url: 'http://y', version: 2, secureJsonData: { httpHeaderValue1: 'Bearer s' } });
    expect((await call('PUT', '/api/datasources/uid/u1', { name: 'A', type: 'prometheus', access: 'proxy', version: 1 })).status).toBe(409);
    expect((await call('PUT', '/api/datasources/uid/u1', { name: 'A', type: 'prometheus' })).status).toBe(400);
    expect((await call('GET', '/api/datasources/uid/nope')).status).toBe(404);
  });

  test('dashboards are versioned; home needs a dashboard of the org', async () => {
    const d = { dashboard: { uid: 'home', title: 'Home', panels: [] }, overwrite: true };
    expect((await call('POST', '/api/dashboards/db', d)).body).toMatchObject({ uid: 'home', version: 1, status: 'success' });
    expect((await call('POST', '/api/dashboards/db', { dashboard: { uid: 'home', title: 'Home', version: 7 } })).status).toBe(412);
    expect((await call('POST', '/api/dashboards/db', d)).body).toMatchObject({ version: 2 });
    expect((await call('GET', '/api/dashboards/uid/home')).body).toMatchObject({
      dashboard: { uid: 'home', version: 2 },
      meta: { version: 2 },
    });
    expect((await call('PATCH', '/api/org/preferences', { homeDashboardUID: 'missing' })).status).toBe(404);
    expect((await call('PATCH', '/api/org/preferences', { homeDashboardUID: 'home' })).status).toBe(200);
    expect((await call('GET', '/api/org/preferences')).body).toMatchObject({ homeDashboardUID: 'home' });
  });

  test('a user created into an org gets the auto-assigned role there only, and the last Admin stays', async () => {
    const orgId = (await call('POST', '/api/orgs', { name: 'Client' })).body.orgId as number;
    const { id } = (await call('POST', '/api/admin/users', { login: 'c@x.test', email: 'c@x.test', password: 'pw-123456', orgId })).body;
    expect((await call('GET', `/api/users/${id}/orgs`)).body).toEqual([{ orgId, name: 'Client', role: 'Viewer' }]);
    expect((await call('POST', '/api/admin/users', { login: 'c@x.test', password: 'pw-123456' })).status).toBe(412);
    expect((await call('DELETE', `/api/orgs/${orgId}/users/1`)).status).toBe(400);
    expect((await call('GET', '/api/users/lookup?loginOrEmail=C@X.TEST')).body).toMatchObject({ id, login: 'c@x.test' });
    expect(fake.violations()).toEqual([]);
  });
});

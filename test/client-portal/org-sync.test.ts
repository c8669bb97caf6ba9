import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import {
  addPortalUser,
  clientRoleName,
  credentialFingerprint,
  currentPortalToken,
  dropClientRole,
  issuePortalToken,
  verifyPortalToken,
  GrafanaClient,
  listPortalUsers,
  loadClientDashboards,
  removePortalUser,
  syncGrafanaOrgs,
  type DashboardJson,
  type SyncOptions,
} from '@ct/client-portal';
import { keyringFromConfig, loadConfig, scramVerifierMatches, withTransaction, type SecretKeyring } from '@ct/lib';
import { runCt } from '../helpers/cli';
import { benchEnv, createTestDatabase, type TestDatabase } from '../helpers/db';
import { COMPOSE_SYNC_SETTINGS as SETTINGS, GrafanaContractFake, type FakeState } from './grafana-contract';

/**
 * Org sync against the contract fake of Grafana's HTTP API (every request checked against
 * Grafana's published OpenAPI document; none may be a violation) and a real, migrated database.
 */

/** The client dashboards as generated (clientDashboards() of @ct/dashboards). */
const CLIENT_DASHBOARDS: DashboardJson[] = loadClientDashboards();

let db: TestDatabase;
let fake: GrafanaContractFake;
let grafana: GrafanaClient;
/** Each client's current portal token (what currentPortalToken returns). */
let tokens: Map<string, string>;
const ids: Record<string, string> = {};
/** Clients the database role tests add (unique slugs: roles are shared by every database of the cluster). */
const madeSlugs: string[] = [];
let auditFrom = '0';

function newToken(): string {
  return `ctp_${randomBytes(32).toString('base64url')}`;
}

function options(extra: Partial<SyncOptions> = {}): SyncOptions {
  return {
    pool: db.appPool,
    grafana,
    settings: SETTINGS,
    portalToken: async (clientId) => tokens.get(clientId) ?? null,
    dashboards: () => CLIENT_DASHBOARDS,
    actor: 'cli:test',
    ...extra,
  };
}

/** Everything the fake holds, comparable before and after a run. */
function snapshot(state: FakeState): unknown {
  return JSON.parse(
    JSON.stringify({
      orgs: [...state.orgs.values()],
      users: [...state.users.values()].map((u) => ({ ...u, orgId: undefined })),
      members: [...state.members].map(([org, m]) => [org, [...m]]),
      datasources: state.datasources,
      dashboards: state.dashboards,
      preferences: [...state.preferences],
    }),
  );
}

async function auditRows(): Promise<
  Array<{ action: string; target_id: string; client_id: string | null; outcome: string; actor: string; details: Record<string, unknown> }>
> {
  const { rows } = await db.pool.query(
    `SELECT action, target_id, client_id::text, outcome, actor, details FROM audit_logs
      WHERE id > $1 AND (action LIKE 'grafana.%' OR action LIKE 'client.portal_role.%' OR action = 'client.portal_token.revoke')
      ORDER BY id`,
    [auditFrom],
  );
  return rows;
}

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'orgsync' });
  const { rows } = await db.pool.query<{ id: string; slug: string }>(
    `INSERT INTO clients (slug, name, status) VALUES
       ('pizza-co', 'Pizza Co', 'active'), ('bright-smile', 'Bright Smile Dental', 'paused'), ('green-leaf', 'Green Leaf Landscaping', 'churned')
     RETURNING id::text, slug`,
  );
  for (const r of rows) ids[r.slug] = r.id;
});
afterAll(async () => {
  await db.drop();
  // Roles are cluster-wide: drop the ones this file made, unless another database still uses them.
  const admin = new Client({ connectionString: benchEnv('DATABASE_OWNER_URL') });
  await admin.connect();
  try {
    for (const slug of [...Object.keys(ids), ...madeSlugs]) {
      await admin.query(`DROP ROLE IF EXISTS ${clientRoleName(slug)}`).catch(() => undefined);
    }
  } finally {
    await admin.end();
  }
});

beforeEach(async () => {
  await db.pool.query(
    `UPDATE clients SET status = CASE slug WHEN 'pizza-co' THEN 'active' WHEN 'bright-smile' THEN 'paused' ELSE 'churned' END`,
  );
  // The audit log is append-only: each test reads the rows written after this point.
  auditFrom = (await db.pool.query<{ max: string }>('SELECT coalesce(max(id), 0)::text AS max FROM audit_logs')).rows[0]!.max;
  fake = await GrafanaContractFake.start({ serviceAccounts: { 'glsa_sync-token': { orgId: 1, role: 'Admin' } } });
  grafana = new GrafanaClient({ url: fake.url, auth: { kind: 'basic', user: fake.adminLogin, password: fake.adminPassword } });
  tokens = new Map([
    [ids['pizza-co']!, newToken()],
    [ids['bright-smile']!, newToken()],
    [ids['green-leaf']!, newToken()],
  ]);
});

afterEach(async () => {
  // Not one request Grafana's API document does not describe.
  expect(fake.violations()).toEqual([]);
  await fake.close();
});

test('a first sync creates each live client org, its two datasources, its dashboards and its home', async () => {
  const result = await syncGrafanaOrgs(options());
  expect(result.problems).toEqual([]);

  for (const [slug, name] of [
    ['pizza-co', 'CT — Pizza Co'],
    ['bright-smile', 'CT — Bright Smile Dental'],
  ] as const) {
    const org = fake.orgByName(name)!;
    expect(org).toBeDefined();
    expect(fake.orgMembers(org.id)).toEqual([{ user: expect.objectContaining({ login: fake.adminLogin }), role: 'Admin' }]);
    const token = tokens.get(ids[slug]!)!;
    const ds = fake.datasourcesOf(org.id).sort((a, b) => a.uid.localeCompare(b.uid));
    expect(ds.map((d) => [d.uid, d.name, d.type, d.url])).toEqual([
      ['ct-portal-postgres', 'Activity', 'grafana-postgresql-datasource', 'postgres:5432'],
      ['ct-portal-prometheus', 'Automations', 'prometheus', 'http://tenant-proxy:9466'],
    ]);
    const [postgres, prometheus] = ds;
    expect(prometheus).toMatchObject({
      access: 'proxy',
      isDefault: true,
      jsonData: {
        httpMethod: 'POST',
        httpHeaderName1: 'Authorization',
        ctClientId: ids[slug],
        ctCredentialFingerprint: credentialFingerprint(token),
      },
      secureJsonData: { httpHeaderValue1: `Bearer ${token}` },
    });
    expect(postgres).toMatchObject({
      user: `ct_portal_${slug.replace(/-/g, '_')}`,
      jsonData: { database: 'ct', sslmode: 'disable' },
      secureJsonData: { password: token },
    });
    // Nothing in a client org reaches Prometheus or PostgreSQL other than through these two.
    expect(JSON.stringify(ds)).not.toMatch(/prometheus:9090|ct_dashboard_reader/);
    const dashboards = fake.dashboardsOf(org.id);
    expect(dashboards.map((d) => d.uid)).toEqual(['ct-client-overview']);
    expect(dashboards[0]!.json.title).toBe('Client overview');
    for (const d of dashboards) expect(d.json.editable).toBe(false);
    expect(fake.state.preferences.get(org.id)?.homeDashboardUID).toBe('ct-client-overview');
  }
  // The churned client never had an org: none is created for it.
  expect(fake.orgByName('CT — Green Leaf Landscaping')).toBeUndefined();
  expect(fake.state.orgs.size).toBe(3);

  // One audit row per change, naming the client and the actor; no secret in any of them.
  const audit = await auditRows();
  expect(audit).toHaveLength(result.changes);
  // org, two datasources, dashboard, home; and the client's database role, bound to it in this database.
  expect(result.changes).toBe(2 * (1 + 2 + 1 + 1 + 1));
  // (made by another suite, a role exists already: then it is bound and granted here, an update)
  const liveRoles = result.items.filter((i) => i.kind === 'database role' && i.client !== 'green-leaf');
  expect(liveRoles.map((i) => [i.client, i.name, i.action])).toEqual([
    ['bright-smile', 'ct_portal_bright_smile', expect.stringMatching(/^(create|update)$/)],
    ['pizza-co', 'ct_portal_pizza_co', expect.stringMatching(/^(create|update)$/)],
  ]);
  expect(audit.filter((a) => a.action === 'grafana.org.create').map((a) => a.client_id)).toEqual([ids['bright-smile'], ids['pizza-co']]);
  expect(new Set(audit.map((a) => a.actor))).toEqual(new Set(['cli:test']));
  expect(audit.every((a) => a.outcome === 'success')).toBe(true);
  for (const t of tokens.values()) expect(JSON.stringify(audit)).not.toContain(t);
  // The sync user is back in the org it started in.
  expect(fake.userByLogin(fake.adminLogin)!.orgId).toBe(1);
});

test('a second sync changes nothing: only reads (and the org switches reading needs)', async () => {
  await syncGrafanaOrgs(options());
  const before = snapshot(fake.state);
  const auditBefore = (await auditRows()).length;
  fake.clearRequests();

  const again = await syncGrafanaOrgs(options());
  expect(again.changes).toBe(0);
  expect(again.items.every((i) => i.action === 'nothing to do')).toBe(true);
  expect(snapshot(fake.state)).toEqual(before);
  expect(fake.writes().map((r) => r.template)).toEqual(expect.arrayContaining(['/user/using/{org_id}']));
  expect(fake.writes().filter((r) => r.template !== '/user/using/{org_id}')).toEqual([]);
  expect(await auditRows()).toHaveLength(auditBefore);
});

test('a paused client keeps its org, users, datasources and dashboards', async () => {
  await syncGrafanaOrgs(options());
  const org = fake.orgByName('CT — Bright Smile Dental')!;
  await addPortalUser({ pool: db.appPool, grafana, actor: 'cli:test', clientSlug: 'bright-smile', email: 'desk@brightsmile.test' });
  const before = snapshot(fake.state);
  const r = await syncGrafanaOrgs(options());
  expect(r.changes).toBe(0);
  expect(snapshot(fake.state)).toEqual(before);
  expect(fake.orgMembers(org.id).map((m) => [m.user.login, m.role])).toEqual([
    [fake.adminLogin, 'Admin'],
    ['desk@brightsmile.test', 'Viewer'],
  ]);
});

test('a churned client (GRAFANA_CHURNED_ORGS=keep): users removed and deleted, credentials removed, org and dashboards kept', async () => {
  await db.pool.query(`UPDATE clients SET status = 'active' WHERE slug = 'green-leaf'`);
  await syncGrafanaOrgs(options());
  const org = fake.orgByName('CT — Green Leaf Landscaping')!;
  const added = await addPortalUser({
    pool: db.appPool,
    grafana,
    actor: 'cli:test',
    clientSlug: 'green-leaf',
    email: 'owner@greenleaf.test',
  });
  await db.pool.query(`UPDATE clients SET status = 'churned' WHERE slug = 'green-leaf'`);
  const auditBefore = (await auditRows()).length;

  const r = await syncGrafanaOrgs(options({ clientSlug: 'green-leaf' }));
  expect(r.problems).toEqual([]);
  expect(fake.state.orgs.get(org.id)).toEqual(org);
  expect(fake.orgMembers(org.id).map((m) => m.user.login)).toEqual([fake.adminLogin]);
  expect(fake.state.users.has(added.userId)).toBe(false);
  expect(fake.authenticate('owner@greenleaf.test', added.password)).toBeNull();
  expect(fake.datasourcesOf(org.id)).toEqual([]);
  expect(fake.dashboardsOf(org.id)).toHaveLength(1);
  expect((await auditRows()).slice(auditBefore).map((a) => a.action)).toEqual([
    'grafana.org_user.remove',
    'grafana.user.delete',
    'grafana.datasource.delete',
    'grafana.datasource.delete',
    'client.portal_role.drop',
  ]);
  // Idempotent: nothing left to do.
  expect((await syncGrafanaOrgs(options({ clientSlug: 'green-leaf' }))).changes).toBe(0);
});

test('a churned client (GRAFANA_CHURNED_ORGS=delete): users deleted and the org deleted', async () => {
  await db.pool.query(`UPDATE clients SET status = 'active' WHERE slug = 'green-leaf'`);
  await syncGrafanaOrgs(options());
  const org = fake.orgByName('CT — Green Leaf Landscaping')!;
  const added = await addPortalUser({
    pool: db.appPool,
    grafana,
    actor: 'cli:test',
    clientSlug: 'green-leaf',
    email: 'owner@greenleaf.test',
  });
  await db.pool.query(`UPDATE clients SET status = 'churned' WHERE slug = 'green-leaf'`);

  const r = await syncGrafanaOrgs(options({ settings: { ...SETTINGS, churnedOrgs: 'delete' } }));
  expect(r.problems).toEqual([]);
  expect(fake.state.orgs.has(org.id)).toBe(false);
  expect(fake.state.users.has(added.userId)).toBe(false);
  expect(fake.state.datasources.filter((d) => d.orgId === org.id)).toEqual([]);
  expect(r.items.filter((i) => i.client === 'green-leaf').map((i) => [i.kind, i.action])).toEqual([
    ['user', 'remove'],
    ['user', 'delete'],
    ['org', 'delete'],
    ['portal token', 'nothing to do'],
    ['database role', 'delete'],
  ]);
  // The other clients' orgs are untouched.
  expect(fake.orgByName('CT — Pizza Co')).toBeDefined();
  expect((await auditRows()).filter((a) => a.action === 'grafana.org.delete').map((a) => [a.client_id, a.target_id])).toEqual([
    [ids['green-leaf'], String(org.id)],
  ]);
  expect((await syncGrafanaOrgs(options({ settings: { ...SETTINGS, churnedOrgs: 'delete' } }))).changes).toBe(0);
});

test('a rotated portal credential updates the two datasources of that client and nothing else', async () => {
  await syncGrafanaOrgs(options());
  const org = fake.orgByName('CT — Pizza Co')!;
  const otherOrg = fake.orgByName('CT — Bright Smile Dental')!;
  const otherBefore = JSON.stringify(fake.datasourcesOf(otherOrg.id));
  const versions = fake.datasourcesOf(org.id).map((d) => d.version);
  const rotated = newToken();
  tokens.set(ids['pizza-co']!, rotated);
  fake.clearRequests();

  const r = await syncGrafanaOrgs(options());
  expect(r.items.filter((i) => i.action !== 'nothing to do').map((i) => [i.client, i.kind, i.name, i.action, i.detail])).toEqual([
    ['pizza-co', 'datasource', 'Automations', 'update', 'credential'],
    ['pizza-co', 'datasource', 'Activity', 'update', 'credential'],
  ]);
  const changing = fake.writes().filter((w) => w.template !== '/user/using/{org_id}');
  expect(changing.map((w) => [w.method, w.path, w.orgId])).toEqual([
    ['PUT', '/datasources/uid/ct-portal-prometheus', org.id],
    ['PUT', '/datasources/uid/ct-portal-postgres', org.id],
  ]);
  const ds = fake.datasourcesOf(org.id);
  expect(ds.find((d) => d.uid === 'ct-portal-prometheus')!.secureJsonData).toEqual({ httpHeaderValue1: `Bearer ${rotated}` });
  expect(ds.find((d) => d.uid === 'ct-portal-postgres')!.secureJsonData).toEqual({ password: rotated });
  expect(ds.map((d) => d.version)).toEqual(versions.map((v) => v + 1));
  expect(JSON.stringify(fake.datasourcesOf(otherOrg.id))).toBe(otherBefore);
  const audit = (await auditRows()).filter((a) => a.action === 'grafana.datasource.update');
  expect(audit).toHaveLength(2);
  expect(audit[0]!.details).toMatchObject({ changed: ['credential'] });
  expect(JSON.stringify(audit)).not.toContain(rotated);
});

test('--dry-run prints the plan and changes nothing', async () => {
  const empty = snapshot(fake.state);
  const plan = await syncGrafanaOrgs(options({ dryRun: true }));
  expect(snapshot(fake.state)).toEqual(empty);
  expect(fake.writes()).toEqual([]);
  expect(await auditRows()).toEqual([]);
  expect(plan.dryRun).toBe(true);
  expect(plan.items.filter((i) => i.client === 'pizza-co').map((i) => [i.kind, i.name, i.action])).toEqual([
    ['org', 'CT — Pizza Co', 'create'],
    ['datasource', 'Automations', 'create'],
    ['datasource', 'Activity', 'create'],
    ['dashboard', 'Client overview', 'create'],
    ['home', 'ct-client-overview', 'create'],
    // Made by the tests before this one when they run in order (the database role tests below cover it).
    ['database role', 'ct_portal_pizza_co', expect.stringMatching(/^(create|update|nothing to do)$/)],
  ]);
  expect(plan.changes).toBe(10 + plan.items.filter((i) => i.kind === 'database role' && i.action !== 'nothing to do').length);

  // Against an existing state: the same plan the real run then carries out.
  await syncGrafanaOrgs(options());
  tokens.set(ids['bright-smile']!, newToken());
  const before = snapshot(fake.state);
  const auditBefore = (await auditRows()).length;
  fake.clearRequests();
  const dry = await syncGrafanaOrgs(options({ dryRun: true }));
  expect(snapshot(fake.state)).toEqual(before);
  expect(fake.writes().filter((w) => w.template !== '/user/using/{org_id}')).toEqual([]);
  expect(await auditRows()).toHaveLength(auditBefore);
  const real = await syncGrafanaOrgs(options());
  expect(real.items).toEqual(dry.items);
  expect(dry.changes).toBe(2);
});

test('what someone changed by hand in a client org is put back: a direct datasource deleted, an Editor made Viewer, the home reset', async () => {
  await syncGrafanaOrgs(options());
  const org = fake.orgByName('CT — Pizza Co')!;
  const added = await addPortalUser({ pool: db.appPool, grafana, actor: 'cli:test', clientSlug: 'pizza-co', email: 'manager@pizza.test' });
  fake.state.members.get(org.id)!.set(added.userId, 'Editor');
  fake.state.datasources.push({
    ...fake.datasourcesOf(org.id)[0]!,
    id: 999,
    uid: 'direct-prom',
    name: 'Prometheus (direct)',
    type: 'prometheus',
    url: 'http://prometheus:9090',
    secureJsonData: {},
  });
  const now = new Date().toISOString();
  fake.state.dashboards.push({
    id: 99,
    uid: 'hand-made',
    orgId: org.id,
    title: 'Hand made',
    version: 1,
    json: { uid: 'hand-made', title: 'Hand made' },
    created: now,
    updated: now,
  });
  fake.state.preferences.get(org.id)!.homeDashboardUID = 'hand-made';
  const overview = fake.dashboardsOf(org.id).find((d) => d.uid === 'ct-client-overview')!;
  overview.json = { ...overview.json, editable: true, title: 'Edited' };

  const r = await syncGrafanaOrgs(options({ clientSlug: 'pizza-co' }));
  expect(r.items.filter((i) => i.action !== 'nothing to do').map((i) => [i.kind, i.name, i.action])).toEqual([
    ['user', 'manager@pizza.test', 'update'],
    ['datasource', 'Prometheus (direct)', 'delete'],
    ['dashboard', 'Client overview', 'update'],
    ['home', 'ct-client-overview', 'update'],
  ]);
  expect(fake.orgMembers(org.id).find((m) => m.user.id === added.userId)!.role).toBe('Viewer');
  expect(
    fake
      .datasourcesOf(org.id)
      .map((d) => d.uid)
      .sort(),
  ).toEqual(['ct-portal-postgres', 'ct-portal-prometheus']);
  expect(fake.dashboardsOf(org.id).find((d) => d.uid === 'ct-client-overview')!.json).toMatchObject({
    editable: false,
    title: 'Client overview',
  });
  expect(fake.state.preferences.get(org.id)!.homeDashboardUID).toBe('ct-client-overview');
});

test('an org made by hand for a client: the sync user joins it as Admin, then syncs it', async () => {
  // Created by another server admin: the sync user is not a member and cannot read it yet.
  const other = 7;
  fake.state.users.set(other, { ...fake.userByLogin(fake.adminLogin)!, id: other, login: 'other-admin', email: 'other@x.test' });
  fake.state.orgs.set(50, { id: 50, name: 'CT — Pizza Co' });
  fake.state.members.set(50, new Map([[other, 'Admin']]));

  const dry = await syncGrafanaOrgs(options({ clientSlug: 'pizza-co', dryRun: true }));
  expect(dry.items.map((i) => [i.kind, i.action, i.detail])).toEqual([
    ['org', 'nothing to do', 'org 50'],
    ['user', 'create', 'Admin, for sync'],
    ['user', 'update', 'role Admin → Viewer'],
    ['datasource', 'update', 'not readable before the sync user joins the org'],
    ['datasource', 'update', 'not readable before the sync user joins the org'],
    ['dashboard', 'update', 'not readable before the sync user joins the org'],
    ['home', 'update', 'not readable before the sync user joins the org'],
    ['database role', expect.stringMatching(/^(create|update|nothing to do)$/), dry.items.at(-1)!.detail],
  ]);
  expect(fake.orgMembers(50)).toHaveLength(1);

  const r = await syncGrafanaOrgs(options({ clientSlug: 'pizza-co' }));
  expect(r.problems).toEqual([]);
  expect(fake.orgMembers(50).map((m) => [m.user.login, m.role])).toEqual([
    ['other-admin', 'Viewer'],
    [fake.adminLogin, 'Admin'],
  ]);
  expect(fake.datasourcesOf(50)).toHaveLength(2);
});

test('a member of two client orgs is reported on both', async () => {
  await syncGrafanaOrgs(options());
  const added = await addPortalUser({ pool: db.appPool, grafana, actor: 'cli:test', clientSlug: 'pizza-co', email: 'shared@x.test' });
  fake.state.members.get(fake.orgByName('CT — Bright Smile Dental')!.id)!.set(added.userId, 'Viewer');
  const r = await syncGrafanaOrgs(options({ dryRun: true }));
  expect(r.items.filter((i) => i.action === 'warning').map((i) => [i.client, i.name, i.detail])).toEqual([
    ['bright-smile', 'shared@x.test', 'also a member of CT — Pizza Co: a portal user should belong to one client only'],
    ['pizza-co', 'shared@x.test', 'also a member of CT — Bright Smile Dental: a portal user should belong to one client only'],
  ]);
});

test('a client without a portal token: the rest is synced, its datasources are reported blocked', async () => {
  tokens.delete(ids['pizza-co']!);
  const r = await syncGrafanaOrgs(options({ clientSlug: 'pizza-co' }));
  const org = fake.orgByName('CT — Pizza Co')!;
  expect(fake.datasourcesOf(org.id)).toEqual([]);
  expect(fake.dashboardsOf(org.id)).toHaveLength(1);
  expect(r.problems).toEqual([
    'pizza-co: datasource Automations: the client has no portal token: run `ct portal token pizza-co` first',
    'pizza-co: datasource Activity: the client has no portal token: run `ct portal token pizza-co` first',
  ]);
});

test('an org named like a client org that no client has is reported, not touched', async () => {
  await syncGrafanaOrgs(options());
  await db.pool.query(`UPDATE clients SET name = 'Pizza Company' WHERE slug = 'pizza-co'`);
  try {
    const r = await syncGrafanaOrgs(options({ dryRun: true }));
    expect(r.items).toContainEqual({
      client: '-',
      kind: 'org',
      name: 'CT — Pizza Co',
      action: 'warning',
      detail: 'no client has this name (renamed or removed?): left as it is',
    });
  } finally {
    await db.pool.query(`UPDATE clients SET name = 'Pizza Co' WHERE slug = 'pizza-co'`);
  }
});

test('a service account token is refused with the reason, before any request', async () => {
  const withToken = new GrafanaClient({ url: fake.url, auth: { kind: 'token', token: 'glsa_sync-token' } });
  await expect(syncGrafanaOrgs(options({ grafana: withToken }))).rejects.toThrow(/needs a Grafana server admin user .* not GRAFANA_TOKEN/);
  expect(fake.requests).toEqual([]);
});

test('an unknown --client is named', async () => {
  await expect(syncGrafanaOrgs(options({ clientSlug: 'nope' }))).rejects.toThrow('no client with slug nope');
});

describe('portal users', () => {
  beforeEach(() => syncGrafanaOrgs(options()));
  const opts = (clientSlug: string) => ({ pool: db.appPool, grafana, actor: 'cli:test', clientSlug });

  test('add creates a Viewer of the client org only, with a one-time password that signs in', async () => {
    const added = await addPortalUser({ ...opts('pizza-co'), email: ' Owner@Pizza.test ' });
    expect(added.email).toBe('owner@pizza.test');
    expect(added.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const org = fake.orgByName('CT — Pizza Co')!;
    expect(fake.authenticate('owner@pizza.test', added.password)?.id).toBe(added.userId);
    const memberships = [...fake.state.members].filter(([, m]) => m.has(added.userId)).map(([orgId, m]) => [orgId, m.get(added.userId)]);
    expect(memberships).toEqual([[org.id, 'Viewer']]);
    expect((await listPortalUsers(opts('pizza-co'))).map((u) => [u.email, u.role])).toEqual([['owner@pizza.test', 'Viewer']]);
    const audit = await auditRows();
    expect(audit.at(-1)).toMatchObject({ action: 'grafana.portal_user.add', client_id: ids['pizza-co'], target_id: String(added.userId) });
    expect(JSON.stringify(audit)).not.toContain(added.password);
  });

  test('a user landed in another org by auto-assignment is taken out of it', async () => {
    await fake.close();
    fake = await GrafanaContractFake.start({ autoAssignOrgRole: 'Editor' });
    grafana = new GrafanaClient({ url: fake.url, auth: { kind: 'basic', user: fake.adminLogin, password: fake.adminPassword } });
    await syncGrafanaOrgs(options());
    const added = await addPortalUser({ ...opts('pizza-co'), email: 'owner@pizza.test' });
    const org = fake.orgByName('CT — Pizza Co')!;
    expect(fake.orgMembers(org.id).find((m) => m.user.id === added.userId)!.role).toBe('Viewer');
  });

  test('refused: a second add, an email of another client, a churned client, a bad email, an org not synced yet', async () => {
    await addPortalUser({ ...opts('pizza-co'), email: 'owner@pizza.test' });
    await expect(addPortalUser({ ...opts('pizza-co'), email: 'owner@pizza.test' })).rejects.toThrow(
      'owner@pizza.test is already a portal user of pizza-co',
    );
    await expect(addPortalUser({ ...opts('bright-smile'), email: 'owner@pizza.test' })).rejects.toThrow(
      /already exists \(member of CT — Pizza Co\)/,
    );
    await expect(addPortalUser({ ...opts('green-leaf'), email: 'x@greenleaf.test' })).rejects.toThrow(/has no Grafana organisation yet/);
    await expect(addPortalUser({ ...opts('pizza-co'), email: 'not-an-email' })).rejects.toThrow('not an email address: not-an-email');
    await db.pool.query(`UPDATE clients SET status = 'churned' WHERE slug = 'bright-smile'`);
    await expect(addPortalUser({ ...opts('bright-smile'), email: 'x@bright.test' })).rejects.toThrow('client bright-smile has churned');
    await expect(removePortalUser({ ...opts('pizza-co'), email: fake.adminLogin + '@nowhere.test' })).rejects.toThrow(
      /is not a portal user of pizza-co/,
    );
  });

  test('remove takes the user out of the org and deletes it from Grafana', async () => {
    const added = await addPortalUser({ ...opts('pizza-co'), email: 'owner@pizza.test' });
    await expect(removePortalUser({ ...opts('pizza-co'), email: 'owner@pizza.test' })).resolves.toEqual({ deleted: true });
    expect(fake.state.users.has(added.userId)).toBe(false);
    expect(await listPortalUsers(opts('pizza-co'))).toEqual([]);
    expect((await auditRows()).slice(-2).map((a) => a.action)).toEqual(['grafana.portal_user.remove', 'grafana.user.delete']);
  });
});

describe('the ct commands, end to end (portal tokens issued in the database)', () => {
  function env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: db.url,
      GRAFANA_URL: fake.url,
      GRAFANA_ADMIN_USER: fake.adminLogin,
      GRAFANA_ADMIN_PASSWORD: fake.adminPassword,
      GRAFANA_TOKEN: undefined,
      GRAFANA_CHURNED_ORGS: undefined,
      LOG_LEVEL: 'silent',
      USER: 'ops',
      ...extra,
    };
    for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
    return e;
  }

  test('grafana sync --dry-run, sync, portal-user add / list / remove, a rotation, and the audit rows', async () => {
    const keyring = keyringFromConfig(loadConfig(['secrets']));
    const issued = await issuePortalToken(db.appPool, keyring, 'pizza-co');
    await issuePortalToken(db.appPool, keyring, 'bright-smile');

    const dry = await runCt(['grafana', 'sync', '--dry-run', '--client', 'pizza-co'], { env: env() });
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^pizza-co +org +CT — Pizza Co +create$/m);
    expect(dry.stdout).toMatch(/^pizza-co +datasource +Automations +create$/m);
    expect(dry.stdout).toMatch(/^pizza-co +home +ct-client-overview +create$/m);
    expect(dry.stdout).toMatch(/changes planned \(dry run: nothing was changed\)$/m);
    expect(fake.state.orgs.size).toBe(1);

    const sync = await runCt(['grafana', 'sync'], { env: env() });
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    const org = fake.orgByName('CT — Pizza Co')!;
    expect(fake.datasourcesOf(org.id).find((d) => d.uid === 'ct-portal-prometheus')!.secureJsonData).toEqual({
      httpHeaderValue1: `Bearer ${issued.token}`,
    });
    expect(fake.dashboardsOf(org.id).map((d) => d.uid)).toContain('ct-client-overview');
    expect(sync.stdout).not.toContain(issued.token);

    const add = await runCt(['client', 'portal-user', 'add', 'pizza-co', 'owner@pizza.test'], { env: env() });
    expect(add.code).toBe(0);
    expect(add.stderr).toMatch(
      /created portal user owner@pizza.test in pizza-co's organisation \(Viewer\); its password is shown this once/,
    );
    const password = add.stdout.trim();
    expect(fake.authenticate('owner@pizza.test', password)).not.toBeNull();
    const list = await runCt(['client', 'portal-user', 'list', 'pizza-co', '--json'], { env: env() });
    expect(JSON.parse(list.stdout)).toEqual([
      { email: 'owner@pizza.test', login: 'owner@pizza.test', role: 'Viewer', lastSeen: expect.any(String) },
    ]);

    const again = await runCt(['grafana', 'sync'], { env: env() });
    expect(again.stdout).toMatch(/^0 changes made$/m);

    const rotated = await issuePortalToken(db.appPool, keyring, 'pizza-co');
    const after = await runCt(['grafana', 'sync', '--client', 'pizza-co'], { env: env() });
    expect(after.stdout).toMatch(/^pizza-co +datasource +Automations +update \(credential\)$/m);
    expect(after.stdout).toMatch(/^2 changes made$/m);
    expect(fake.datasourcesOf(org.id).find((d) => d.uid === 'ct-portal-postgres')!.secureJsonData).toEqual({ password: rotated.token });

    const remove = await runCt(['client', 'portal-user', 'remove', 'pizza-co', 'owner@pizza.test'], { env: env() });
    expect(remove.stdout).toBe('removed owner@pizza.test from pizza-co and deleted the Grafana user\n');
    expect((await runCt(['client', 'portal-user', 'list', 'pizza-co'], { env: env() })).stdout).toBe('pizza-co has no portal user\n');

    const audit = await auditRows();
    expect(new Set(audit.map((a) => a.actor))).toEqual(new Set(['cli:ops']));
    expect(audit.filter((a) => a.action === 'grafana.datasource.update')).toHaveLength(2);
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining(['grafana.portal_user.add', 'grafana.portal_user.remove', 'grafana.user.delete']),
    );
    expect(JSON.stringify(audit)).not.toContain(password);
  });

  test('a client without a portal token makes sync exit 1 naming what to run', async () => {
    await db.pool.query(`INSERT INTO clients (slug, name) VALUES ('corner-bakery', 'Corner Bakery')`);
    try {
      const r = await runCt(['grafana', 'sync', '--client', 'corner-bakery'], { env: env() });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(
        /^corner-bakery +datasource +Automations +blocked \(the client has no portal token: run `ct portal token corner-bakery` first\)$/m,
      );
      expect(r.stderr).toBe('ct: sync incomplete: 2 problem(s) above\n');
    } finally {
      // Audit rows name it, so it stays; churned, the other tests see no org of it.
      await db.pool.query(`UPDATE clients SET status = 'churned' WHERE slug = 'corner-bakery'`);
    }
  });

  test('bad settings are named before anything runs', async () => {
    const noUrl = await runCt(['grafana', 'sync'], { env: env({ GRAFANA_URL: undefined }) });
    expect(noUrl.code).toBe(78);
    expect(noUrl.stderr).toContain('GRAFANA_URL: is required but not set');
    const both = await runCt(['grafana', 'sync'], { env: env({ GRAFANA_TOKEN: 'glsa_x' }) });
    expect(both.code).toBe(78);
    expect(both.stderr).toContain('GRAFANA_TOKEN: set either GRAFANA_TOKEN or GRAFANA_ADMIN_USER/GRAFANA_ADMIN_PASSWORD, not both');
    const half = await runCt(['client', 'portal-user', 'list', 'pizza-co'], { env: env({ GRAFANA_ADMIN_PASSWORD: undefined }) });
    expect(half.stderr).toContain('GRAFANA_ADMIN_PASSWORD: is required when GRAFANA_ADMIN_USER is set');
    const token = await runCt(['client', 'portal-user', 'list', 'pizza-co'], {
      env: env({ GRAFANA_ADMIN_USER: undefined, GRAFANA_ADMIN_PASSWORD: undefined, GRAFANA_TOKEN: 'glsa_x' }),
    });
    expect(token.code).toBe(1);
    expect(token.stderr).toMatch(/^ct: ct client portal-user needs a Grafana server admin user/);
    const churn = await runCt(['grafana', 'sync'], { env: env({ GRAFANA_CHURNED_ORGS: 'archive' }) });
    expect(churn.stderr).toMatch(/GRAFANA_CHURNED_ORGS: Invalid option: expected one of "keep"\|"delete"/);
    expect(fake.requests).toEqual([]);
  });
});

describe("the client's database role and portal token (offboarding, a restore, a cluster move)", () => {
  let keyring: SecretKeyring;
  const tag = randomBytes(3).toString('hex');
  const opened: Client[] = [];

  beforeAll(() => {
    keyring = keyringFromConfig(loadConfig(['secrets']));
  });
  afterEach(async () => {
    for (const c of opened.splice(0)) await c.end().catch(() => undefined);
  });

  /** A client with its portal token issued (which creates its role) and one activity event, and another client's event beside it. */
  async function clientWithToken(prefix: string): Promise<{ slug: string; id: string; role: string; token: string }> {
    const slug = `${prefix}-${tag}`;
    madeSlugs.push(slug);
    const { rows } = await db.pool.query<{ id: string }>(`INSERT INTO clients (slug, name) VALUES ($1, $2) RETURNING id::text`, [
      slug,
      `Client ${slug}`,
    ]);
    const id = rows[0]!.id;
    await db.pool.query(
      `INSERT INTO activity_events (client_id, kind, occurred_at, details, idempotency_key) VALUES
         ($1, 'order', now(), '{"summary": "own event"}', gen_random_uuid()::text),
         ($2, 'order', now(), '{"summary": "another client''s event"}', gen_random_uuid()::text)`,
      [id, ids['pizza-co']],
    );
    const { token } = await issuePortalToken(db.appPool, keyring, slug);
    return { slug, id, role: clientRoleName(slug), token };
  }

  /** Sync of one client, with the portal tokens as stored (what `ct grafana sync` reads). */
  function syncOf(slug: string, extra: Partial<SyncOptions> = {}) {
    return syncGrafanaOrgs(options({ clientSlug: slug, portalToken: (id) => currentPortalToken(db.appPool, keyring, id), ...extra }));
  }

  /** Connects to the test database as `role` (the bench trusts local connections: what counts is whether the role may log in). */
  async function connectAs(role: string): Promise<Client> {
    const u = new URL(db.url);
    u.username = role;
    u.password = '';
    const c = new Client({ connectionString: u.toString() });
    c.on('error', () => undefined); // a session ended by the server
    opened.push(c);
    await c.connect();
    return c;
  }

  async function feedAs(role: string): Promise<string[]> {
    const c = await connectAs(role);
    return (await c.query<{ what: string }>('SELECT what FROM portal.activity_feed ORDER BY time')).rows.map((r) => r.what);
  }

  async function roleRow(role: string): Promise<{ rolcanlogin: boolean; rolpassword: string | null } | undefined> {
    return (await db.pool.query('SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1', [role])).rows[0];
  }

  function roleItems(r: { items: Array<{ kind: string; name: string; action: string; detail?: string }> }) {
    return r.items.filter((i) => i.kind === 'database role' || i.kind === 'portal token').map((i) => [i.kind, i.name, i.action, i.detail]);
  }

  test('a churned client: its token is revoked and its role dropped, its open session ended; dry run first, then nothing left to do', async () => {
    const c = await clientWithToken('leaving');
    await syncOf(c.slug);
    const session = await connectAs(c.role);
    expect((await session.query('SELECT slug FROM portal.client')).rows).toEqual([{ slug: c.slug }]);
    expect(await verifyPortalToken(db.appPool, c.token)).toMatchObject({ slug: c.slug });

    await db.pool.query(`UPDATE clients SET status = 'churned' WHERE id = $1`, [c.id]);
    const auditBefore = (await auditRows()).length;
    const dry = await syncOf(c.slug, { dryRun: true });
    const planned = [
      ['portal token', 'portal_token', 'revoke', 'churned: version 1'],
      ['database role', c.role, 'delete', 'churned'],
    ];
    expect(roleItems(dry)).toEqual(planned);
    // The dry run changed nothing: the role still logs in and reads, the token row is intact, no audit row.
    expect(await roleRow(c.role)).toMatchObject({ rolcanlogin: true });
    expect((await session.query('SELECT slug FROM portal.client')).rows).toEqual([{ slug: c.slug }]);
    expect((await db.pool.query(`SELECT revoked_at FROM client_secrets WHERE client_id = $1`, [c.id])).rows).toEqual([
      { revoked_at: null },
    ]);
    expect(await auditRows()).toHaveLength(auditBefore);

    const r = await syncOf(c.slug);
    expect(r.problems).toEqual([]);
    expect(roleItems(r)).toEqual(planned);
    expect(await roleRow(c.role)).toBeUndefined();
    await expect(connectAs(c.role)).rejects.toThrow(`role "${c.role}" does not exist`);
    await expect(session.query('SELECT 1')).rejects.toThrow();
    // The token is revoked, not only refused while the client is churned: reactivating the client does not revive it.
    expect(await verifyPortalToken(db.appPool, c.token)).toBeNull();
    await db.pool.query(`UPDATE clients SET status = 'active' WHERE id = $1`, [c.id]);
    expect(await verifyPortalToken(db.appPool, c.token)).toBeNull();
    await db.pool.query(`UPDATE clients SET status = 'churned' WHERE id = $1`, [c.id]);
    const audit = (await auditRows()).slice(auditBefore).filter((a) => a.action.startsWith('client.'));
    expect(audit.map((a) => [a.action, a.target_id, a.client_id, a.outcome, a.actor])).toEqual([
      ['client.portal_token.revoke', c.id, c.id, 'success', 'cli:test'],
      ['client.portal_role.drop', c.role, c.id, 'success', 'cli:test'],
    ]);
    expect(audit[0]!.details).toMatchObject({ versions: [1] });
    expect(JSON.stringify(audit)).not.toContain(c.token);

    const again = await syncOf(c.slug);
    expect(again.changes).toBe(0);
    expect(roleItems(again)).toEqual([
      ['portal token', 'portal_token', 'nothing to do', 'churned: none that works'],
      ['database role', c.role, 'nothing to do', 'churned: no role'],
    ]);
  });

  test('a churned client whose role another database still grants something: kept, but without LOGIN or password', async () => {
    const c = await clientWithToken('kept');
    const other = await createTestDatabase({ migrate: false, prefix: 'orgsync_other' });
    try {
      await other.pool.query(`CREATE TABLE t (x int); GRANT SELECT ON t TO ${c.role}`);
      await db.pool.query(`UPDATE clients SET status = 'churned' WHERE id = $1`, [c.id]);

      const dry = await syncOf(c.slug, { dryRun: true });
      const kept = 'kept: another database of the cluster still grants it something';
      expect(roleItems(dry)).toEqual([
        ['portal token', 'portal_token', 'revoke', 'churned: version 1'],
        [
          'database role',
          c.role,
          'update',
          `churned: LOGIN and password removed; removed here: bound to the client, USAGE on schema portal, SELECT on the portal views (${kept})`,
        ],
      ]);
      expect(await roleRow(c.role)).toMatchObject({ rolcanlogin: true });

      const r = await syncOf(c.slug);
      expect(roleItems(r)).toEqual(roleItems(dry));
      expect(await roleRow(c.role)).toEqual({ rolcanlogin: false, rolpassword: null });
      await expect(connectAs(c.role)).rejects.toThrow(`role "${c.role}" is not permitted to log in`);
      expect(
        (await auditRows()).filter((a) => a.action === 'client.portal_role.disable').map((a) => [a.target_id, a.details.outcome]),
      ).toEqual([[c.role, 'kept']]);

      const again = await syncOf(c.slug);
      expect(again.changes).toBe(0);
      expect(roleItems(again)[1]).toEqual(['database role', c.role, 'nothing to do', `churned: no login, ${kept}`]);
    } finally {
      await other.drop();
    }
  });

  test('after a restore with --no-privileges the role has lost its grants: sync gives them back, it reads its own rows again', async () => {
    const c = await clientWithToken('restored');
    await syncOf(c.slug);
    expect(await feedAs(c.role)).toEqual(['own event']);
    // What pg_restore --no-privileges leaves: no grant to the client role, none to the views' owner.
    await db.pool.query(`REVOKE ALL ON ALL TABLES IN SCHEMA portal FROM ${c.role}`);
    await db.pool.query(`REVOKE ALL ON SCHEMA portal FROM ${c.role}`);
    await db.pool.query(`REVOKE ALL ON public.activity_events FROM ct_portal_owner`);
    await expect(feedAs(c.role)).rejects.toThrow(/permission denied for schema portal/);

    const auditBefore = (await auditRows()).length;
    const dry = await syncOf(c.slug, { dryRun: true });
    const planned = [
      ['database role', c.role, 'update', "USAGE on schema portal, SELECT on the portal views, ct_portal_owner's column grants"],
    ];
    expect(roleItems(dry)).toEqual(planned);
    await expect(feedAs(c.role)).rejects.toThrow(/permission denied/);
    expect(await auditRows()).toHaveLength(auditBefore);

    const r = await syncOf(c.slug);
    expect(r.problems).toEqual([]);
    expect(roleItems(r)).toEqual(planned);
    expect(await feedAs(c.role)).toEqual(['own event']);
    const audit = (await auditRows()).slice(auditBefore);
    expect(audit.map((a) => [a.action, a.target_id, a.client_id])).toEqual([['client.portal_role.update', c.role, c.id]]);
    expect(audit[0]!.details).toMatchObject({ changed: ['schemaUsage', 'views', 'ownerColumns'], password_set: false });

    const again = await syncOf(c.slug);
    expect(again.changes).toBe(0);
    expect(roleItems(again)).toEqual([['database role', c.role, 'nothing to do', undefined]]);
  });

  test('after a cluster move: a role without a password gets the current token, a missing role is made again', async () => {
    const c = await clientWithToken('moved');
    await syncOf(c.slug);
    expect(scramVerifierMatches((await roleRow(c.role))!.rolpassword!, c.token)).toBe(true);

    // Roles copied without their passwords.
    await db.pool.query(`ALTER ROLE ${c.role} PASSWORD NULL`);
    const dry = await syncOf(c.slug, { dryRun: true });
    expect(roleItems(dry)).toEqual([['database role', c.role, 'update', 'password from the portal token']]);
    expect((await roleRow(c.role))!.rolpassword).toBeNull();
    await syncOf(c.slug);
    expect(scramVerifierMatches((await roleRow(c.role))!.rolpassword!, c.token)).toBe(true);

    // No role at all (a new cluster, the database restored into it).
    await withTransaction(db.pool, (tx) => dropClientRole(tx, c.slug));
    await expect(connectAs(c.role)).rejects.toThrow('does not exist');
    const plan = await syncOf(c.slug, { dryRun: true });
    expect(roleItems(plan)).toEqual([['database role', c.role, 'create', 'password from the portal token']]);
    expect(await roleRow(c.role)).toBeUndefined();
    const r = await syncOf(c.slug);
    expect(roleItems(r)).toEqual(roleItems(plan));
    expect(scramVerifierMatches((await roleRow(c.role))!.rolpassword!, c.token)).toBe(true);
    expect(await feedAs(c.role)).toEqual(['own event']);
    expect((await auditRows()).filter((a) => a.target_id === c.role).map((a) => [a.action, a.details.password_set])).toEqual([
      ['client.portal_role.update', true],
      ['client.portal_role.create', true],
    ]);
    expect((await syncOf(c.slug)).changes).toBe(0);
  });
});

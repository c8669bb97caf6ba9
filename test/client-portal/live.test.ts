import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { signWebhook } from '@ct/api';
import { clientRoleName, issuePortalToken, startTenantProxy, type RunningTenantProxy } from '@ct/client-portal';
import { CLIENT_UIDS, clientDashboards, dashboardTargets, type DashboardTarget } from '@ct/dashboards';
import { startExporter, type RunningExporter } from '@ct/exporters';
import { createLogger, type SecretKeyring } from '@ct/lib';
import { demoDepsFromEnv, removeDemoWorkflows, seedDemo, type DemoDeps, type DemoSummary } from '../../cli/src/demo';
import { startPipeline, type Pipeline } from '../alerting/pipeline';
import { startTestApi, type TestApi } from '../api/harness';
import { sleep } from '../bench/process';
import { benchEnv, createTestDatabase, type TestDatabase } from '../helpers/db';
import { interpolate, last24h, promValue, runPromQL, runSql, runWorkflow, type Outcome } from '../dashboards/live-queries';

/**
 * The client portal's proof, like the admin portal's live check: the demo data set in a database,
 * the real exporter scraped by the real Prometheus with the project's jobs and rules, the REAL
 * tenant proxy in front of that Prometheus, and the pizza shop's portal token issued as org sync
 * would have it. Then every query of every client dashboard runs as that one client — PromQL
 * through the proxy with the token as Grafana's datasource sends it, SQL connected as the
 * client's own database role with the token as password — and must answer without an error and
 * with data. The same queries as another client must show nothing of the pizza shop.
 */
jest.setTimeout(300_000);

const CLIENT = 'pizza-co';
const OTHER = 'joes-plumbing';
const tag = randomBytes(3).toString('hex');
let dir: string;
let db: TestDatabase;
let deps: DemoDeps;
let api: TestApi;
let exporter: RunningExporter;
let pipeline: Pipeline;
let proxy: RunningTenantProxy;
let summary: DemoSummary;
const tokens: Record<string, string> = {};
const sessions: Record<string, Client> = {};

/** Runs of the pizza shop's workflows once Prometheus has their counters, so increases move; one fails. */
async function moreRuns(): Promise<void> {
  const n8nUrl = benchEnv('N8N_URL');
  for (const wf of summary.workflows.filter((w) => w.client === CLIENT)) {
    for (const body of [{ run: 'portal live' }, { fail: 'payment provider timeout (portal live check)' }]) {
      expect(await runWorkflow(n8nUrl, wf.webhookPath, body)).toBe(200);
    }
  }
}

/** A few events the pizza shop's workflows report now, through the signed webhook. */
async function liveEvents(): Promise<void> {
  const rotated = await api.call('POST', `/api/admin/clients/${CLIENT}/rotate-secret`, { body: { grace: '1h' } });
  expect(rotated.status).toBe(200);
  const secret = rotated.body.secret as string;
  for (let i = 0; i < 3; i++) {
    const body = JSON.stringify({
      id: `portal-live-${tag}-${i}`,
      type: 'order.received',
      data: { summary: `Order received (portal live ${i})` },
    });
    const res = await fetch(`${api.url}/api/webhooks/n8n/${CLIENT}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signWebhook(secret, body) },
      body,
    });
    expect(res.status).toBeLessThan(300);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-portal-live-'));
  db = await createTestDatabase({ prefix: 'portal_live' });
  const { databaseUrl: _unused, ...rest } = demoDepsFromEnv(process.env);
  deps = rest;
  const keyring: SecretKeyring = deps.keyring;
  api = await startTestApi({ db, n8n: deps.n8n, keyring });
  exporter = await startExporter({ pool: db.appPool, n8n: deps.n8n, n8nIntervalSeconds: 1, port: 0, databaseDiskCapacityBytes: 50e9 });
  pipeline = await startPipeline(dir, {
    exporterMetrics: '',
    scrape: { ct_exporters: new URL(exporter.url).host, ct_api: new URL(api.internalUrl).host },
  });

  summary = await seedDemo({ ...deps, pool: db.appPool, stuckSeconds: 120, tag });
  expect(summary.outcome).toBe('seeded');

  // What org sync does for each client: a portal token, which is also its database role's password.
  for (const slug of [CLIENT, OTHER]) tokens[slug] = (await issuePortalToken(db.appPool, keyring, slug)).token;
  proxy = await startTenantProxy({
    pool: db.appPool,
    prometheusUrl: pipeline.prometheus.url,
    logger: createLogger({ level: 'silent' }),
    port: 0,
    metricsPort: 0,
  });
  const u = new URL(db.url);
  for (const slug of [CLIENT, OTHER]) {
    sessions[slug] = new Client({
      host: u.hostname,
      port: Number(u.port),
      database: db.name,
      user: clientRoleName(slug),
      password: tokens[slug],
    });
    await sessions[slug].connect();
  }

  await pipeline.waitFor('the demo executions in Prometheus', async () =>
    (await promValue(pipeline.prometheus.url, `sum(ct_workflow_executions_total{client="${CLIENT}"})`)) ? true : undefined,
  );
  await moreRuns();
  await liveEvents();
});

afterAll(async () => {
  for (const s of Object.values(sessions)) await s.end().catch(() => undefined);
  await proxy?.stop();
  if (summary)
    await removeDemoWorkflows(
      deps.n8n,
      summary.workflows.map((w) => w.id),
    );
  await pipeline?.stop();
  await exporter?.stop();
  await api?.close();
  await db?.drop();
  // The roles are cluster-wide: drop them unless another database of the bench still uses them.
  const admin = new Client({ connectionString: benchEnv('DATABASE_OWNER_URL') });
  await admin.connect();
  for (const slug of [CLIENT, OTHER]) await admin.query(`DROP ROLE IF EXISTS ${clientRoleName(slug)}`).catch(() => undefined);
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
});

interface Checked {
  target: DashboardTarget;
  outcome: Outcome;
}

/** Every target of every client dashboard, as the client `slug` (no variables: the proxy and the role pick the client). */
async function runAll(slug: string): Promise<Checked[]> {
  const w = last24h();
  const out: Checked[] = [];
  // As Grafana's Prometheus datasource of the client's organisation sends it (httpHeaderName1).
  const datasourceHeaders = { authorization: `Bearer ${tokens[slug]}` };
  for (const { dashboard } of clientDashboards()) {
    for (const target of dashboardTargets(dashboard)) {
      const outcome =
        target.expr !== undefined
          ? await runPromQL(proxy.url, target, {}, w, datasourceHeaders)
          : await runSql(sessions[slug]!, target, {}, w);
      out.push({ target, outcome });
    }
  }
  return out;
}

const keyOf = (t: DashboardTarget) => `${t.dashboardUid}/${t.panel}/${t.refId}`;
const empty = (results: Checked[]) => results.filter((r) => r.outcome.count === 0).map((r) => keyOf(r.target));

test('every client dashboard query, through the real tenant proxy and as the client’s role, answers with data', async () => {
  // Rates and recording rules need a few evaluations after the new runs: poll until every panel
  // has data, then judge the last run.
  let results = await runAll(CLIENT);
  const deadline = Date.now() + 120_000;
  while (empty(results).length > 0 && Date.now() < deadline) {
    await sleep(3000);
    results = await runAll(CLIENT);
  }
  const errors = results.filter((r) => r.outcome.error).map((r) => `${keyOf(r.target)}: ${r.outcome.error}\n  ${r.outcome.query}`);
  expect(errors).toEqual([]);
  expect(empty(results)).toEqual([]);
  const kinds = new Set(results.map((r) => r.target.datasource.uid));
  expect(kinds).toEqual(new Set(['ct-portal-prometheus', 'ct-portal-postgres']));
  expect(results.map((r) => r.target.dashboardUid)).toContain(CLIENT_UIDS.overview);
  process.stdout.write(`[client portal live] ${results.length} queries of ${clientDashboards().length} dashboard(s), all with data\n`);
});

test('every column a table names is one its queries return', async () => {
  const results = await runAll(CLIENT);
  const byPanel = new Map<string, { columns: string[]; fields: Set<string> }>();
  for (const r of results.filter((x) => x.target.columns)) {
    const key = `${r.target.dashboard} / ${r.target.panel}`;
    const entry = byPanel.get(key) ?? { columns: r.target.columns!, fields: new Set<string>() };
    for (const f of r.outcome.fields) entry.fields.add(f);
    byPanel.set(key, entry);
  }
  expect(byPanel.size).toBe(3);
  for (const [panel, { columns, fields }] of byPanel)
    expect({ panel, missing: columns.filter((c) => !fields.has(c)) }).toEqual({ panel, missing: [] });
});

test('the automations table shows the pizza shop’s workflows only, and another client sees none of them', async () => {
  const overview = clientDashboards()[0]!.dashboard;
  const target = dashboardTargets(overview).find((t) => t.panel === 'Your automations' && t.refId === 'A')!;
  const series = async (slug: string) => {
    const res = await fetch(`${proxy.url}/api/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[slug]}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: target.expr! }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: { result: { metric: Record<string, string> }[] } }).data.result.map((r) => r.metric.name!);
  };
  const mine = await series(CLIENT);
  expect(mine.length).toBe(summary.workflows.filter((w) => w.client === CLIENT).length);
  for (const name of mine) expect(name).toMatch(/^Pizza Co · /);
  const theirs = await series(OTHER);
  expect(theirs.length).toBeGreaterThan(0);
  for (const name of theirs) expect(name).not.toMatch(/Pizza Co/);
});

test('another client running the same dashboard sees nothing of the pizza shop', async () => {
  const results = await runAll(OTHER);
  expect(results.filter((r) => r.outcome.error)).toEqual([]);
  // Its SQL answers, by value: not one of the pizza shop's invoices or events.
  const pizzaInvoices = (
    await db.pool.query<{ number: string }>(`SELECT number FROM invoices i JOIN clients c ON c.id = i.client_id WHERE c.slug = $1`, [
      CLIENT,
    ])
  ).rows.map((r) => r.number);
  expect(pizzaInvoices.length).toBeGreaterThan(0);
  const w = last24h();
  for (const t of clientDashboards()
    .flatMap(({ dashboard }) => dashboardTargets(dashboard))
    .filter((x) => x.rawSql !== undefined)) {
    const res = await sessions[OTHER]!.query(interpolate(t.rawSql!, 'sql', {}, w));
    const text = JSON.stringify(res.rows);
    for (const n of pizzaInvoices) expect(text).not.toContain(n);
    expect(text).not.toContain('portal live');
  }
});

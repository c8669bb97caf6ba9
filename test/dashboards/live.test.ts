import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { signWebhook } from '@ct/api';
import { startDatabaseBackup, startRestoreDrill } from '@ct/backup';
import { adminDashboards, dashboardTargets, type DashboardTarget } from '@ct/dashboards';
import { startExporter, type RunningExporter } from '@ct/exporters';
import type { SecretKeyring } from '@ct/lib';
import { demoDepsFromEnv, removeDemoWorkflows, seedDemo, type DemoDeps, type DemoSummary } from '../../cli/src/demo';
import { HttpsEndpoint, startBlackboxExporter, startPipeline, type Pipeline } from '../alerting/pipeline';
import { startTestApi, type TestApi } from '../api/harness';
import { freePort, httpStatus, killGroup, sleep, spawnDaemon, waitFor } from '../bench/process';
import { backupConfig } from '../helpers/backup';
import { benchEnv, createTestDatabase, type TestDatabase } from '../helpers/db';
import { combinations, last24h, promValue, runPromQL, runSql, runWorkflow, variableValues, type Outcome } from './live-queries';

/**
 * The heart of the admin portal's proof: the demo data set loaded into a database, the real
 * exporter and API scraped by the real Prometheus with the project's own prometheus.yml jobs and
 * alerting/rules (plus node_exporter, blackbox_exporter probing an HTTPS endpoint, the notifier
 * and an Alertmanager), a real backup and restore drill, a little live traffic; then every target
 * of every generated dashboard runs as Grafana would send it — PromQL over the panel's 24 h range
 * against Prometheus, SQL as the read-only `ct_dashboard_reader` role — and must answer without an
 * error and, where the seeded platform must show something, with data. A few Overview figures are
 * checked end to end against what SQL computes from the seeded tables.
 */
jest.setTimeout(300_000);

const tag = randomBytes(3).toString('hex');
let dir: string;
let db: TestDatabase;
let deps: DemoDeps;
let api: TestApi;
let exporter: RunningExporter;
let pipeline: Pipeline;
let endpoint: HttpsEndpoint;
let blackbox: { address: string; stop(): Promise<void> };
let nodeExporterPid = 0;
let reader: Client;
let summary: DemoSummary;

async function startNodeExporter(): Promise<string> {
  const port = await freePort();
  const logFile = path.join(dir, 'node-exporter.log');
  nodeExporterPid = spawnDaemon(
    'prometheus-node-exporter',
    [`--web.listen-address=127.0.0.1:${port}`, '--collector.disable-defaults', '--collector.filesystem', '--collector.meminfo'],
    { logFile, cwd: dir },
  );
  await waitFor('node_exporter', async () => (await httpStatus(`http://127.0.0.1:${port}/metrics`)) === 200, {
    timeoutMs: 20_000,
    logFile,
    pid: nodeExporterPid,
  });
  return `127.0.0.1:${port}`;
}

/** Live traffic through the scraped API, as the platform sees it every day. */
async function apiTraffic(): Promise<void> {
  const rotated = await api.call('POST', '/api/admin/clients/pizza-co/rotate-secret', { body: { grace: '1h' } });
  expect(rotated.status).toBe(200);
  const secret = rotated.body.secret as string;
  for (let i = 0; i < 3; i++) {
    const body = JSON.stringify({ id: `live-${tag}-${i}`, type: 'order.received', data: { summary: 'Order received (live check)' } });
    const res = await fetch(`${api.url}/api/webhooks/n8n/pizza-co`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signWebhook(secret, body) },
      body,
    });
    expect(res.status).toBeLessThan(300);
  }
  const forged = JSON.stringify({ id: `forged-${tag}`, type: 'order.received' });
  const bad = await fetch(`${api.url}/api/webhooks/n8n/pizza-co`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signWebhook('not-the-secret', forged) },
    body: forged,
  });
  expect(bad.status).toBe(401);
  expect((await api.call('GET', '/api/clients', { key: 'ct_wrongkey_0123456789abcdef' })).status).toBe(401);
  expect((await api.call('POST', '/api/admin/audit/verify')).status).toBe(200);
  for (const p of ['/api/clients', '/api/billing/mrr', '/api/billing/invoices', '/api/automations'])
    expect((await api.call('GET', p)).status).toBe(200);
}

/** More runs of the demo workflows once Prometheus has their counters, so rates and increases move. */
async function moreRuns(): Promise<void> {
  const n8nUrl = benchEnv('N8N_URL');
  for (const wf of summary.workflows.filter((w) => !w.name.includes('Parts order'))) {
    for (const body of [{ run: 'live' }, ...(wf.client === 'pizza-co' ? [{ fail: 'payment provider timeout (live check)' }] : [])]) {
      // Churned and paused clients' workflows may be inactive: n8n answers 404 for those.
      expect([200, 404]).toContain(await runWorkflow(n8nUrl, wf.webhookPath, body));
    }
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-dashboards-live-'));
  db = await createTestDatabase({ prefix: 'dashboards_live' });
  const { databaseUrl: _unused, ...rest } = demoDepsFromEnv(process.env);
  deps = rest;
  const keyring: SecretKeyring = deps.keyring;
  api = await startTestApi({ db, n8n: deps.n8n, keyring });
  exporter = await startExporter({ pool: db.appPool, n8n: deps.n8n, n8nIntervalSeconds: 1, port: 0, databaseDiskCapacityBytes: 50e9 });
  endpoint = new HttpsEndpoint(dir, 60);
  await endpoint.start();
  const [bb, node] = await Promise.all([startBlackboxExporter(dir, endpoint.certFile), startNodeExporter()]);
  blackbox = bb;
  pipeline = await startPipeline(dir, {
    exporterMetrics: '',
    scrape: { ct_exporters: new URL(exporter.url).host, ct_api: new URL(api.internalUrl).host, node },
    probes: { blackboxExporter: blackbox.address, targets: [{ url: endpoint.url, service: 'api' }] },
    selfMonitoring: true,
  });

  summary = await seedDemo({ ...deps, pool: db.appPool, stuckSeconds: 300, tag });
  expect(summary.outcome).toBe('seeded');

  const backup = backupConfig(db.url);
  expect(await (await startDatabaseBackup({ pool: db.appPool, config: backup, actor: 'live-check' })).done).toMatchObject({
    status: 'succeeded',
  });
  expect(await (await startRestoreDrill({ pool: db.appPool, config: backup, actor: 'live-check' })).done).toMatchObject({
    status: 'succeeded',
  });

  await pipeline.waitFor('the demo executions in Prometheus', async () =>
    (await promValue(pipeline.prometheus.url, 'sum(ct_workflow_executions_total{client="pizza-co"})')) ? true : undefined,
  );
  await moreRuns();
  await apiTraffic();

  const u = new URL(db.url);
  reader = new Client({ host: u.hostname, port: Number(u.port), database: db.name, user: 'ct_dashboard_reader' });
  await reader.connect();
});

afterAll(async () => {
  await reader?.end();
  if (summary)
    await removeDemoWorkflows(
      deps.n8n,
      summary.workflows.map((w) => w.id),
    );
  await pipeline?.stop();
  await blackbox?.stop();
  if (nodeExporterPid) await killGroup(nodeExporterPid);
  await endpoint?.stop();
  await exporter?.stop();
  await api?.close();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

interface Checked {
  target: DashboardTarget;
  vars: Record<string, string>;
  outcome: Outcome;
}

/** Every target of every admin dashboard, once per combination of its variables' values. */
async function runAll(): Promise<Checked[]> {
  const w = last24h();
  const out: Checked[] = [];
  for (const { dashboard } of adminDashboards()) {
    const values = await variableValues(pipeline.prometheus.url, dashboard);
    for (const vars of combinations(values)) {
      for (const target of dashboardTargets(dashboard)) {
        const outcome =
          target.expr !== undefined ? await runPromQL(pipeline.prometheus.url, target, vars, w) : await runSql(reader, target, vars, w);
        out.push({ target, vars, outcome });
      }
    }
  }
  return out;
}

const keyOf = (t: DashboardTarget) => `${t.dashboardUid}/${t.panel}/${t.refId}`;

/** Targets that answered empty for every value of the variables. */
function emptyTargets(results: Checked[]): string[] {
  const shown = new Map<string, boolean>();
  for (const r of results) shown.set(keyOf(r.target), (shown.get(keyOf(r.target)) ?? false) || r.outcome.count > 0);
  return [...shown].filter(([, ok]) => !ok).map(([k]) => k);
}

test('every dashboard query runs without an error, and every panel shows the seeded platform', async () => {
  // Recording rules, alerts and rates need a few evaluations after the traffic: poll until every
  // panel has data, then judge the last run.
  let results = await runAll();
  const deadline = Date.now() + 120_000;
  while (emptyTargets(results).length > 0 && Date.now() < deadline) {
    await sleep(3000);
    results = await runAll();
  }
  const errors = results
    .filter((r) => r.outcome.error)
    .map((r) => `${keyOf(r.target)} ${JSON.stringify(r.vars)}: ${r.outcome.error}\n  ${r.outcome.query}`);
  expect(errors).toEqual([]);
  expect(emptyTargets(results)).toEqual([]);
  const targets = new Set(results.map((r) => keyOf(r.target)));
  process.stdout.write(
    `[dashboards live] ${results.length} queries over ${targets.size} targets of ${adminDashboards().length} dashboards\n`,
  );
  expect(targets.size).toBeGreaterThan(80);
});

test('the client variable lists the seeded clients, churned ones included', async () => {
  const detail = adminDashboards().find((d) => d.dashboard.uid === 'ct-admin-client-detail')!.dashboard;
  const { client } = await variableValues(pipeline.prometheus.url, detail);
  const { rows } = await db.pool.query<{ slug: string }>('SELECT slug FROM clients ORDER BY slug');
  expect(client!.sort()).toEqual(rows.map((r) => r.slug));
});

test('every column a table names is one its queries return', async () => {
  const results = await runAll();
  const byPanel = new Map<string, { columns: string[]; fields: Set<string> }>();
  for (const r of results.filter((x) => x.target.columns)) {
    const key = `${r.target.dashboard} / ${r.target.panel}`;
    const entry = byPanel.get(key) ?? { columns: r.target.columns!, fields: new Set<string>() };
    for (const f of r.outcome.fields) entry.fields.add(f);
    byPanel.set(key, entry);
  }
  expect(byPanel.size).toBeGreaterThan(8);
  for (const [panel, { columns, fields }] of byPanel) {
    expect({ panel, missing: columns.filter((c) => !fields.has(c)) }).toEqual({ panel, missing: [] });
  }
});

test('the Overview’s revenue tiles equal what SQL computes from the seeded tables', async () => {
  const overview = adminDashboards().find((d) => d.dashboard.uid === 'ct-admin-overview')!.dashboard;
  const tile = async (panel: string) => {
    const t = dashboardTargets(overview).find((x) => x.panel === panel)!;
    return promValue(pipeline.prometheus.url, t.expr!);
  };
  const { rows } = await db.pool.query<{ mrr: string; active: string; pending: string; pending_amount: string; at_risk: string }>(`
    SELECT
      (SELECT coalesce(sum(monthly_amount_cents), 0) FROM subscriptions
        WHERE started_at <= now() AND (canceled_at IS NULL OR canceled_at > now())) / 100.0 AS mrr,
      (SELECT count(*) FROM clients WHERE status = 'active') AS active,
      (SELECT count(*) FROM invoices WHERE status = 'open' AND (due_at IS NULL OR due_at >= now())) AS pending,
      (SELECT coalesce(sum(amount_cents), 0) FROM invoices WHERE status = 'open' AND (due_at IS NULL OR due_at >= now())) / 100.0 AS pending_amount,
      (SELECT count(*) FROM clients c WHERE c.status <> 'churned' AND (
         greatest(c.last_activity_at, (SELECT max(occurred_at) FROM activity_events e WHERE e.client_id = c.id), c.created_at)
           < now() - interval '14 days'
         OR EXISTS (SELECT 1 FROM invoices i WHERE i.client_id = c.id AND i.status = 'open' AND i.due_at < now()))) AS at_risk`);
  const sql = rows[0]!;
  // The seed makes these figures non-trivial: revenue, open invoices and at least one client at risk.
  expect(Number(sql.mrr)).toBeGreaterThan(0);
  expect(Number(sql.pending)).toBeGreaterThan(0);
  expect(Number(sql.at_risk)).toBeGreaterThan(0);
  await pipeline.waitFor('the Overview tiles to match SQL', async () => {
    const got = {
      mrr: await tile('MRR'),
      active: await tile('Active clients'),
      pending: await tile('Pending invoices'),
      pendingAmount: await tile('Pending amount'),
      atRisk: await tile('Churn risk'),
    };
    const want = {
      mrr: Number(sql.mrr),
      active: Number(sql.active),
      pending: Number(sql.pending),
      pendingAmount: Number(sql.pending_amount),
      atRisk: Number(sql.at_risk),
    };
    return JSON.stringify(got) === JSON.stringify(want) ? true : undefined;
  });
});

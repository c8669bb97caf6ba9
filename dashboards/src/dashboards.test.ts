import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { LRParser } from '@lezer/lr';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { compareWithDisk, PROVISIONING_DASHBOARDS } from './generate';
import {
  adminDashboards,
  ADMIN_UIDS,
  CLIENT_UIDS,
  clientDashboards,
  MIXED,
  PORTAL_POSTGRES,
  PORTAL_PROMETHEUS,
  provisionedDashboards,
} from './index';
import { dashboardTargets, variablesUsed } from './targets';

/**
 * The generated dashboards and the provisioning files against Grafana's published formats
 * (../shared/contracts) and against each other: what Grafana would refuse or show broken.
 */

// Prometheus's PromQL grammar ships a CommonJS build, but declares its types for `import` only.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parser } = require('@prometheus-io/lezer-promql') as { parser: LRParser };

const ROOT = path.resolve(__dirname, '..', '..');
const CONTRACTS = path.resolve(ROOT, '..', 'shared', 'contracts');
const PROVISIONING = path.join(ROOT, 'provisioning');

type Yaml = Record<string, unknown>;
const readYaml = (file: string) => parse(readFileSync(file, 'utf8')) as Yaml;
const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(dir, f));

interface GridPanel {
  id?: number;
  type: string;
  title?: string;
  description?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { datasource?: { uid: string } }[];
  fieldConfig?: { defaults?: { unit?: string; thresholds?: unknown; mappings?: unknown[]; links?: { url: string }[] } };
  links?: { url: string }[];
  panels?: GridPanel[];
}
const panelsOf = (d: { panels?: unknown[] }): GridPanel[] =>
  ((d.panels ?? []) as GridPanel[]).flatMap((p) => (p.type === 'row' ? [p, ...(p.panels ?? [])] : [p]));

const provisionedDatasources = () =>
  yamlFiles(path.join(PROVISIONING, 'datasources')).flatMap((f) => (readYaml(f).datasources ?? []) as Yaml[]);

describe('generated dashboards', () => {
  const dashboards = provisionedDashboards();
  /** The admin portal's and the client portal's: the checks of what any dashboard must be. */
  const every = [...dashboards, ...clientDashboards()];

  test('the committed JSON is what the sources generate (run npm run dashboards after a change)', () => {
    expect(compareWithDisk()).toEqual([]);
  });

  test('each validates against Grafana’s dashboard JSON Schema', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(path.join(CONTRACTS, 'grafana-dashboard.schema.json'), 'utf8')));
    for (const { file } of dashboards) {
      const json = JSON.parse(readFileSync(path.join(PROVISIONING_DASHBOARDS, file), 'utf8'));
      const ok = validate(json);
      expect({ file, errors: ok ? [] : validate.errors }).toEqual({ file, errors: [] });
    }
  });

  test('the schema check has teeth: a string datasource and an unknown key are refused', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(path.join(CONTRACTS, 'grafana-dashboard.schema.json'), 'utf8')));
    const d = JSON.parse(JSON.stringify(dashboards[0]!.dashboard)) as Yaml & { panels: Yaml[] };
    expect(validate(d)).toBe(true);
    expect(validate({ ...d, __inputs: [] })).toBe(false);
    d.panels[1]!.datasource = 'Prometheus';
    expect(validate(d)).toBe(false);
  });

  test('uids are the admin portal’s, unique, and the Overview comes first', () => {
    const uids = adminDashboards().map((d) => d.dashboard.uid);
    expect(uids).toEqual(Object.values(ADMIN_UIDS));
    expect(new Set(uids).size).toBe(uids.length);
  });

  test('refresh every 30 s (Overview every 10 s), last 24 h, read-only, tagged for the header menu', () => {
    for (const { dashboard } of dashboards) {
      expect({ uid: dashboard.uid, refresh: dashboard.refresh }).toEqual({
        uid: dashboard.uid,
        refresh: dashboard.uid === ADMIN_UIDS.overview ? '10s' : '30s',
      });
      expect(dashboard.time).toEqual({ from: 'now-24h', to: 'now' });
      expect(dashboard.editable).toBe(false);
      expect(dashboard.tags).toContain('ct-admin');
    }
  });

  test('every datasource a panel or target uses is provisioned (by uid and type)', () => {
    const provisioned = new Map(provisionedDatasources().map((d) => [String(d.uid), String(d.type)]));
    for (const { dashboard } of dashboards) {
      for (const p of panelsOf(dashboard)) {
        if (p.type === 'row') continue;
        const refs = [p.datasource, ...(p.targets ?? []).map((t) => t.datasource)];
        for (const ref of refs) {
          const where = `${dashboard.title} / ${p.title}`;
          expect({ where, ref: !!ref }).toEqual({ where, ref: true });
          if (ref!.uid === MIXED.uid) continue;
          expect({ where, type: provisioned.get(ref!.uid) }).toEqual({ where, type: (ref as unknown as { type: string }).type });
        }
      }
    }
  });

  test('every $variable a query uses is defined by its dashboard', () => {
    for (const { dashboard } of every) {
      const defined = new Set((dashboard.templating?.list ?? []).map((v) => v.name));
      for (const t of dashboardTargets(dashboard)) {
        for (const v of variablesUsed(t.expr ?? t.rawSql ?? '')) {
          expect({ where: `${t.dashboard} / ${t.panel} / ${t.refId}`, v, defined: defined.has(v) }).toEqual({
            where: `${t.dashboard} / ${t.panel} / ${t.refId}`,
            v,
            defined: true,
          });
        }
      }
    }
  });

  test('every panel type is one Grafana ships', () => {
    const shipped = new Set(['row', 'stat', 'timeseries', 'table', 'gauge', 'bargauge', 'piechart', 'state-timeline', 'text', 'alertlist']);
    for (const { dashboard } of every) for (const p of panelsOf(dashboard)) expect([p.title, shipped.has(p.type)]).toEqual([p.title, true]);
  });

  test('every panel has a title, a description and a unit; stat and gauge tiles say what no data means or colour it', () => {
    for (const { dashboard } of every) {
      for (const p of panelsOf(dashboard)) {
        if (p.type === 'row') continue;
        const where = `${dashboard.title} / ${p.title}`;
        expect({ where, title: !!p.title, description: (p.description ?? '').length > 20, unit: !!p.fieldConfig?.defaults?.unit }).toEqual({
          where,
          title: true,
          description: true,
          unit: true,
        });
        if (p.type === 'stat' || p.type === 'gauge') {
          const d = p.fieldConfig!.defaults as { noValue?: string; thresholds?: unknown; mappings?: unknown[] };
          // A tile either falls back to a value (`or vector(…)`), or names its empty state.
          const queries = dashboardTargets(dashboard).filter((t) => t.panel === p.title);
          const fallback = queries.every((q) => /or vector\(/.test(q.expr ?? ''));
          expect({ where, explained: fallback || !!d.noValue }).toEqual({ where, explained: true });
        }
      }
    }
  });

  test('no two panels overlap, and every panel fits the 24-column grid', () => {
    for (const { dashboard } of every) {
      const placed = panelsOf(dashboard).map((p) => ({ title: p.title, ...p.gridPos! }));
      for (const [i, a] of placed.entries()) {
        expect({ title: a.title, fits: a.x >= 0 && a.w > 0 && a.x + a.w <= 24 && a.h > 0 }).toEqual({ title: a.title, fits: true });
        for (const b of placed.slice(i + 1)) {
          const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
          expect({ a: a.title, b: b.title, overlap }).toEqual({ a: a.title, b: b.title, overlap: false });
        }
      }
    }
  });

  test('every link to a dashboard names a uid that exists', () => {
    const uids = new Set(dashboards.map((d) => d.dashboard.uid));
    let links = 0;
    for (const { dashboard } of dashboards) {
      for (const p of panelsOf(dashboard)) {
        for (const l of [...(p.links ?? []), ...(p.fieldConfig?.defaults?.links ?? [])]) {
          const m = /^\/d\/([^/?]+)/.exec(l.url);
          expect({ url: l.url, dashboardLink: !!m }).toEqual({ url: l.url, dashboardLink: true });
          expect({ url: l.url, exists: uids.has(m![1]!) }).toEqual({ url: l.url, exists: true });
          links++;
        }
      }
    }
    expect(links).toBeGreaterThan(5);
  });

  test('every PromQL target parses with Prometheus’s own grammar', () => {
    for (const { dashboard } of every) {
      for (const t of dashboardTargets(dashboard).filter((q) => q.expr !== undefined)) {
        const errors: number[] = [];
        parser.parse(t.expr!).iterate({ enter: (n) => void (n.type.isError && errors.push(n.from)) });
        expect({ where: `${t.dashboard} / ${t.panel} / ${t.refId}`, errors }).toEqual({
          where: `${t.dashboard} / ${t.panel} / ${t.refId}`,
          errors: [],
        });
      }
    }
  });

  test('the parse check has teeth: a broken expression is caught', () => {
    let errors = 0;
    parser.parse('sum(rate(ct_api_request_duration_seconds_count[5m])').iterate({ enter: (n) => void (n.type.isError && errors++) });
    expect(errors).toBeGreaterThan(0);
  });

  test('SQL targets read only the dashboard schema’s views', () => {
    for (const { dashboard } of dashboards) {
      for (const t of dashboardTargets(dashboard).filter((q) => q.rawSql !== undefined)) {
        const relations = [...t.rawSql!.matchAll(/\b(?:FROM|JOIN)\s+([a-z_.]+)/gi)].map((m) => m[1]!);
        expect(relations.length).toBeGreaterThan(0);
        for (const r of relations)
          expect({ where: `${t.dashboard} / ${t.panel}`, r }).toEqual({
            where: `${t.dashboard} / ${t.panel}`,
            r: expect.stringMatching(/^dashboard\./),
          });
      }
    }
  });
});

describe('client portal dashboards', () => {
  const client = clientDashboards();
  const json = client.map(({ dashboard }) => JSON.parse(JSON.stringify(dashboard)) as Yaml & { uid: string; title: string });

  test('the Client overview comes first (each client org’s home), and no uid is an admin one', () => {
    expect(client.map((d) => d.dashboard.uid)).toEqual(Object.values(CLIENT_UIDS));
    const admin = new Set(adminDashboards().map((d) => d.dashboard.uid));
    for (const { dashboard } of client) expect(admin.has(dashboard.uid!)).toBe(false);
  });

  test('each validates against Grafana’s dashboard JSON Schema, as org sync posts it', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(path.join(CONTRACTS, 'grafana-dashboard.schema.json'), 'utf8')));
    for (const d of json) {
      const ok = validate(d);
      expect({ uid: d.uid, errors: ok ? [] : validate.errors }).toEqual({ uid: d.uid, errors: [] });
    }
  });

  test('npm run dashboards never writes them into provisioning (a file provider would put them in org 1)', () => {
    const uids = new Set(client.map((d) => d.dashboard.uid));
    const onDisk = readdirSync(PROVISIONING_DASHBOARDS, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .flatMap((e) => readdirSync(path.join(PROVISIONING_DASHBOARDS, e.name)).map((f) => path.join(PROVISIONING_DASHBOARDS, e.name, f)))
      .filter((f) => f.endsWith('.json'))
      .map((f) => (JSON.parse(readFileSync(f, 'utf8')) as { uid: string }).uid);
    expect(onDisk.length).toBeGreaterThan(0);
    expect(onDisk.filter((uid) => uids.has(uid))).toEqual([]);
    expect(provisionedDashboards().filter((d) => uids.has(d.dashboard.uid!))).toEqual([]);
  });

  test('read-only, tagged for clients, with no link out of the client’s organisation', () => {
    for (const d of json) {
      expect({ uid: d.uid, editable: d.editable, tags: d.tags, links: d.links ?? [] }).toEqual({
        uid: d.uid,
        editable: false,
        tags: ['ct', 'ct-client'],
        links: [],
      });
      for (const p of panelsOf(d as { panels?: unknown[] })) {
        expect({ panel: p.title, links: [...(p.links ?? []), ...(p.fieldConfig?.defaults?.links ?? [])] }).toEqual({
          panel: p.title,
          links: [],
        });
      }
    }
  });

  test('every panel and query names one of the client organisation’s two datasources, and no other', () => {
    const allowed = new Map<string, string>([
      [PORTAL_PROMETHEUS.uid, PORTAL_PROMETHEUS.type],
      [PORTAL_POSTGRES.uid, PORTAL_POSTGRES.type],
    ]);
    const used = new Set<string>();
    for (const d of json) {
      for (const p of panelsOf(d as { panels?: unknown[] })) {
        if (p.type === 'row') continue;
        for (const ref of [p.datasource, ...(p.targets ?? []).map((t) => t.datasource)]) {
          const r = ref as { uid: string; type: string } | undefined;
          const where = `${d.title} / ${p.title}`;
          expect({ where, type: r && allowed.get(r.uid) }).toEqual({ where, type: r?.type });
          used.add(r!.uid);
        }
      }
      // Not even in text: no admin datasource uid anywhere in the model.
      expect(JSON.stringify(d)).not.toMatch(/"ct-(prometheus|postgres)"/);
    }
    expect([...used].sort()).toEqual([PORTAL_POSTGRES.uid, PORTAL_PROMETHEUS.uid].sort());
  });

  test('no variable, and no query names a client: the tenant proxy and the client’s database role choose the data', () => {
    for (const { dashboard } of client) {
      expect(dashboard.templating?.list ?? []).toEqual([]);
      for (const t of dashboardTargets(dashboard)) {
        const where = `${t.dashboard} / ${t.panel} / ${t.refId}`;
        expect({ where, variables: variablesUsed(t.expr ?? t.rawSql ?? '') }).toEqual({ where, variables: [] });
        if (t.rawSql !== undefined) {
          expect({ where, sql: /client|slug/i.test(t.rawSql) }).toEqual({ where, sql: false });
          continue;
        }
        // Every label matcher, parsed with Prometheus's grammar: none is on `client`.
        const labels: string[] = [];
        parser.parse(t.expr!).iterate({
          enter: (n) => {
            if (n.name === 'LabelName' && n.node.parent?.name?.endsWith('LabelMatcher')) labels.push(t.expr!.slice(n.from, n.to));
          },
        });
        expect({ where, client: labels.includes('client') }).toEqual({ where, client: false });
      }
    }
  });

  test('the matcher check has teeth: a client matcher is seen', () => {
    const expr = 'sum(ct_workflow_executions_total{status="success", client="pizza-co"})';
    const labels: string[] = [];
    parser.parse(expr).iterate({
      enter: (n) => {
        if (n.name === 'LabelName' && n.node.parent?.name?.endsWith('LabelMatcher')) labels.push(expr.slice(n.from, n.to));
      },
    });
    expect(labels).toEqual(['status', 'client']);
  });

  test('SQL targets read only the portal schema’s views', () => {
    let n = 0;
    for (const { dashboard } of client) {
      for (const t of dashboardTargets(dashboard).filter((q) => q.rawSql !== undefined)) {
        const relations = [...t.rawSql!.matchAll(/\b(?:FROM|JOIN)\s+([a-z_.]+)/gi)].map((m) => m[1]!);
        expect(relations.length).toBeGreaterThan(0);
        for (const r of relations)
          expect({ where: `${t.dashboard} / ${t.panel}`, r }).toEqual({
            where: `${t.dashboard} / ${t.panel}`,
            r: expect.stringMatching(/^portal\./),
          });
        n++;
      }
    }
    expect(n).toBeGreaterThan(1);
  });

  test('the Client overview shows what the issue asks: runs, success, failures, hours saved, ROI, last activity, invoices, automations, activity', () => {
    const overview = client.find((d) => d.dashboard.uid === CLIENT_UIDS.overview)!.dashboard;
    const targets = dashboardTargets(overview);
    const text = targets.map((t) => t.expr ?? t.rawSql).join('\n');
    for (const needed of [
      'ct_workflow_executions_total',
      'status=~"error|crashed"',
      'ct_client_time_saved_seconds_total',
      'client:ct_client_hours_saved:total',
      'ct_client_roi_value_total',
      'ct_client_mrr',
      'ct_client_last_activity_timestamp_seconds',
      'ct_client_invoices_open',
      'ct_workflow_active',
      'portal.invoices',
      'portal.activity_feed',
    ])
      expect({ needed, shown: text.includes(needed) }).toEqual({ needed, shown: true });
    expect(new Set(targets.map((t) => t.panelType))).toEqual(new Set(['stat', 'timeseries', 'table']));
  });
});

describe('provisioning files', () => {
  test('datasources: V1 layout, stable unique uids, one default, nothing names a client organisation', () => {
    for (const file of yamlFiles(path.join(PROVISIONING, 'datasources'))) {
      const doc = readYaml(file);
      expect(doc.apiVersion).toBe(1);
      for (const d of (doc.datasources ?? []) as Yaml[]) {
        expect(d).toEqual(
          expect.objectContaining({ name: expect.any(String), type: expect.any(String), uid: expect.stringMatching(/^ct-[a-z-]+$/) }),
        );
        expect(['proxy', undefined]).toContain(d.access);
        expect([1, undefined]).toContain(d.orgId);
        expect(d.orgName).toBeUndefined();
        // Secrets come from the environment, never the file.
        for (const v of Object.values((d.secureJsonData ?? {}) as Record<string, string>)) expect(v).toMatch(/^\$\{?[A-Z_]+\}?$/);
      }
    }
    const all = provisionedDatasources();
    expect(new Set(all.map((d) => d.uid)).size).toBe(all.length);
    expect(all.filter((d) => d.isDefault === true)).toHaveLength(1);
  });

  test('the PostgreSQL datasource connects as the read-only role, its password from the environment', () => {
    const pg = provisionedDatasources().find((d) => d.uid === 'ct-postgres');
    expect(pg).toEqual(
      expect.objectContaining({
        type: 'grafana-postgresql-datasource',
        user: 'ct_dashboard_reader',
        secureJsonData: { password: expect.stringMatching(/^\$\{?DASHBOARD_DB_PASSWORD\}?$/) },
      }),
    );
  });

  test('dashboards: one read-only file provider per folder, at the path the compose file mounts, holding the generated JSON', () => {
    const compose = readYaml(path.join(ROOT, 'docker-compose.yml')) as { services: Record<string, { volumes?: string[] }> };
    const mount = compose.services.grafana!.volumes!.map((v) => v.split(':')).find(([host]) => host === './provisioning');
    expect(mount).toBeDefined();
    const inContainer = mount![1]!;
    const providers = yamlFiles(path.join(PROVISIONING, 'dashboards')).flatMap((f) => {
      const doc = readYaml(f);
      expect(doc.apiVersion).toBe(1);
      return doc.providers as Yaml[];
    });
    expect(new Set(providers.map((p) => p.name)).size).toBe(providers.length);
    const folders = new Set(provisionedDashboards().map((d) => path.dirname(d.file)));
    for (const folder of folders) {
      const provider = providers.find((p) => (p.options as Yaml).path === `${inContainer}/dashboards/${folder}`);
      expect({
        folder,
        provider: provider && { type: provider.type, allowUiUpdates: provider.allowUiUpdates, orgId: provider.orgId },
      }).toEqual({
        folder,
        provider: { type: 'file', allowUiUpdates: false, orgId: 1 },
      });
    }
    expect(providers.find((p) => p.folder === 'CT Admin')).toBeDefined();
  });

  test('the Overview is org 1’s home dashboard: the compose file points Grafana at its generated file', () => {
    const compose = readYaml(path.join(ROOT, 'docker-compose.yml')) as {
      services: Record<string, { volumes?: string[]; environment?: Record<string, string> }>;
    };
    const grafana = compose.services.grafana!;
    const [, inContainer] = grafana.volumes!.map((v) => v.split(':')).find(([host]) => host === './provisioning')!;
    const home = grafana.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!;
    expect(home.startsWith(`${inContainer}/`)).toBe(true);
    const onDisk = path.join(PROVISIONING, path.relative(inContainer!, home));
    expect(JSON.parse(readFileSync(onDisk, 'utf8')).uid).toBe(ADMIN_UIDS.overview);
  });

  test('the admin app: provisioned in org 1 with its proxy secret from the environment, mounted and allowed unsigned by id alone', () => {
    const plugin = JSON.parse(readFileSync(path.join(ROOT, 'grafana-plugins', 'ct-admin-app', 'src', 'plugin.json'), 'utf8')) as {
      id: string;
      routes: { url: string; headers?: { content: string }[] }[];
    };
    const apps = yamlFiles(path.join(PROVISIONING, 'plugins')).flatMap((f) => (readYaml(f).apps ?? []) as Yaml[]);
    expect(apps).toEqual([
      {
        type: plugin.id,
        org_id: 1,
        disabled: false,
        jsonData: { apiUrl: expect.stringMatching(/^http:\/\/api:\d+$/) },
        secureJsonData: { proxySecret: expect.stringMatching(/^\$\{?API_GRAFANA_PROXY_SECRET\}?$/) },
      },
    ]);
    // Every key the plugin's routes template from the settings is one the provisioning sets.
    const used = new Set(
      plugin.routes.flatMap(
        (r) => [r.url, ...(r.headers ?? []).map((h) => h.content)].join(' ').match(/\.(JsonData|SecureJsonData)\.\w+/g) ?? [],
      ),
    );
    for (const ref of used) {
      const [, kind, key] = /\.(JsonData|SecureJsonData)\.(\w+)/.exec(ref)!;
      expect({ ref, set: key! in (apps[0]![kind === 'JsonData' ? 'jsonData' : 'secureJsonData'] as Yaml) }).toEqual({ ref, set: true });
    }
    const compose = readYaml(path.join(ROOT, 'docker-compose.yml')) as {
      services: Record<string, { volumes?: string[]; environment?: Record<string, string> }>;
    };
    const grafana = compose.services.grafana!;
    expect(grafana.environment!.GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS).toBe(plugin.id);
    expect(grafana.environment!.GF_DATAPROXY_SEND_USER_HEADER).toBe('true');
    expect(grafana.environment!.API_GRAFANA_PROXY_SECRET).toMatch(/API_GRAFANA_PROXY_SECRET/);
    expect(grafana.volumes).toContain(`./grafana-plugins/${plugin.id}/dist:/var/lib/grafana/plugins/${plugin.id}:ro`);
  });
});

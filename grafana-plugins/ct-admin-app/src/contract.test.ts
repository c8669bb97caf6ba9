import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import pluginJson from './plugin.json';
import openapi from './api/openapi.json';
import { CALLS, fillPath } from './api/client';
import { decide, loadRoutes, outgoing, type OrgRole } from '../e2e/grafana/pluginProxy';

/**
 * Contracts: plugin.json is valid for Grafana, every call the plugin makes exists in the API's
 * OpenAPI document, and plugin.json's proxy routes forward each call to that same API path, with
 * the roles the admin portal promises: reads need Editor, changes need Admin, Viewers get nothing.
 */
const CONTRACTS =
  process.env.CT_CONTRACTS_DIR ?? path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'contracts');
const doc = openapi as unknown as { paths: Record<string, Record<string, unknown>> };
const routes = loadRoutes(pluginJson.routes);
const settings = { jsonData: { apiUrl: 'http://ct-api:8080' }, secureJsonData: { proxySecret: 's3cret' } };
const sample = (template: string) =>
  fillPath(template, {
    client: 'pizza-shop',
    name: 'mrr',
    id: '00000000-0000-4000-8000-000000000001',
    user: 'ops@agency.test',
  });
const through = (method: string, apiPath: string, role: OrgRole) =>
  decide(routes, method.toUpperCase(), apiPath.replace(/^\//, ''), role);

describe("plugin.json against Grafana's schema", () => {
  it('validates', () => {
    const file = path.join(CONTRACTS, 'grafana-plugin.schema.json');
    expect(existsSync(file)).toBe(true);
    const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
    const validate = ajv.compile(JSON.parse(readFileSync(file, 'utf8')));
    const ok = validate(pluginJson);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('uses the same id everywhere and routes every call through the proxy secret header', () => {
    expect(pluginJson.id).toBe('ct-admin-app');
    for (const r of routes) {
      expect(r.url).toMatch(/^\{\{ \.JsonData\.apiUrl \}\}\/api\//);
      expect(r.headers).toEqual([{ name: 'X-CT-Proxy-Secret', content: '{{ .SecureJsonData.proxySecret }}' }]);
    }
  });
});

describe('every call the plugin makes', () => {
  it('is declared', () => {
    expect(CALLS.length).toBeGreaterThanOrEqual(19);
  });

  it.each(CALLS.map((c) => [`${c.method.toUpperCase()} ${c.path}`, c] as const))(
    '%s exists in the API document',
    (_n, c) => {
      expect(doc.paths[c.path]?.[c.method]).toBeDefined();
    }
  );

  it.each(CALLS.map((c) => [`${c.method.toUpperCase()} ${c.path}`, c] as const))(
    '%s reaches the same API path through plugin.json, with the right role',
    (_n, c) => {
      const p = sample(c.path);
      const admin = through(c.method, p, 'Admin');
      expect(admin.status).toBe(200);
      if (admin.status !== 200) {
        return;
      }
      const out = outgoing(admin, { search: '?x=1', headers: {} }, settings, { login: 'ops', role: 'Admin' }, true);
      expect(out.url).toBe(`http://ct-api:8080${p}?x=1`);
      expect(out.headers['x-ct-proxy-secret']).toBe('s3cret');
      expect(out.headers['x-grafana-user']).toBe('ops');
      const needs = c.method === 'get' ? admin.route.reqRole : 'Admin';
      expect(admin.route.reqRole).toBe(needs);
      expect(['Editor', 'Admin']).toContain(admin.route.reqRole);
      expect(through(c.method, p, 'Viewer').status).toBe(403);
      expect(through(c.method, p, 'Editor').status).toBe(
        c.method === 'get' && admin.route.reqRole === 'Editor' ? 200 : 403
      );
    }
  );
});

describe('what the routes open up', () => {
  const operations = Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops).map((m) => ({ method: m, path: p }))
  );

  it('lets an Editor only read, and never the audit log, exports or API keys', () => {
    const editorCan = operations.filter((o) => through(o.method, sample(o.path), 'Editor').status === 200);
    expect(editorCan.length).toBeGreaterThan(5);
    for (const o of editorCan) {
      expect(o.method).toBe('get');
      expect(o.path).not.toMatch(/^\/api\/(admin\/(audit|exports)|auth\/api-keys)/);
    }
  });

  it('keeps credential management and webhooks out of the proxy entirely', () => {
    for (const o of operations.filter((x) =>
      /^\/api\/(auth\/(api-keys|users|login|refresh|logout)|webhooks)/.test(x.path)
    )) {
      expect(through(o.method, sample(o.path), 'Admin').status).toBe(404);
    }
    expect(through('PATCH', 'api/clients/pizza-shop', 'Admin').status).toBe(404);
    expect(through('POST', 'api/clients', 'Admin').status).toBe(404);
  });
});

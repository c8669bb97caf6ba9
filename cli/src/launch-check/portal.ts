import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { originOf, request } from './http';
import { fail, pass, type Outcome } from './types';

/** Admin portal functional: Grafana reachable, the app plugin enabled, the admin dashboards provisioned. */

export const ADMIN_APP_ID = 'ct-admin-app';

export interface GrafanaAccess {
  url: string;
  /** The Authorization header value (Basic … or Bearer …). */
  authorization?: string;
  /** With a server admin's basic auth: switch to this org before reading org-scoped data. */
  orgId?: number;
}

/** The uid of every dashboard file the admin provider provisions. */
export function provisionedDashboardUids(dir: string): { uid: string; title: string }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { uid: string; title: string })
    .map((d) => ({ uid: d.uid, title: d.title }));
}

const headers = (g: GrafanaAccess): Record<string, string> => ({
  Accept: 'application/json',
  ...(g.authorization ? { Authorization: g.authorization } : {}),
});

export async function checkGrafanaHealth(g: GrafanaAccess): Promise<Outcome> {
  const res = await request(`${g.url}/api/health`, { headers: { Accept: 'application/json' } });
  if (!res.ok) {
    return fail(
      `Grafana at ${originOf(g.url)} is unreachable (${res.error})`,
      'start it (docker compose up -d grafana; docker compose logs grafana) and check GRAFANA_URL',
    );
  }
  const body = (res.json ?? {}) as { database?: string; version?: string };
  if (res.status !== 200 || body.database !== 'ok') {
    return fail(
      `Grafana at ${originOf(g.url)} is not healthy (HTTP ${res.status}, database ${body.database ?? 'unknown'})`,
      "check Grafana's database (GF_DATABASE_* in docker-compose.yml, the postgres service) and its log",
    );
  }
  return pass(`Grafana ${body.version ?? ''} healthy at ${originOf(g.url)}`.replace('  ', ' '));
}

export async function checkAdminApp(g: GrafanaAccess): Promise<Outcome> {
  const res = await request(`${g.url}/api/plugins/${ADMIN_APP_ID}/settings`, { headers: headers(g) });
  if (!res.ok) return fail(`Grafana at ${originOf(g.url)} is unreachable (${res.error})`, 'start Grafana and check GRAFANA_URL');
  if (res.status === 404) {
    return fail(
      `the ${ADMIN_APP_ID} plugin is not installed in Grafana`,
      `build it (grafana-plugins/${ADMIN_APP_ID}: npm run build) and mount its dist/ as /var/lib/grafana/plugins/${ADMIN_APP_ID}, with GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS=${ADMIN_APP_ID}`,
    );
  }
  if (res.status === 401 || res.status === 403) {
    return fail(
      `Grafana refused ct's credentials (HTTP ${res.status})`,
      'set GRAFANA_ADMIN_USER and GRAFANA_ADMIN_PASSWORD (or GRAFANA_TOKEN) to a Grafana admin',
    );
  }
  const body = (res.json ?? {}) as { enabled?: boolean; jsonData?: { apiUrl?: string } };
  if (res.status !== 200) return fail(`Grafana answered HTTP ${res.status} for the plugin's settings`, "read Grafana's log");
  if (body.enabled !== true) {
    return fail(
      `the ${ADMIN_APP_ID} plugin is installed but not enabled`,
      `provision it enabled (provisioning/plugins/${ADMIN_APP_ID}.yml: disabled: false) and restart Grafana, or enable it under Administration > Plugins`,
    );
  }
  return pass(`the ${ADMIN_APP_ID} plugin is enabled${body.jsonData?.apiUrl ? ` (API ${body.jsonData.apiUrl})` : ''}`);
}

export async function checkDashboards(g: GrafanaAccess, expected: { uid: string; title: string }[]): Promise<Outcome> {
  if (g.orgId !== undefined && g.authorization?.startsWith('Basic ')) {
    // Org sync moves this user between organisations; the admin dashboards live in org 1.
    const sw = await request(`${g.url}/api/user/using/${g.orgId}`, { method: 'POST', headers: headers(g) });
    if (!sw.ok || sw.status !== 200) {
      return fail(
        `could not switch to Grafana org ${g.orgId} (${sw.ok ? `HTTP ${sw.status}` : sw.error})`,
        'GRAFANA_ADMIN_USER must be a member of the admin organisation (org 1)',
      );
    }
  }
  const q = new URLSearchParams([['type', 'dash-db'], ...expected.map((d): [string, string] => ['dashboardUIDs', d.uid])]);
  const res = await request(`${g.url}/api/search?${q}`, { headers: headers(g) });
  if (!res.ok) return fail(`Grafana at ${originOf(g.url)} is unreachable (${res.error})`, 'start Grafana and check GRAFANA_URL');
  if (res.status !== 200)
    return fail(`Grafana answered HTTP ${res.status} to the dashboard search`, 'check GRAFANA_ADMIN_USER / GRAFANA_TOKEN');
  const found = new Set(((res.json ?? []) as { uid: string }[]).map((h) => h.uid));
  const missing = expected.filter((d) => !found.has(d.uid));
  if (missing.length > 0) {
    return fail(
      `${missing.length} of ${expected.length} admin dashboards not provisioned`,
      'mount provisioning/ as /etc/grafana/provisioning (docker-compose.yml) with the generated JSON (npm run dashboards), then restart Grafana or wait 30 s for the provider to rescan',
      missing.map((d) => `${d.uid} (${d.title})`),
    );
  }
  return pass(`all ${expected.length} admin dashboards provisioned`);
}

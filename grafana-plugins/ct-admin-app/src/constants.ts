import pluginJson from './plugin.json';

export const PLUGIN_ID = pluginJson.id;
export const PLUGIN_BASE_URL = `/a/${pluginJson.id}`;
/** Every call to the platform API goes through Grafana's plugin proxy and the routes of plugin.json. */
export const PROXY_BASE = `/api/plugin-proxy/${pluginJson.id}`;
/** The app's configuration page in Grafana. */
export const CONFIG_PAGE_URL = `/plugins/${pluginJson.id}`;

export enum ROUTES {
  Overview = 'overview',
  Clients = 'clients',
  Actions = 'actions',
}

export enum ACTIONS {
  RestartStuck = 'restart-stuck',
  RotateSecret = 'rotate-secret',
  Backup = 'backup',
  Audit = 'audit',
  Export = 'export',
}

/** Overview refresh period. */
export const REFRESH_MS = 10_000;

/** The admin portal's dashboards, by uid. */
export const DASHBOARDS = {
  overview: 'ct-admin-overview',
  clients: 'ct-admin-clients',
  clientDetail: 'ct-admin-client-detail',
  backups: 'ct-admin-backups',
  security: 'ct-admin-security',
  platform: 'ct-admin-platform',
} as const;

export function dashboardUrl(uid: string, vars: Record<string, string> = {}): string {
  const q = new URLSearchParams(Object.entries(vars).map(([k, v]) => [`var-${k}`, v])).toString();
  return `/d/${uid}${q ? `?${q}` : ''}`;
}

export function prefixRoute(route: string): string {
  return `${PLUGIN_BASE_URL}/${route}`;
}

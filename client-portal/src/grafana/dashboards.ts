/** A dashboard's JSON model as org sync posts it. */
export type DashboardJson = Record<string, unknown> & { uid: string; title: string };

/** The client organisation's home dashboard. */
export const CLIENT_HOME_DASHBOARD_UID = 'ct-client-overview';

/**
 * The client organisation's dashboards, from `clientDashboards()` of @ct/dashboards (generated as
 * code like the admin portal's, not file provisioned: sync posts them to each client org), as the
 * JSON models Grafana stores. Loaded when sync runs, so that nothing else that loads the client
 * portal loads the dashboards package.
 */
export function loadClientDashboards(): DashboardJson[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { clientDashboards } = require('@ct/dashboards') as typeof import('@ct/dashboards');
  return clientDashboards().map(({ dashboard }) => {
    if (typeof dashboard.uid !== 'string' || typeof dashboard.title !== 'string') throw new Error('a client dashboard has no uid or title');
    return JSON.parse(JSON.stringify(dashboard)) as DashboardJson;
  });
}

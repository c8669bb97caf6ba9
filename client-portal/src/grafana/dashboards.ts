import { UserError } from '@ct/lib';

/** A dashboard's JSON model as org sync posts it. */
export type DashboardJson = Record<string, unknown> & { uid: string; title: string };

/** The client organisation's home dashboard. */
export const CLIENT_HOME_DASHBOARD_UID = 'ct-client-overview';

/**
 * The client organisation's dashboards, from `clientDashboards()` of @ct/dashboards (generated as
 * code like the admin portal's, not file provisioned: sync posts them to each client org).
 * Loaded when sync runs, so commands that do not sync never load the dashboards package.
 */
export function loadClientDashboards(): DashboardJson[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('@ct/dashboards') as { clientDashboards?: () => Array<{ dashboard?: unknown } | Record<string, unknown>> };
  if (typeof mod.clientDashboards !== 'function') {
    throw new UserError('@ct/dashboards has no clientDashboards(): build the dashboards package (npm run build)');
  }
  return mod.clientDashboards().map((entry) => {
    const dashboard = ('dashboard' in entry && entry.dashboard ? entry.dashboard : entry) as Record<string, unknown>;
    if (typeof dashboard.uid !== 'string' || typeof dashboard.title !== 'string') {
      throw new Error('a client dashboard has no uid or title');
    }
    return JSON.parse(JSON.stringify(dashboard)) as DashboardJson;
  });
}

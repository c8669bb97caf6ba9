import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { backups } from './admin/backups';
import { clientDetail } from './admin/client-detail';
import { clients } from './admin/clients';
import { overview } from './admin/overview';
import { platform } from './admin/platform';
import { security } from './admin/security';
import { clientOverview } from './client/overview';

export { ADMIN_UIDS } from './admin/common';
export { CLIENT_UIDS } from './client/common';
export { MIXED, PORTAL_POSTGRES, PORTAL_PROMETHEUS, POSTGRES, PROMETHEUS } from './datasources';
export { dashboardTargets, type DashboardTarget } from './targets';

/** A generated dashboard and the file it is provisioned from. */
export interface DashboardFile {
  /** Path under provisioning/dashboards/ (one folder per dashboard provider). */
  file: string;
  dashboard: Dashboard;
}

/** The admin portal (org 1, folder "CT Admin"), Overview first: it is the org's home dashboard. */
export function adminDashboards(): DashboardFile[] {
  return [overview(), clients(), clientDetail(), backups(), security(), platform()].map((dashboard) => ({
    file: `admin/${dashboard.uid}.json`,
    dashboard: numberPanels(dashboard),
  }));
}

/** A client organisation's dashboard: org sync posts it to each client org (no file of its own). */
export interface ClientDashboard {
  dashboard: Dashboard;
}

/**
 * The client portal's dashboards, Client overview first: it is each client org's home. They are
 * the same for every client (the tenant proxy and the client's database role pick the client's
 * data), and never written into provisioning/: a file provider would put them in org 1.
 */
export function clientDashboards(): ClientDashboard[] {
  return [clientOverview()].map((dashboard) => ({ dashboard: numberPanels(dashboard) }));
}

/** What `npm run dashboards` writes into provisioning/dashboards/: the admin portal's. */
export function provisionedDashboards(): DashboardFile[] {
  return adminDashboards();
}

/** Stable panel ids in layout order (links such as `viewPanel=` and Grafana's state rely on them). */
function numberPanels(dashboard: Dashboard): Dashboard {
  let id = 0;
  for (const panel of dashboard.panels ?? []) panel.id = ++id;
  return dashboard;
}

/** The JSON Grafana's file provider reads: two-space indented, newline at the end. */
export function renderDashboard(dashboard: Dashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}

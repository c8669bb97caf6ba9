import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { backups } from './admin/backups';
import { clientDetail } from './admin/client-detail';
import { clients } from './admin/clients';
import { overview } from './admin/overview';
import { platform } from './admin/platform';
import { security } from './admin/security';

export { ADMIN_UIDS } from './admin/common';
export { MIXED, POSTGRES, PROMETHEUS } from './datasources';
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

/** Every dashboard this package generates. */
export function allDashboards(): DashboardFile[] {
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

import { DashboardBuilder, DashboardCursorSync, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { MIXED, PORTAL_POSTGRES, PORTAL_PROMETHEUS, POSTGRES, PROMETHEUS } from '../datasources';

/** The client portal's dashboards, by uid (org sync sets the overview as each client org's home). */
export const CLIENT_UIDS = {
  overview: 'ct-client-overview',
} as const;

/**
 * A dashboard of a client's own organisation: read-only, last 7 days, refreshed every minute, and
 * no link to anything outside the client's organisation.
 */
export function clientDashboard(uid: string, title: string, description: string): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['ct', 'ct-client'])
    .readonly()
    .refresh('1m')
    .time({ from: 'now-7d', to: 'now' })
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair);
}

/** The admin portal's datasources and the client organisation's that replace them. */
const PORTAL: Record<string, { type: string; uid: string }> = {
  [PROMETHEUS.uid]: PORTAL_PROMETHEUS,
  [POSTGRES.uid]: PORTAL_POSTGRES,
  [MIXED.uid]: MIXED,
};

function portalRef(ref: unknown, where: string): { type: string; uid: string } {
  const uid = (ref as { uid?: string } | undefined)?.uid;
  const to = uid === undefined ? undefined : PORTAL[uid];
  if (!to) throw new Error(`${where}: datasource ${JSON.stringify(ref)} has no client-portal counterpart`);
  return { ...to };
}

/**
 * The panel and query helpers (panels.ts, queries.ts) name the admin portal's datasources; a client
 * dashboard is built with them and then pointed at the client organisation's two datasources here.
 * A datasource with no counterpart stops the build rather than reach a client org.
 */
export function forPortal(dashboard: Dashboard): Dashboard {
  for (const panel of dashboard.panels ?? []) {
    if (panel.type === 'row') continue;
    const p = panel as { title?: string; datasource?: unknown; targets?: { datasource?: unknown }[] };
    const where = `${dashboard.title} / ${p.title}`;
    p.datasource = portalRef(p.datasource, where);
    for (const t of p.targets ?? []) t.datasource = portalRef(t.datasource, where);
  }
  return dashboard;
}

import { DashboardBuilder, DashboardCursorSync } from '@grafana/grafana-foundation-sdk/dashboard';
import { adminLinks } from '../panels';

/** The admin portal's dashboards, by uid: the app plugin and panel links name them this way. */
export const ADMIN_UIDS = {
  overview: 'ct-admin-overview',
  clients: 'ct-admin-clients',
  clientDetail: 'ct-admin-client-detail',
  backups: 'ct-admin-backups',
  security: 'ct-admin-security',
  platform: 'ct-admin-platform',
} as const;

/** Link to another admin dashboard (Grafana resolves `/d/<uid>` to it). */
export const dashboardUrl = (uid: string, query = '') => `/d/${uid}${query ? `?${query}` : ''}`;

/** The client detail dashboard for the client of a table row (its `client` column, the slug). */
export const CLIENT_ROW_LINK = {
  title: 'Open the client detail',
  url: dashboardUrl(ADMIN_UIDS.clientDetail, 'var-client=${__data.fields.client}&${__url_time_range}'),
};

/**
 * Money is exported per ISO 4217 currency; Grafana's unit is fixed per panel, so the admin portal
 * shows the agency's billing currency. Change it here (and run `npm run dashboards`) for another.
 */
export const CURRENCY_UNIT = 'currencyUSD';

/** A dashboard of the admin portal: read-only (edit the source instead), last 24 h, shared crosshair. */
export function adminDashboard(uid: string, title: string, description: string, refresh = '30s'): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['ct', 'ct-admin'])
    .readonly()
    .refresh(refresh)
    .time({ from: 'now-24h', to: 'now' })
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .links(adminLinks());
}

/**
 * Per-client series with the client's display name and status beside the slug. Every
 * per-client table of the portal goes through this, so names and status are joined one way.
 */
export const withClientInfo = (expr: string) => `(${expr}) * on (client) group_left (name) sum by (client, name) (ct_client_info)`;

import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

/**
 * The datasources the admin portal's dashboards query, by the stable uids that
 * provisioning/datasources/ct.yml gives them. A dashboard never names a datasource any other way.
 */
export const PROMETHEUS = { type: 'prometheus', uid: 'ct-prometheus' } as const satisfies DataSourceRef;
/** Grafana's core PostgreSQL plugin, connected as the read-only role `ct_dashboard_reader`. */
export const POSTGRES = { type: 'grafana-postgresql-datasource', uid: 'ct-postgres' } as const satisfies DataSourceRef;
/** Grafana's pseudo-datasource that lets one panel hold queries of several datasources. */
export const MIXED = { type: 'datasource', uid: '-- Mixed --' } as const satisfies DataSourceRef;

/**
 * A client organisation's two datasources, created in it by org sync with these uids: the tenant
 * proxy (which forces `client="<slug>"` onto every PromQL selector) and PostgreSQL as the client's
 * own role (which row-level security limits to the client's rows). The client dashboards name no
 * other datasource, and need no `client` variable or matcher.
 */
export const PORTAL_PROMETHEUS = { type: 'prometheus', uid: 'ct-portal-prometheus' } as const satisfies DataSourceRef;
export const PORTAL_POSTGRES = { type: 'grafana-postgresql-datasource', uid: 'ct-portal-postgres' } as const satisfies DataSourceRef;

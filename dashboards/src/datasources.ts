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

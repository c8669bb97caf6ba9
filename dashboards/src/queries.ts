import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { DataqueryBuilder, PromQueryFormat, QueryEditorMode } from '@grafana/grafana-foundation-sdk/prometheus';
import { POSTGRES, PROMETHEUS } from './datasources';

/**
 * Query builders. Every target names its datasource, so panels of mixed datasources and the
 * live-query test read the same thing Grafana does.
 */

export interface PromOptions {
  /** Legend, e.g. `{{client}}`. */
  legend?: string;
  /** One value per series at the dashboard's end time (stat, table, gauge), instead of a range. */
  instant?: boolean;
  /** `table` for instant queries shown as table rows (one column per label). */
  table?: boolean;
}

export function prom(refId: string, expr: string, o: PromOptions = {}): DataqueryBuilder {
  const q = new DataqueryBuilder().refId(refId).datasource(PROMETHEUS).expr(expr).editorMode(QueryEditorMode.Code);
  if (o.legend) q.legendFormat(o.legend);
  if (o.instant || o.table) q.instant();
  else q.range();
  if (o.table) q.format(PromQueryFormat.Table);
  return q;
}

/** A target of Grafana's PostgreSQL datasource, written as raw SQL in code mode. */
export interface SqlQuery extends cog.Dataquery {
  refId: string;
  datasource: { type: string; uid: string };
  rawSql: string;
  rawQuery: true;
  editorMode: 'code';
  format: 'table' | 'time_series';
}

export class SqlQueryBuilder implements cog.Builder<cog.Dataquery> {
  constructor(private readonly query: Omit<SqlQuery, '_implementsDataqueryVariant'>) {}
  build(): cog.Dataquery {
    return { ...this.query } as unknown as cog.Dataquery;
  }
}

/** SQL against the `dashboard` schema's views (the only thing the read-only role can read). */
export function sql(refId: string, rawSql: string, format: 'table' | 'time_series' = 'table'): SqlQueryBuilder {
  return new SqlQueryBuilder({
    refId,
    datasource: POSTGRES,
    rawSql: rawSql.trim().replace(/\n\s+/g, '\n  '),
    rawQuery: true,
    editorMode: 'code',
    format,
  });
}

import type { Dashboard, Panel } from '@grafana/grafana-foundation-sdk/dashboard';

/** One query of one panel, as Grafana would send it: what the live-query test runs. */
export interface DashboardTarget {
  dashboard: string;
  dashboardUid: string;
  panel: string;
  panelType: string;
  refId: string;
  datasource: { type: string; uid: string };
  /** PromQL (Prometheus targets). */
  expr?: string;
  /** SQL (PostgreSQL targets). */
  rawSql?: string;
  /** An instant query (one value per series at the range's end) rather than a range query. */
  instant: boolean;
  /** The columns a table panel shows (its organize transformation), when it is a table. */
  columns?: string[];
}

interface RawTarget {
  refId: string;
  datasource?: { type: string; uid: string };
  expr?: string;
  rawSql?: string;
  instant?: boolean;
}

/** Every target of every panel (rows and their collapsed panels included), in layout order. */
export function dashboardTargets(dashboard: Dashboard): DashboardTarget[] {
  const out: DashboardTarget[] = [];
  const visit = (panel: Panel) => {
    const organize = panel.transformations?.find((t) => t.id === 'organize')?.options as
      { indexByName?: Record<string, number> } | undefined;
    for (const t of (panel.targets ?? []) as unknown as RawTarget[]) {
      const datasource = t.datasource ?? (panel.datasource as { type: string; uid: string } | undefined);
      if (!datasource) throw new Error(`${dashboard.title} / ${panel.title}: target ${t.refId} names no datasource`);
      out.push({
        dashboard: dashboard.title ?? '',
        dashboardUid: dashboard.uid!,
        panel: panel.title ?? '',
        panelType: panel.type,
        refId: t.refId,
        datasource,
        expr: t.expr,
        rawSql: t.rawSql,
        instant: t.instant === true,
        columns: organize?.indexByName ? Object.keys(organize.indexByName) : undefined,
      });
    }
  };
  for (const p of dashboard.panels ?? []) {
    if (p.type === 'row') for (const inner of (p as { panels?: Panel[] }).panels ?? []) visit(inner);
    else visit(p as Panel);
  }
  return out;
}

/**
 * `$name` and `${name}` references to dashboard variables in a query. Grafana's own `$__…` are left
 * out, and so are `$1`-style capture references of label_replace: no variable can be named so,
 * and Grafana leaves a reference to an unknown variable as it is.
 */
export function variablesUsed(query: string): string[] {
  const names = new Set<string>();
  for (const m of query.matchAll(/\$(?:\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|([A-Za-z0-9_]+))/g)) {
    const name = m[1] ?? m[2]!;
    if (!name.startsWith('__') && !/^\d+$/.test(name)) names.add(name);
  }
  return [...names];
}

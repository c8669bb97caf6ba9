import type { Client } from 'pg';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import type { DashboardTarget } from '@ct/dashboards';

/**
 * Runs dashboard targets as Grafana would send them: template variables and Grafana's macros
 * substituted, PromQL against Prometheus's HTTP API (query_range over the panel's range, or an
 * instant query at its end), SQL through a connection of the datasource's database role.
 */

export interface QueryWindow {
  from: Date;
  to: Date;
  /** The range query's step, which Grafana also hands queries as $__interval. */
  stepSeconds: number;
  /** The datasource's scrape interval (Grafana's "timeInterval"), for $__rate_interval. */
  scrapeIntervalSeconds: number;
}

export const last24h = (now = new Date()): QueryWindow => ({
  from: new Date(now.getTime() - 86_400_000),
  to: now,
  stepSeconds: 60,
  scrapeIntervalSeconds: 15,
});

export interface Outcome {
  /** What was run, variables and macros substituted. */
  query: string;
  error?: string;
  /** Series (PromQL) or rows (SQL) returned. */
  count: number;
  /** Label names (PromQL, plus `Value #<refId>`) or columns (SQL) of the result. */
  fields: string[];
}

const seconds = (n: number) => `${Math.max(1, Math.round(n))}s`;

/** Grafana's substitution: `$var` / `${var}` from `vars`, then the macros of the target's datasource. */
export function interpolate(query: string, kind: 'promql' | 'sql', vars: Record<string, string>, w: QueryWindow): string {
  let q = query.replace(/\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z][A-Za-z0-9_]*))/g, (m, a?: string, b?: string) => {
    const name = a ?? b!;
    return name in vars ? vars[name]! : m;
  });
  const rangeSeconds = (w.to.getTime() - w.from.getTime()) / 1000;
  if (kind === 'promql') {
    q = q
      .replace(/\$__rate_interval\b/g, seconds(Math.max(w.stepSeconds + w.scrapeIntervalSeconds, 4 * w.scrapeIntervalSeconds)))
      .replace(/\$__interval\b/g, seconds(w.stepSeconds))
      .replace(/\$__range_s\b/g, String(Math.round(rangeSeconds)))
      .replace(/\$__range\b/g, seconds(rangeSeconds));
  } else {
    const iso = (d: Date) => `'${d.toISOString()}'`;
    q = q
      .replace(/\$__timeFilter\(([^)]+)\)/g, (_m, col: string) => `${col.trim()} BETWEEN ${iso(w.from)} AND ${iso(w.to)}`)
      .replace(/\$__timeFrom\(\)/g, iso(w.from))
      .replace(/\$__timeTo\(\)/g, iso(w.to));
  }
  const left = /\$__[A-Za-z_]+/.exec(q);
  if (left) throw new Error(`no substitution for Grafana macro ${left[0]} in: ${query}`);
  const unknown = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/.exec(q);
  if (unknown) throw new Error(`no value for variable ${unknown[0]} in: ${query}`);
  return q;
}

interface PromResponse {
  status: string;
  error?: string;
  data?: { result: { metric: Record<string, string> }[] };
}

/**
 * `headers` are the datasource's own HTTP headers, as Grafana adds them from its settings (a
 * client organisation's datasource sends the portal token as Authorization).
 */
export async function runPromQL(
  prometheusUrl: string,
  t: DashboardTarget,
  vars: Record<string, string>,
  w: QueryWindow,
  headers: Record<string, string> = {},
): Promise<Outcome> {
  const query = interpolate(t.expr!, 'promql', vars, w);
  const params = new URLSearchParams({ query });
  let endpoint = 'query';
  if (t.instant) params.set('time', String(w.to.getTime() / 1000));
  else {
    endpoint = 'query_range';
    params.set('start', String(w.from.getTime() / 1000));
    params.set('end', String(w.to.getTime() / 1000));
    params.set('step', String(w.stepSeconds));
  }
  // Grafana's datasource is provisioned with httpMethod POST: the same form-encoded request.
  const res = await fetch(`${prometheusUrl}/api/v1/${endpoint}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
    body: params,
  });
  const body = (await res.json()) as PromResponse;
  if (body.status !== 'success') return { query, error: body.error ?? `HTTP ${res.status}`, count: 0, fields: [] };
  const result = body.data!.result;
  const labels = new Set(result.flatMap((r) => Object.keys(r.metric)));
  return { query, count: result.length, fields: [...labels, `Value #${t.refId}`] };
}

export async function runSql(client: Client, t: DashboardTarget, vars: Record<string, string>, w: QueryWindow): Promise<Outcome> {
  const query = interpolate(t.rawSql!, 'sql', vars, w);
  try {
    const res = await client.query(query);
    return { query, count: res.rowCount ?? res.rows.length, fields: res.fields.map((f) => f.name) };
  } catch (err) {
    return { query, error: (err as Error).message, count: 0, fields: [] };
  }
}

/**
 * The values of a dashboard's query variables as Grafana's Prometheus datasource lists them:
 * `label_values(metric, label)` is the series endpoint's label values for that metric.
 */
export async function variableValues(prometheusUrl: string, dashboard: Dashboard): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const v of dashboard.templating?.list ?? []) {
    const m = /^label_values\(\s*([^,]+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(String(v.query));
    if (v.type !== 'query' || !m)
      throw new Error(`${dashboard.title}: variable ${v.name} is not a label_values() query this check can resolve`);
    const res = await fetch(`${prometheusUrl}/api/v1/label/${m[2]}/values?${new URLSearchParams({ 'match[]': m[1]! })}`);
    out[v.name] = ((await res.json()) as { data: string[] }).data;
  }
  return out;
}

/** Every combination of variable values (one value each: the dashboards' variables are single-valued). */
export function combinations(values: Record<string, string[]>): Record<string, string>[] {
  let out: Record<string, string>[] = [{}];
  for (const [name, list] of Object.entries(values)) out = out.flatMap((c) => list.map((v) => ({ ...c, [name]: v })));
  return out;
}

/** The value of an instant query that returns exactly one series (undefined otherwise). */
export async function promValue(prometheusUrl: string, expr: string): Promise<number | undefined> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
  const r = body.data.result;
  return r.length === 1 ? Number(r[0]!.value[1]) : undefined;
}

/** Runs a demo workflow through its production webhook in n8n; n8n's answer status. */
export async function runWorkflow(n8nUrl: string, webhookPath: string, body: Record<string, unknown>): Promise<number> {
  const res = await fetch(`${n8nUrl}/webhook/${webhookPath}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}
